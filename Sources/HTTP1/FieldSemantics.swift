/// What the server itself needs from the header fields: framing, connection, Host, Expect.
struct FieldSemantics {
    private(set) var hostCount = 0
    private(set) var connectionClose = false
    private(set) var connectionKeepAlive = false
    private(set) var expectContinue = false
    private var contentLengths = 0
    private var contentLength: Int64 = 0
    private var transferCodings: [[UInt8]] = []
    private var transferEncodingSeen = false

    static let host = Array("host".utf8)
    private static let contentLengthName = Array("content-length".utf8)
    private static let transferEncoding = Array("transfer-encoding".utf8)
    private static let connection = Array("connection".utf8)
    private static let expect = Array("expect".utf8)

    mutating func observe(_ b: UnsafeBufferPointer<UInt8>, _ field: RequestHead.Field) throws {
        let name = b[field.name]
        let value = b[field.value]
        switch name.count {
        case 4 where ASCII.equalsIgnoringCase(name, Self.host):
            hostCount += 1
            // RFC 9112 §3.2: Host is `uri-host [ ":" port ]` (empty only for an empty authority).
            if !value.isEmpty && !RequestTarget.isValidAuthority(UnsafeBufferPointer(rebasing: value)) {
                throw HTTPError.badRequest("invalid Host")
            }
        case 14 where ASCII.equalsIgnoringCase(name, Self.contentLengthName):
            contentLengths += 1
            if contentLengths > 1 { throw HTTPError.badRequest("more than one Content-Length") }
            contentLength = try Self.parseLength(value)
        case 17 where ASCII.equalsIgnoringCase(name, Self.transferEncoding):
            // RFC 9110 §5.6.1.2: empty list elements (`chunked,`, `, chunked`) are ignored.
            transferEncodingSeen = true
            for coding in Self.list(value) where !coding.isEmpty { transferCodings.append(coding) }
        case 10 where ASCII.equalsIgnoringCase(name, Self.connection):
            for option in Self.list(value) {
                if option == Array("close".utf8) { connectionClose = true }
                if option == Array("keep-alive".utf8) { connectionKeepAlive = true }
            }
        case 6 where ASCII.equalsIgnoringCase(name, Self.expect):
            if ASCII.equalsIgnoringCase(value, Array("100-continue".utf8)) { expectContinue = true }
        default:
            break
        }
    }

    /// RFC 9112 §6.3: Transfer-Encoding wins only as a single final `chunked`; anything ambiguous is refused.
    func framing(version: Version) throws -> BodyFraming {
        // A Transfer-Encoding that names no coding at all says nothing a proxy would agree on.
        if transferEncodingSeen && transferCodings.isEmpty { throw HTTPError.badRequest("empty Transfer-Encoding") }
        if !transferCodings.isEmpty {
            if contentLengths > 0 { throw HTTPError.badRequest("both Transfer-Encoding and Content-Length") }
            if version == .http10 { throw HTTPError.badRequest("Transfer-Encoding on HTTP/1.0") }
            let chunked = Array("chunked".utf8)
            let chunkedCount = transferCodings.filter { $0 == chunked }.count
            if transferCodings.last != chunked {
                if chunkedCount > 0 { throw HTTPError.badRequest("chunked is not the final transfer coding") }
                throw HTTPError.notImplemented("unsupported transfer coding")
            }
            if chunkedCount > 1 { throw HTTPError.badRequest("chunked applied more than once") }
            if transferCodings.count > 1 { throw HTTPError.notImplemented("unsupported transfer coding") }
            return .chunked
        }
        return contentLengths > 0 ? .length(contentLength) : .none
    }

    /// 1*DIGIT, no sign, no list, no overflow.
    static func parseLength(_ value: Slice<UnsafeBufferPointer<UInt8>>) throws -> Int64 {
        guard !value.isEmpty, value.count <= 18 else { throw HTTPError.badRequest("invalid Content-Length") }
        var n: Int64 = 0
        for c in value {
            guard c >= 48, c <= 57 else { throw HTTPError.badRequest("invalid Content-Length") }
            n = n * 10 + Int64(c - 48)
        }
        return n
    }

    /// Splits a comma-separated list, trimming whitespace and lower-casing.
    static func list(_ value: Slice<UnsafeBufferPointer<UInt8>>) -> [[UInt8]] {
        value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { part in
            Array(part.drop { $0 == ASCII.space || $0 == ASCII.tab }
                .reversed().drop { $0 == ASCII.space || $0 == ASCII.tab }.reversed().map(ASCII.lower))
        }
    }

    /// Whether a field may travel in trailers, which both the request decoder and the response
    /// encoder ask: not the fields a sender must not put there (RFC 9110 §6.5.1) — framing,
    /// routing, controls, authentication, content metadata.
    static func isAllowedInTrailers(name: UnsafeBufferPointer<UInt8>) -> Bool {
        !forbiddenInTrailers.contains(name.map(ASCII.lower))
    }

    private static let forbiddenInTrailers: Set<[UInt8]> = Set([
        "transfer-encoding", "content-length", "host", "trailer", "te", "connection", "keep-alive", "upgrade",
        "expect", "max-forwards", "cache-control", "authorization", "proxy-authorization", "cookie",
        "set-cookie", "content-type", "content-encoding", "content-range", "range", "if-match",
        "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
    ].map { Array($0.utf8) })
}
