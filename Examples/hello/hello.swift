// The bundled asynchronous example: `arbiter hello:application`.
import AppProtocol
import Glibc

/// The routes; HEAD is answered by the GET routes, unknown paths get 404 and other methods 405.
func makeRouter() -> Router {
    let router = Router()
    router.get("/") { _ in .text("Hello, World!") }
    router.post("/echo") { request in
        let body = try await request.body.collect(upTo: 16 << 20)
        return Response(headers: ["Content-Type": request.headers["Content-Type"] ?? "application/octet-stream"], body: .bytes(body))
    }
    router.get("/sleep") { request in
        // Waits without holding a thread: other requests keep being served.
        // Query values come from the client: validate before use (`inf`, `nan`, `-1`).
        guard let seconds = Double(request.query["seconds"] ?? "1"), seconds.isFinite, (0...3600).contains(seconds) else {
            throw HTTPError(.badRequest, message: "seconds must be a number from 0 to 3600")
        }
        do {
            try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        } catch is CancellationError {
            // The client went away: arbiter cancelled this request's task.
            Runtime.log(.info, "GET /sleep cancelled: the client disconnected")
            throw CancellationError()
        }
        return .text("slept \(seconds)s")
    }
    router.get("/block") { request in
        // Blocks its thread on purpose, to show what arbiter reports about it.
        guard let seconds = Double(request.query["seconds"] ?? "1"), seconds.isFinite, (0...60).contains(seconds) else {
            throw HTTPError(.badRequest, message: "seconds must be a number from 0 to 60")
        }
        usleep(UInt32(seconds * 1e6))
        return .text("blocked \(seconds)s")
    }
    router.get("/stream") { request in
        // `chunks` pieces; with `size`, each is that many bytes (a large stream to a slow reader
        // waits on backpressure instead of piling up in memory).
        guard let count = Int(request.query["chunks"] ?? "5"), (0...1_000_000).contains(count),
              let size = Int(request.query["size"] ?? "0"), (0...(1 << 20)).contains(size)
        else {
            throw HTTPError(.badRequest, message: "chunks must be 0 to 1000000 and size 0 to 1048576")
        }
        return Response(headers: ["Content-Type": "text/plain"], body: .stream { writer in
            let block = [UInt8](repeating: UInt8(ascii: "x"), count: max(0, size))
            for i in 0..<count {
                if size > 0 { try await writer.write(block) } else { try await writer.write("chunk \(i)\n") }
            }
        })
    }
    router.get("/info") { request in .json(Info.json(request)) }
    router.webSocket("/ws") { _, socket in
        // Echoes every message: text as text, binary as binary. `send` waits while the client is
        // slow to read; the loop ends when the client closes (or the worker retires: 1001).
        for try await message in socket {
            try await socket.send(message)
        }
    }
    router.get("/error") { _ in throw Failure(message: "the example failed on purpose") }
    return router
}

struct Failure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

/// `GET /info`: the request as the application sees it.
enum Info {
    static func json(_ request: Request) -> String {
        let headers = request.headers.map { "[\(quote($0.name)), \(quote($0.value))]" }.joined(separator: ", ")
        return """
            {"method": \(quote(request.method)), "path": \(quote(request.path)), "query": \(quote(request.query.raw)), \
            "remote_addr": \(quote(request.remoteAddress)), "scheme": \(quote(request.scheme)), \
            "pid": \(getpid()), "headers": [\(headers)]}
            """
    }

    static func quote(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

@_cdecl("application")
public func application() -> UnsafeRawPointer {
    export(makeRouter())
}
