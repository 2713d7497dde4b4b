/// Incremental UTF-8 validation, resumable at any byte (RFC 3629 §4, Unicode Table 3-7).
///
/// Text messages arrive in fragments and reads that may split a code point anywhere; RFC 6455 §8.1
/// asks the endpoint to fail as soon as the bytes cannot be valid, so the validator keeps only the
/// number of continuation bytes still expected and the range allowed for the next one.
public struct UTF8Validator: Sendable, Hashable {
    /// Continuation bytes still expected for the current code point.
    private var remaining: UInt8 = 0
    /// Inclusive range allowed for the next continuation byte (narrowed after E0, ED, F0, F4).
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    /// A validator at the start of a text.
    public init() {}

    /// True when no code point is left unfinished: the text so far may end here.
    public var isAtBoundary: Bool { remaining == 0 }

    /// Feeds `bytes`; returns false as soon as they cannot continue valid UTF-8.
    /// After a false result the validator's state is unspecified.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if remaining == 0 {
                // Fast path: skip ASCII eight bytes at a time.
                while index + 8 <= count, bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    index += 8
                }
                if index == count { break }
                let byte = bytes[index]
                index += 1
                switch byte {
                case 0x00...0x7F: continue
                case 0xC2...0xDF: remaining = 1; lower = 0x80; upper = 0xBF
                case 0xE0: remaining = 2; lower = 0xA0; upper = 0xBF // no overlong 3-byte forms
                case 0xE1...0xEC, 0xEE...0xEF: remaining = 2; lower = 0x80; upper = 0xBF
                case 0xED: remaining = 2; lower = 0x80; upper = 0x9F // no surrogates
                case 0xF0: remaining = 3; lower = 0x90; upper = 0xBF // no overlong 4-byte forms
                case 0xF1...0xF3: remaining = 3; lower = 0x80; upper = 0xBF
                case 0xF4: remaining = 3; lower = 0x80; upper = 0x8F // nothing above U+10FFFF
                default: return false // 0x80–0xC1 as a lead byte, 0xF5–0xFF
                }
            } else {
                let byte = bytes[index]
                index += 1
                guard byte >= lower && byte <= upper else { return false }
                remaining -= 1
                lower = 0x80
                upper = 0xBF
            }
        }
        return true
    }

    /// Feeds `bytes`; returns false as soon as they cannot continue valid UTF-8.
    public mutating func feed(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Whether `bytes` is complete, valid UTF-8 on its own.
    public static func isValid(_ bytes: [UInt8]) -> Bool {
        var validator = UTF8Validator()
        return validator.feed(bytes) && validator.isAtBoundary
    }
}
