import Glibc

/// Sends a `Response` through an exchange, asynchronously or from a thread that may block.
enum Responder {
    static func prepare(_ response: Response) -> (headers: Headers, length: Int?) {
        var headers = response.headers
        // Framing is the server's: a declared length is passed on as such, never as a field.
        var declared: Int?
        if headers.contains("content-length", or: "transfer-encoding") {
            declared = headers["Content-Length"].flatMap { Int($0) }
            headers.remove("Content-Length")
            headers.remove("Transfer-Encoding")
        }
        switch response.body {
        case .empty: return (headers, 0)
        case .bytes(let bytes): return (headers, bytes.count)
        case .stream(let length, _): return (headers, length ?? declared)
        case .file, .webSocket: return (headers, nil)
        }
    }

    /// Sends the head (sizing a file body first).
    private static func start(_ response: Response, exchange: Exchange) throws -> FileReader? {
        let (headers, declared) = prepare(response)
        var length = declared
        var file: FileReader?
        if case .file(let path) = response.body {
            file = try FileReader(path: path)
            length = file!.size
        }
        try exchange.sendHead(status: response.status.code, headers: headers, contentLength: length)
        return file
    }

    /// A body already in memory goes out with its head in one call, when the server offers it.
    private static func respondWhole(_ response: Response, exchange: Exchange) throws -> Bool {
        let body: [UInt8]
        switch response.body {
        case .empty: body = []
        case .bytes(let bytes): body = bytes
        default: return false
        }
        let (headers, _) = prepare(response)
        return try exchange.respond(status: response.status.code, headers: headers, body: body)
    }

    /// Sends a response whose body is in memory in one call; false when it cannot be sent so (a
    /// stream, a file, a WebSocket, or a server without the call). A failure to send is handled.
    static func respondWhole(_ response: Response, request: Request, exchange: Exchange) -> Bool {
        do {
            return try respondWhole(response, exchange: exchange)
        } catch {
            fail(error, request: request, exchange: exchange) { try exchange.sendBlockingError($0) }
            return true
        }
    }

    nonisolated(nonsending) static func send(_ response: Response, request: Request, exchange: Exchange) async {
        if case .webSocket(let handler) = response.body {
            return await serveWebSocket(handler, response: response, request: request, exchange: exchange)
        }
        if respondWhole(response, request: request, exchange: exchange) { return }
        do {
            let file = try start(response, exchange: exchange)
            var trailers = Headers()
            switch response.body {
            case .empty: break
            case .bytes(let bytes): if !bytes.isEmpty { try await exchange.write(bytes) }
            case .stream(_, let produce):
                let writer = BodyWriter(exchange: exchange)
                try await produce(writer)
                trailers = writer.trailers
            case .file: while let chunk = try file!.next() { try await exchange.write(chunk) }
            case .webSocket: break
            }
            exchange.finish(trailers: trailers)
        } catch {
            fail(error, request: request, exchange: exchange) { try exchange.sendBlockingError($0) }
        }
    }

    static func sendBlocking(_ response: Response, request: Request, exchange: Exchange) {
        if case .webSocket(let handler) = response.body {
            return serveWebSocketBlocking(handler, response: response, request: request, exchange: exchange)
        }
        if respondWhole(response, request: request, exchange: exchange) { return }
        do {
            let file = try start(response, exchange: exchange)
            var trailers = Headers()
            switch response.body {
            case .empty: break
            case .bytes(let bytes): if !bytes.isEmpty { try exchange.writeBlocking(bytes) }
            case .stream(_, let produce):
                let writer = BodyWriter(exchange: exchange)
                try Runtime.blockingWait { try await produce(writer) }
                trailers = writer.trailers
            case .file: while let chunk = try file!.next() { try exchange.writeBlocking(chunk) }
            case .webSocket: break
            }
            exchange.finish(trailers: trailers)
        } catch {
            fail(error, request: request, exchange: exchange) { try exchange.sendBlockingError($0) }
        }
    }

    /// An application error: its own answer for an `HTTPError`, a 500 (or 413 for an oversized body)
    /// for anything else, when nothing was sent yet; otherwise an aborted connection. A client that
    /// went away is not an error worth a log line.
    static func fail(_ error: Error, request: Request, exchange: Exchange, send: (HTTPError) throws -> Void) {
        if let httpError = error as? HTTPError {
            if httpError.status.code >= 500 {
                Runtime.log(.error, "Error handling request \(request.method) \(request.path): \(httpError)")
            }
            if (try? send(httpError)) == nil { exchange.abort() }
            return
        }
        if let exchangeError = error as? ExchangeError {
            switch exchangeError {
            case .disconnected, .badBody:
                exchange.abort()
                return
            case .bodyTooLarge:
                if (try? send(HTTPError(.contentTooLarge))) != nil { return }
                exchange.abort()
                return
            case .invalidState:
                break
            }
        }
        if error is CancellationError {
            exchange.abort()
            return
        }
        Runtime.log(.error, "Error handling request \(request.method) \(request.path): \(error)")
        if (try? send(HTTPError(.internalServerError))) == nil { exchange.abort() }
    }
}

extension Exchange {
    /// A short plain-text error response.
    func sendBlockingError(_ error: HTTPError) throws {
        let response = error.response
        guard case .bytes(let text) = response.body else { return }
        // Whole, when the server offers it: the server then knows the request's body will not be read.
        if try respond(status: response.status.code, headers: Responder.prepare(response).headers, body: text) { return }
        try sendHead(status: response.status.code, headers: response.headers, contentLength: text.count)
        try writeBlocking(text)
        finish(trailers: Headers())
    }
}

/// Reads a file in chunks for `.file` bodies. The descriptor is closed on every path — the end of
/// the file, an error, or a client gone before the end (when the reader is dropped).
final class FileReader {
    private var fd: Int32
    /// The length to announce: only a regular file's size is known in advance (a /proc file says
    /// 0, a device nothing useful: their bodies are sent chunked until their end).
    let size: Int?

    struct OpenError: Error, CustomStringConvertible {
        let path: String
        let reason: String
        var description: String { "cannot open \(path): \(reason)" }
    }

    init(path: String) throws {
        fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw OpenError(path: path, reason: String(cString: strerror(errno))) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw OpenError(path: path, reason: reason)
        }
        switch st.st_mode & S_IFMT {
        case S_IFREG where st.st_size > 0:
            size = Int(st.st_size)
        case S_IFDIR:
            close(fd)
            throw OpenError(path: path, reason: "is a directory")
        default:
            size = nil
        }
    }

    deinit {
        if fd >= 0 { close(fd) }
    }

    func next() throws -> [UInt8]? {
        guard fd >= 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n <= 0 {
            let reason = n < 0 ? String(cString: strerror(errno)) : ""
            close(fd)
            fd = -1
            if n < 0 { throw OpenError(path: "file", reason: reason) }
            return nil
        }
        buffer.removeSubrange(n...)
        return buffer
    }
}
