/// Serialises response heads and chunked framing, appending to a byte buffer without temporaries.
public enum ResponseEncoder {
    /// What a response header field is, for the server's framing decisions.
    public enum FieldKind: Sendable, Equatable {
        case other
        /// `Connection`: the server owns it, but `close` in it is honoured.
        case connection
        /// `Content-Length`, `Transfer-Encoding`: the server owns framing; dropped.
        case framing
        case date
        case server
        /// A name that is not a token, or a value with CR, LF, NUL or other controls (no response splitting).
        case invalid
    }

    public static func classify(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> FieldKind {
        guard !name.isEmpty else { return .invalid }
        for c in name where !ASCII.isToken(c) { return .invalid }
        for c in value where !ASCII.isFieldValueByte(c) { return .invalid }
        switch name.count {
        case 4 where equalsIgnoringCase(name, "date"): return .date
        case 6 where equalsIgnoringCase(name, "server"): return .server
        case 10 where equalsIgnoringCase(name, "connection"): return .connection
        case 14 where equalsIgnoringCase(name, "content-length"): return .framing
        case 17 where equalsIgnoringCase(name, "transfer-encoding"): return .framing
        default: return .other
        }
    }

    /// Whether an application-provided header may be sent as is (a token name, a clean value, and
    /// not a framing field the server owns).
    public static func isAcceptableResponseHeader(name: [UInt8], value: [UInt8]) -> Bool {
        name.withUnsafeBufferPointer { n in
            value.withUnsafeBufferPointer { v in
                let kind = classify(name: n, value: v)
                return kind != .invalid && kind != .framing
            }
        }
    }

    static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowered: StaticString) -> Bool {
        guard bytes.count == lowered.utf8CodeUnitCount else { return false }
        let other = lowered.utf8Start
        for i in 0..<bytes.count where ASCII.lower(bytes[i]) != other[i] { return false }
        return true
    }

    /// `HTTP/1.1 200 OK\r\n`. Always 1.1, the highest version the server conforms to, also for
    /// HTTP/1.0 clients (RFC 9110 §2.5); `version` decides the connection semantics elsewhere.
    public static func appendStatusLine(_ out: inout [UInt8], status: Int, version: Version) {
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        appendDecimal(&out, Int64(status))
        out.append(ASCII.space)
        out.append(contentsOf: HTTPStatus.reasonPhrase(status).utf8)
        out.append(contentsOf: crlf)
    }

    public static func appendField(_ out: inout [UInt8], name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        out.append(contentsOf: name)
        out.append(contentsOf: colonSpace)
        out.append(contentsOf: value)
        out.append(contentsOf: crlf)
    }

    public static func appendField(_ out: inout [UInt8], _ name: StaticString, _ value: Int64) {
        out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        out.append(contentsOf: colonSpace)
        appendDecimal(&out, value)
        out.append(contentsOf: crlf)
    }

    /// The framing and connection fields the server adds, then the blank line.
    public static func appendFraming(_ out: inout [UInt8], contentLength: Int64?, chunked: Bool, keepAlive: Bool, version: Version) {
        if let contentLength {
            appendField(&out, "Content-Length", contentLength)
        } else if chunked {
            out.append(contentsOf: "Transfer-Encoding: chunked\r\n".utf8)
        }
        if !keepAlive {
            out.append(contentsOf: "Connection: close\r\n".utf8)
        } else if version == .http10 {
            out.append(contentsOf: "Connection: keep-alive\r\n".utf8)
        }
        out.append(contentsOf: crlf)
    }

    public static func appendDecimal(_ out: inout [UInt8], _ value: Int64) {
        if value < 0 {
            out.append(UInt8(ascii: "-"))
            appendDecimal(&out, -value)
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - count] = UInt8(48 + n % 10)
                n /= 10
                count += 1
            } while n > 0
            out.append(contentsOf: raw[(20 - count)...])
        }
    }

    static let crlf: [UInt8] = [ASCII.cr, ASCII.lf]
    static let colonSpace: [UInt8] = [ASCII.colon, ASCII.space]

    /// A whole head from owned fields (error responses, tests). `date` is the Date value.
    public static func head(
        status: Int, version: Version, headers: [(name: [UInt8], value: [UInt8])], contentLength: Int64?,
        chunked: Bool, keepAlive: Bool, date: String, server: String?
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + headers.count * 40)
        appendStatusLine(&out, status: status, version: version)
        var hasDate = false
        var hasServer = false
        for (name, value) in headers {
            name.withUnsafeBufferPointer { n in
                value.withUnsafeBufferPointer { v in
                    switch classify(name: n, value: v) {
                    case .date: hasDate = true
                    case .server: hasServer = true
                    default: break
                    }
                    appendField(&out, name: n, value: v)
                }
            }
        }
        if !hasServer, let server { out.append(contentsOf: "Server: \(server)\r\n".utf8) }
        if !hasDate { out.append(contentsOf: "Date: \(date)\r\n".utf8) }
        appendFraming(&out, contentLength: contentLength, chunked: chunked, keepAlive: keepAlive, version: version)
        return out
    }

    /// The line that precedes a chunk of `size` bytes.
    public static func chunkHeader(size: Int) -> [UInt8] {
        Array(String(size, radix: 16).utf8) + crlf
    }

    public static let chunkTrailer: [UInt8] = [ASCII.cr, ASCII.lf]

    /// The last chunk, optional trailer fields and the final CRLF.
    public static func lastChunk(trailers: [(name: [UInt8], value: [UInt8])] = []) -> [UInt8] {
        var out = Array("0\r\n".utf8)
        for (name, value) in trailers {
            out.append(contentsOf: name)
            out.append(contentsOf: colonSpace)
            out.append(contentsOf: value)
            out.append(contentsOf: crlf)
        }
        out.append(contentsOf: crlf)
        return out
    }

    /// A complete short response for errors the server answers itself; always closes the connection.
    /// The body is the reason phrase, and `explanation` after it when the client should learn more.
    public static func errorResponse(_ error: HTTPError, date: String, server: String?, explanation: String? = nil) -> [UInt8] {
        let body = Array("\(HTTPStatus.reasonPhrase(error.status))\(explanation.map { ": " + $0 } ?? "")\n".utf8)
        var out = head(
            status: error.status, version: .http11,
            headers: [(Array("Content-Type".utf8), Array("text/plain; charset=utf-8".utf8))],
            contentLength: Int64(body.count), chunked: false, keepAlive: false, date: date, server: server)
        out.append(contentsOf: body)
        return out
    }
}
