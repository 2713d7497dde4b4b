import Glibc
import Platform

/// A parsed HTTP response.
public struct HTTPResponse: Sendable {
    public let status: Int
    public let headers: [(String, String)]
    public let body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public var text: String { String(decoding: body, as: UTF8.self) }

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
}

/// A minimal blocking HTTP/1.1 client over one loopback connection, with timeouts on every read.
public final class HTTPConnection {
    public let fd: Int32
    private var buffer: [UInt8] = []

    /// Connects to a unix socket.
    public init(unixPath: String, timeout: Double = 30) throws {
        fd = try syscall("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(unixPath.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        do {
            _ = try withUnsafePointer(to: &addr) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    try syscall("connect") { connect(fd, sa, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
        } catch {
            Descriptor.close(fd)
            throw error
        }
    }

    public init(port: UInt16, timeout: Double = 30) throws {
        fd = try syscall("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = port.bigEndian
        do {
            _ = try withUnsafePointer(to: &addr) { p in
                try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    try syscall("connect") { connect(fd, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        } catch {
            Descriptor.close(fd)
            throw error
        }
    }

    private var closed = false

    deinit { close() }

    /// Hangs up.
    public func close() {
        guard !closed else { return }
        closed = true
        Descriptor.close(fd)
    }

    public func send(_ raw: String) throws {
        try send(Array(raw.utf8))
    }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { throw SystemError("send") }
            offset += n
        }
    }

    /// Sends a simple request and reads its response.
    public func request(_ method: String = "GET", _ target: String, headers: [String] = [], body: String? = nil) throws -> HTTPResponse {
        var raw = "\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for header in headers { raw += header + "\r\n" }
        if let body { raw += "Content-Length: \(body.utf8.count)\r\n" }
        raw += "\r\n" + (body ?? "")
        try send(raw)
        return try readResponse(method: method)
    }

    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65_536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n < 0 { throw SystemError("recv") }
        if n == 0 { return false }
        buffer.append(contentsOf: chunk[0..<n])
        return true
    }

    /// Reads one response (skipping 100 Continue), or throws if the connection closes first.
    public func readResponse(method: String = "GET") throws -> HTTPResponse {
        while true {
            let response = try readOne(method: method)
            if response.status != 100 { return response }
        }
    }

    private func readLine() throws -> String {
        while true {
            if let i = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<i])
                buffer.removeSubrange(...i)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard try fill() else { throw TestFailure("connection closed before a complete line; got \(String(decoding: buffer, as: UTF8.self))") }
        }
    }

    private func readBytes(_ count: Int) throws -> [UInt8] {
        while buffer.count < count {
            guard try fill() else { throw TestFailure("connection closed in a body") }
        }
        let out = Array(buffer[..<count])
        buffer.removeSubrange(..<count)
        return out
    }

    private func readOne(method: String) throws -> HTTPResponse {
        let statusLine = try readLine()
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestFailure("bad status line '\(statusLine)'") }
        var headers: [(String, String)] = []
        while true {
            let line = try readLine()
            if line.isEmpty { break }
            if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters()))
            }
        }
        let response = HTTPResponse(status: status, headers: headers, body: [])
        if method == "HEAD" || status == 100 || status == 204 || status == 304 { return response }
        var body: [UInt8] = []
        if let length = response.header("content-length").flatMap(Int.init) {
            body = try readBytes(length)
        } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                let sizeLine = try readLine()
                guard let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { throw TestFailure("bad chunk size '\(sizeLine)'") }
                if size == 0 {
                    while try !readLine().isEmpty {}
                    break
                }
                body += try readBytes(size)
                _ = try readLine()
            }
        } else {
            while try fill() {}
            body = buffer
            buffer.removeAll()
        }
        return HTTPResponse(status: status, headers: headers, body: body)
    }

    /// Reads until the server closes; true if it closed (EOF) rather than timing out.
    public func readUntilClosed() -> (closed: Bool, data: [UInt8]) {
        do {
            while try fill() {}
            return (true, buffer)
        } catch {
            return (false, buffer)
        }
    }
}

extension String {
    func trimmingCharacters() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}

/// One request on a fresh connection.
public func httpGet(port: UInt16, _ target: String, timeout: Double = 30) throws -> HTTPResponse {
    try HTTPConnection(port: port, timeout: timeout).request("GET", target)
}
