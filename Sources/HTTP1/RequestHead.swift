/// An HTTP version; only 1.0 and 1.1 are served.
public struct Version: Sendable, Equatable, CustomStringConvertible {
    public let major: UInt8
    public let minor: UInt8
    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }
    public static let http10 = Version(major: 1, minor: 0)
    public static let http11 = Version(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A request method; the few the server treats specially have constants.
public struct Method: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public static let get = Method("GET")
    public static let head = Method("HEAD")
    public static let post = Method("POST")
    public static let options = Method("OPTIONS")
    public static let connect = Method("CONNECT")
    public var description: String { name }
}

/// How the request body is delimited (RFC 9112 §6.3).
public enum BodyFraming: Sendable, Equatable {
    case none
    case length(Int64)
    case chunked
}

/// A parsed request head: one contiguous copy of its bytes plus offsets, decoded on demand.
///
/// Immutable, and a class: a head passes through the machine, the connection, the exchange and the
/// access log, and a reference is one retain where a value would copy itself and retain its arrays.
public final class RequestHead: Sendable {
    /// Offsets into `bytes`, kept in 32 bits (a head is bounded by `Limits`, far below 4 GiB): a
    /// request holds one per field for its lifetime.
    public struct Field: Sendable, Equatable {
        private let nameStart, nameEnd, valueStart, valueEnd: UInt32
        public var name: Range<Int> { Int(nameStart)..<Int(nameEnd) }
        public var value: Range<Int> { Int(valueStart)..<Int(valueEnd) }

        public init(name: Range<Int>, value: Range<Int>) {
            nameStart = UInt32(name.lowerBound)
            nameEnd = UInt32(name.upperBound)
            valueStart = UInt32(value.lowerBound)
            valueEnd = UInt32(value.upperBound)
        }
    }

    // Offsets in 32 bits and the small fields last: a request holds its head for its lifetime.
    public let bytes: [UInt8]
    public let fields: [Field]
    private let methodStart, methodEnd, targetStart, targetEnd: UInt32
    public let framing: BodyFraming
    public let version: Version
    /// Whether the connection may serve another request after this one (before the response says otherwise).
    public let keepAlive: Bool
    /// `Expect: 100-continue` on HTTP/1.1.
    public let expectsContinue: Bool

    public var methodRange: Range<Int> { Int(methodStart)..<Int(methodEnd) }
    public var targetRange: Range<Int> { Int(targetStart)..<Int(targetEnd) }

    public init(bytes: [UInt8], methodRange: Range<Int>, targetRange: Range<Int>, version: Version, fields: [Field],
                framing: BodyFraming, keepAlive: Bool, expectsContinue: Bool) {
        self.bytes = bytes
        methodStart = UInt32(methodRange.lowerBound)
        methodEnd = UInt32(methodRange.upperBound)
        targetStart = UInt32(targetRange.lowerBound)
        targetEnd = UInt32(targetRange.upperBound)
        self.version = version
        self.fields = fields
        self.framing = framing
        self.keepAlive = keepAlive
        self.expectsContinue = expectsContinue
    }

    public var method: Method { Method(string(methodRange)) }
    public var target: String { string(targetRange) }

    /// Whether the method is `name` (methods are case-sensitive, RFC 9110 §9.1), without making a string.
    public func isMethod(_ name: StaticString) -> Bool {
        guard methodRange.count == name.utf8CodeUnitCount else { return false }
        let other = name.utf8Start
        for (i, c) in bytes[methodRange].enumerated() where c != other[i] { return false }
        return true
    }

    public func string(_ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    /// The first value of a field, by case-insensitive name.
    public func field(_ name: String) -> String? {
        let lower = name.utf8.map(ASCII.lower)
        for field in fields where ASCII.equalsIgnoringCase(bytes[field.name], lower) {
            return string(field.value)
        }
        return nil
    }

    /// The head as name/value strings, in order.
    public var headers: [(String, String)] {
        fields.map { (string($0.name), string($0.value)) }
    }

    public var hasBody: Bool {
        switch framing {
        case .none: false
        case .length(let n): n > 0
        case .chunked: true
        }
    }
}

enum ASCII {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let space: UInt8 = 32
    static let tab: UInt8 = 9
    static let colon: UInt8 = 58

    /// tchar (RFC 9110 §5.6.2) as a set of 128 bits: DIGIT, ALPHA and !#$%&'*+-.^_`|~.
    static let tokenLow: UInt64 = 0x03FF_6CFA_0000_0000
    static let tokenHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    @inline(__always) static func isToken(_ c: UInt8) -> Bool {
        c < 64 ? (tokenLow >> UInt64(c)) & 1 != 0 : c < 128 && (tokenHigh >> UInt64(c - 64)) & 1 != 0
    }
    /// field-vchar or SP/HTAB; obs-text (0x80–0xFF) is allowed, CTLs and DEL are not.
    @inline(__always) static func isFieldValueByte(_ c: UInt8) -> Bool {
        c == tab || (c >= 0x20 && c != 0x7F)
    }
    @inline(__always) static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
    }
    @inline(__always) static func lower(_ c: UInt8) -> UInt8 {
        (c >= 65 && c <= 90) ? c | 0x20 : c
    }

    static func equalsIgnoringCase<C: Collection>(_ a: C, _ lowered: [UInt8]) -> Bool where C.Element == UInt8 {
        guard a.count == lowered.count else { return false }
        var i = 0
        for c in a {
            if lower(c) != lowered[i] { return false }
            i += 1
        }
        return true
    }
}
