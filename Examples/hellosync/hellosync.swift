// The bundled synchronous example: `arbiter hellosync:application -k sync --threads 8`.
import AppProtocol
import Glibc

struct HelloSync: Application {
    func respond(to request: Request) throws -> Response {
        // HEAD is answered like GET; the server sends the head without the body.
        let method = request.method == "HEAD" ? "GET" : request.method
        switch (method, request.path) {
        case ("GET", "/"):
            return .text("Hello, World!")
        case ("POST", "/echo"):
            let body = try request.body.read(upTo: 16 << 20)
            return Response(headers: ["Content-Type": request.headers["Content-Type"] ?? "application/octet-stream"], body: .bytes(body))
        case ("GET", "/sleep"):
            // A synchronous application holds its request thread while it sleeps.
            // Query values come from the client: validate before use (`inf`, `nan`, `-1`).
            guard let seconds = Double(request.query["seconds"] ?? "1"), seconds.isFinite, (0...60).contains(seconds) else {
                return .text("seconds must be a number from 0 to 60\n", status: 400)
            }
            usleep(UInt32(seconds * 1e6))
            return .text("slept \(seconds)s")
        case ("GET", "/stream"):
            guard let count = Int(request.query["chunks"] ?? "5"), (0...10_000).contains(count) else {
                return .text("chunks must be a whole number from 0 to 10000\n", status: 400)
            }
            return Response(headers: ["Content-Type": "text/plain"], body: .stream { writer in
                for i in 0..<count {
                    try await writer.write("chunk \(i)\n")
                }
            })
        case ("GET", "/ws"):
            // A synchronous WebSocket holds its request thread while it is open (see `--threads`).
            return .webSocket(synchronous: { socket in
                while let message = try socket.receive() {
                    try socket.send(message)
                }
            })
        case ("GET", "/info"):
            let headers = request.headers.map { "[\(quote($0.name)), \(quote($0.value))]" }.joined(separator: ", ")
            return .json("""
                {"method": \(quote(request.method)), "path": \(quote(request.path)), "query": \(quote(request.query.raw)), \
                "remote_addr": \(quote(request.remoteAddress)), "scheme": \(quote(request.scheme)), \
                "pid": \(getpid()), "headers": [\(headers)]}
                """)
        case ("GET", "/error"):
            throw Failure(message: "the example failed on purpose")
        default:
            return .text("Not Found\n", status: 404)
        }
    }

    private func quote(_ s: String) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: if c.value < 0x20 { out += " " } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }
}

struct Failure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

@_cdecl("application")
public func application() -> UnsafeRawPointer {
    export(HelloSync())
}
