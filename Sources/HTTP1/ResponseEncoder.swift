/// Serialises response heads and chunked framing.
public enum ResponseEncoder {
    /// Builds a status line and header block. `headers` are the application's (already validated);
    /// the framing headers are the server's: Content-Length when `contentLength` is known, otherwise
    /// `Transfer-Encoding: chunked` on HTTP/1.1 (HTTP/1.0 delimits by closing).
    public static func head(
        status: Int, version: Version, headers: [(name: [UInt8], value: [UInt8])], contentLength: Int64?,
        chunked: Bool, keepAlive: Bool, date: String, server: String?
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + headers.count * 40)
        out.append(contentsOf: version == .http10 ? "HTTP/1.0 ".utf8 : "HTTP/1.1 ".utf8)
        out.append(contentsOf: String(status).utf8)
        out.append(ASCII.space)
        out.append(contentsOf: HTTPStatus.reasonPhrase(status).utf8)
        out.append(contentsOf: "\r\n".utf8)
        var hasDate = false
        var hasServer = false
        for (name, value) in headers {
            if ASCII.equalsIgnoringCase(name, dateName) { hasDate = true }
            if ASCII.equalsIgnoringCase(name, serverName) { hasServer = true }
            out.append(contentsOf: name)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value)
            out.append(contentsOf: "\r\n".utf8)
        }
        if !hasServer, let server { append(&out, "Server", server) }
        if !hasDate { append(&out, "Date", date) }
        if let contentLength {
            append(&out, "Content-Length", String(contentLength))
        } else if chunked {
            append(&out, "Transfer-Encoding", "chunked")
        }
        if !keepAlive {
            append(&out, "Connection", "close")
        } else if version == .http10 {
            append(&out, "Connection", "keep-alive")
        }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    private static let dateName = Array("date".utf8)
    private static let serverName = Array("server".utf8)

    private static func append(_ out: inout [UInt8], _ name: String, _ value: String) {
        out.append(contentsOf: name.utf8)
        out.append(contentsOf: ": ".utf8)
        out.append(contentsOf: value.utf8)
        out.append(contentsOf: "\r\n".utf8)
    }

    /// The line that precedes a chunk of `size` bytes.
    public static func chunkHeader(size: Int) -> [UInt8] {
        Array(String(size, radix: 16).utf8) + [ASCII.cr, ASCII.lf]
    }

    public static let chunkTrailer: [UInt8] = [ASCII.cr, ASCII.lf]

    /// The last chunk, optional trailer fields and the final CRLF.
    public static func lastChunk(trailers: [(name: [UInt8], value: [UInt8])] = []) -> [UInt8] {
        var out = Array("0\r\n".utf8)
        for (name, value) in trailers {
            out.append(contentsOf: name)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value)
            out.append(contentsOf: "\r\n".utf8)
        }
        out.append(contentsOf: "\r\n".utf8)
        return out
    }

    /// Whether an application-provided header may be sent as is: a token name, a value without CR,
    /// LF or NUL (no response splitting), and not a framing field the server owns.
    public static func isAcceptableResponseHeader(name: some Collection<UInt8>, value: some Collection<UInt8>) -> Bool {
        guard !name.isEmpty, name.allSatisfy(ASCII.isToken), value.allSatisfy(ASCII.isFieldValueByte) else {
            return false
        }
        let lowered = name.map(ASCII.lower)
        return lowered != Array("content-length".utf8) && lowered != Array("transfer-encoding".utf8)
    }

    /// A complete short response for errors the server answers itself; always closes the connection.
    public static func errorResponse(_ error: HTTPError, date: String, server: String?) -> [UInt8] {
        let body = Array("\(HTTPStatus.reasonPhrase(error.status))\n".utf8)
        var out = head(
            status: error.status, version: .http11,
            headers: [(Array("Content-Type".utf8), Array("text/plain; charset=utf-8".utf8))],
            contentLength: Int64(body.count), chunked: false, keepAlive: false, date: date, server: server)
        out.append(contentsOf: body)
        return out
    }
}
