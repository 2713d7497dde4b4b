/// Serialises response heads and chunked framing.
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
        if !ASCII.isFieldValue(value) { return .invalid }
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

    /// Whether `bytes` spell `lowered` (a lowercase literal) in any case: a field name the server
    /// looks for.
    public static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ lowered: StaticString) -> Bool {
        guard bytes.count == lowered.utf8CodeUnitCount else { return false }
        let other = lowered.utf8Start
        for i in 0..<bytes.count where ASCII.lower(bytes[i]) != other[i] { return false }
        return true
    }

    /// Appends a head of at most `capacity` bytes to `output`: `body` writes each piece with one
    /// copy into scratch memory (on the stack when small), which is then appended whole, without
    /// the growth and uniqueness checks of appending to an array piece by piece.
    static func append(to output: inout [UInt8], capacity: Int, _ body: (inout HeadWriter) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var writer = HeadWriter(buffer)
            body(&writer)
            output.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<writer.count]))
        }
    }

    /// Room for what a head holds besides the application's fields and the `Server` value: the
    /// status line with the longest reason phrase, `Date`, `Content-Length` with 19 digits or
    /// `Transfer-Encoding`, `Connection` and the blank line.
    static let fixedRoom = 200

    /// A whole head from owned fields (error responses, tests). `date` is the Date value.
    public static func head(
        status: Int, version: Version, headers: [(name: [UInt8], value: [UInt8])], contentLength: Int64?,
        chunked: Bool, keepAlive: Bool, date: String, server: String?
    ) -> [UInt8] {
        var hasDate = false
        var hasServer = false
        var size = fixedRoom + date.utf8.count + (server?.utf8.count ?? 0)
        for (name, value) in headers {
            size += name.count + value.count + 4
            name.withUnsafeBufferPointer { n in
                value.withUnsafeBufferPointer { v in
                    switch classify(name: n, value: v) {
                    case .date: hasDate = true
                    case .server: hasServer = true
                    default: break
                    }
                }
            }
        }
        var head: [UInt8] = []
        append(to: &head, capacity: size) { out in
            out.statusLine(status)
            for (name, value) in headers {
                name.withUnsafeBufferPointer { n in value.withUnsafeBufferPointer { v in out.field(name: n, value: v) } }
            }
            if !hasServer, let server { out.field("Server", server) }
            if !hasDate { out.field("Date", date) }
            out.framing(contentLength: contentLength, chunked: chunked, keepAlive: keepAlive, version: version)
        }
        return head
    }

    static let crlf: [UInt8] = [ASCII.cr, ASCII.lf]
    static let colonSpace: [UInt8] = [ASCII.colon, ASCII.space]

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

/// Writes a response head into memory sized in advance (`ResponseEncoder.append(to:capacity:_:)`). Every write
/// checks the room left: a head that would not fit is a broken size estimate, not a buffer overrun.
struct HeadWriter: ~Copyable {
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private(set) var count = 0

    init(_ buffer: UnsafeMutableBufferPointer<UInt8>) { self.buffer = buffer }

    @inline(__always)
    mutating func write(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        precondition(bytes.count <= buffer.count - count, "HeadWriter: the head outgrew its estimated size")
        UnsafeMutableRawPointer(buffer.baseAddress! + count).copyMemory(from: source, byteCount: bytes.count)
        count += bytes.count
    }

    @inline(__always)
    mutating func write(_ bytes: UnsafeBufferPointer<UInt8>) { write(UnsafeRawBufferPointer(bytes)) }

    @inline(__always)
    mutating func write(_ text: StaticString) {
        write(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    @inline(__always)
    mutating func write(_ bytes: [UInt8]) { bytes.withUnsafeBytes { write($0) } }

    mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { write($0) }
    }

    mutating func write(_ byte: UInt8) {
        precondition(count < buffer.count, "HeadWriter: the head outgrew its estimated size")
        buffer[count] = byte
        count += 1
    }

    mutating func writeDecimal(_ value: Int64) {
        if value < 0 { write(UInt8(ascii: "-")) }
        var n = value.magnitude
        var digits = 1
        var scale: UInt64 = 1
        while n / scale >= 10 {
            scale *= 10
            digits += 1
        }
        precondition(digits <= buffer.count - count, "HeadWriter: the head outgrew its estimated size")
        for _ in 0..<digits {
            buffer[count] = UInt8(truncatingIfNeeded: 48 + n / scale)
            n %= scale
            scale /= 10
            count += 1
        }
    }

    /// `HTTP/1.1 200 OK\r\n` (`HTTPStatus.statusLineText`), from the lines made once when it can.
    mutating func statusLine(_ status: Int) {
        if let line = HTTPStatus.statusLine(status) { return write(line) }
        write(HTTPStatus.statusLineText(status))
    }

    mutating func field(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        write(name)
        write(": ")
        write(value)
        write("\r\n")
    }

    mutating func field(_ name: StaticString, _ value: String) {
        write(name)
        write(": ")
        write(value)
        write("\r\n")
    }

    mutating func field(_ name: StaticString, _ value: Int64) {
        write(name)
        write(": ")
        writeDecimal(value)
        write("\r\n")
    }

    /// The framing and connection fields the server adds, then the blank line.
    /// The framing fields and the end of the head. `upgrade`: the response offers an `Upgrade`
    /// (a 426, say), which the Connection field must name too (RFC 9110 §7.8).
    mutating func framing(contentLength: Int64?, chunked: Bool, keepAlive: Bool, version: Version, upgrade: Bool = false) {
        if let contentLength {
            field("Content-Length", contentLength)
        } else if chunked {
            write("Transfer-Encoding: chunked\r\n")
        }
        if !keepAlive {
            write(upgrade ? "Connection: close, upgrade\r\n" : "Connection: close\r\n")
        } else if version == .http10 {
            write(upgrade ? "Connection: keep-alive, upgrade\r\n" : "Connection: keep-alive\r\n")
        } else if upgrade {
            write("Connection: upgrade\r\n")
        }
        write("\r\n")
    }
}
