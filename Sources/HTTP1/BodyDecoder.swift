/// Decodes a request body framed by Content-Length or chunked coding (RFC 9112 §6–§7), in place.
///
/// Each call consumes control bytes and returns at most one contiguous range of body data inside the
/// input, so the caller can hand the data on without copying. After an error the connection must be
/// closed: nothing after a framing error is ever parsed as a request.
public struct BodyDecoder: Sendable {
    public struct Step: Sendable, Equatable {
        /// Input bytes consumed (control bytes plus `data`).
        public var consumed: Int
        /// Body bytes within the input, if any.
        public var data: Range<Int>?
    }

    enum State: Sendable, Equatable {
        case length(remaining: Int64)
        case chunkSize
        case chunkData(remaining: Int64)
        case chunkDataEnd
        case trailers(count: Int)
        case done
    }

    // Widest first, the enum last: every request and every connection discarding a body holds one.
    private let limit: Int64
    public private(set) var received: Int64 = 0
    private let maxTrailers: Int32
    private let maxLine: Int32
    /// Bytes of chunk extensions (and the whitespace before them) so far: they are not body data,
    /// so the body limit does not count them; `maxExtensionBytes` does (RFC 9112 §7.1.1).
    private var extensionBytes: Int32 = 0
    private var state: State

    /// Chunk extensions in all, per body. Without a bound, a client could send any amount of bytes
    /// under a body limit (or past the limit on discarding an unread body) as extensions of
    /// one-byte chunks; no common extension comes near this.
    public static let maxExtensionBytes = 16_384

    /// - Parameters:
    ///   - limit: maximum body bytes, 0 for none.
    public init(framing: BodyFraming, limit: Int64 = 0, maxTrailers: Int = 100, maxLine: Int = 8190) {
        switch framing {
        case .none: state = .done
        case .length(let n): state = n == 0 ? .done : .length(remaining: n)
        case .chunked: state = .chunkSize
        }
        self.limit = limit
        self.maxTrailers = Int32(clamping: maxTrailers)
        self.maxLine = Int32(clamping: maxLine)
    }

    public var isComplete: Bool { state == .done }

    /// The bytes of a body of declared length not received yet (nil for a chunked body, whose
    /// length is not known before its end).
    public var remainingDeclared: Int64? {
        switch state {
        case .length(let remaining): remaining
        case .done: 0
        default: nil
        }
    }

    public mutating func decode(_ input: [UInt8], maxData: Int = .max) throws(HTTPError) -> Step {
        try input.withUnsafeBufferPointer { (b) throws(HTTPError) -> Step in try decode(b, maxData: maxData) }
    }

    /// Decodes from the start of `input`. `consumed == 0` with no data means more input is needed.
    /// At most `maxData` body bytes are returned; the rest stay in the input for the next call.
    public mutating func decode(_ b: UnsafeBufferPointer<UInt8>, maxData: Int = .max) throws(HTTPError) -> Step {
        var i = 0
        while i < b.count || state == .done {
            switch state {
            case .done:
                return Step(consumed: i, data: nil)
            case .length(let remaining):
                let n = Int(min(Int64(min(b.count - i, maxData)), remaining))
                try count(Int64(n))
                state = remaining == Int64(n) ? .done : .length(remaining: remaining - Int64(n))
                return Step(consumed: i + n, data: i..<i + n)
            case .chunkSize:
                guard let end = try findCRLF(b, from: i, within: 1024) else { return Step(consumed: i, data: nil) }
                let (size, extensionStart) = try Self.parseChunkSize(b, i..<end)
                extensionBytes += Int32(end - extensionStart)  // a line is at most 1024 bytes
                if extensionBytes > Self.maxExtensionBytes {
                    throw .badRequest("chunk extensions longer than \(Self.maxExtensionBytes) bytes in all")
                }
                i = end + 2
                state = size == 0 ? .trailers(count: 0) : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let n = Int(min(Int64(min(b.count - i, maxData)), remaining))
                try count(Int64(n))
                state = remaining == Int64(n) ? .chunkDataEnd : .chunkData(remaining: remaining - Int64(n))
                return Step(consumed: i + n, data: i..<i + n)
            case .chunkDataEnd:
                guard b.count - i >= 2 else { return Step(consumed: i, data: nil) }
                guard b[i] == ASCII.cr, b[i + 1] == ASCII.lf else {
                    throw .badRequest("chunk data not followed by CRLF")
                }
                i += 2
                state = .chunkSize
            case .trailers(let seen):
                guard let end = try findCRLF(b, from: i, within: Int(maxLine)) else { return Step(consumed: i, data: nil) }
                if end == i {
                    i += 2
                    state = .done
                    continue
                }
                if seen >= maxTrailers { throw .fieldsTooLarge("too many trailer fields") }
                let field: RequestHead.Field
                do { field = try HeadParser.parseField(b, i..<end) } catch { throw error as! HTTPError }
                if !FieldSemantics.isAllowedInTrailers(name: UnsafeBufferPointer(rebasing: b[field.name])) {
                    throw .badRequest("forbidden trailer field")
                }
                i = end + 2
                state = .trailers(count: seen + 1)
            }
        }
        return Step(consumed: i, data: nil)
    }

    private mutating func count(_ n: Int64) throws(HTTPError) {
        received += n
        if limit > 0 && received > limit {
            throw .contentTooLarge("request body larger than \(limit) bytes")
        }
    }

    /// Index of the next CRLF at or after `from`; throws when none is within `within` bytes.
    private func findCRLF(_ b: UnsafeBufferPointer<UInt8>, from: Int, within: Int) throws(HTTPError) -> Int? {
        var j = from
        while j + 1 < b.count {
            if b[j] == ASCII.cr {
                if b[j + 1] == ASCII.lf { return j }
                throw .badRequest("bare CR in chunked framing")
            }
            if b[j] == ASCII.lf { throw .badRequest("bare LF in chunked framing") }
            j += 1
            if j - from > within { throw .badRequest("chunk line too long") }
        }
        if b.count - from > within { throw .badRequest("chunk line too long") }
        return nil
    }

    /// chunk-size [ chunk-ext ]: 1*HEXDIG, at most 15 digits (no overflow), extensions ignored but
    /// checked. Returns the size and where the digits end (what follows is extension).
    static func parseChunkSize(_ b: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) throws(HTTPError) -> (Int64, Int) {
        var i = line.lowerBound
        var size: Int64 = 0
        var digits = 0
        while i < line.upperBound, let v = hexValue(b[i]) {
            size = size << 4 | Int64(v)
            digits += 1
            i += 1
            if digits > 15 { throw .badRequest("chunk size too large") }
        }
        if digits == 0 { throw .badRequest("invalid chunk size") }
        // BWS is allowed only before the ';' of an extension (RFC 9112 §7.1.1).
        let afterDigits = i
        while i < line.upperBound, b[i] == ASCII.space || b[i] == ASCII.tab { i += 1 }
        if i == line.upperBound && i != afterDigits { throw .badRequest("whitespace after chunk size") }
        if i < line.upperBound {
            guard b[i] == UInt8(ascii: ";") else { throw .badRequest("invalid chunk size") }
            guard ASCII.isFieldValue(UnsafeBufferPointer(rebasing: b[i..<line.upperBound])) else {
                throw .badRequest("invalid chunk extension")
            }
        }
        return (size, afterDigits)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 65...70: c - 55
        case 97...102: c - 87
        default: nil
        }
    }
}
