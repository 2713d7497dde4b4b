import AppLoader

/// The boot warning of an `async` worker that adapts synchronous code: which parts, the limit on
/// requests through them that results, and how to make each one asynchronous.
struct SynchronousCodeNotice {
    let text: String

    /// Nil when the application is asynchronous through and through.
    init?(app: LoadedApp, poolSize: Int) {
        self.init(name: app.name, blocking: app.isBlocking, parts: app.synchronousParts, poolSize: poolSize)
    }

    init?(name: String, blocking: Bool, parts: [String], poolSize: Int) {
        let pool = "\(poolSize) thread(s) of the pool for adapted code (--offload-threads)"
        if blocking {
            let detail = parts.count > 1 ? " (synchronous parts: \(parts.joined(separator: ", ")))" : ""
            text = "Synchronous application \(name) in an async worker\(detail): each request holds one of the "
                + "\(pool) for the whole request, so this worker serves at most \(poolSize) request(s) at a time "
                + "(an open WebSocket holds its thread for as long as it is open). "
                + "To lift the limit: \(Self.advice(for: parts.isEmpty ? ["application \(name)"] : parts)); "
                + "or serve it with -k sync --threads N, or raise --offload-threads"
        } else if !parts.isEmpty {
            text = "Synchronous code adapted in \(name): \(parts.joined(separator: ", ")). Each request through it "
                + "holds one of the \(pool) while it and everything inside it run, so at most \(poolSize) such "
                + "request(s) run at a time. To keep requests off the pool: \(Self.advice(for: parts))"
        } else {
            return nil
        }
    }

    /// The boot warning of a `sync` worker serving an asynchronous application: its requests run
    /// as tasks on the worker's executor while request threads wait for them, so every request
    /// crosses threads (about three context switches per request, measured on hello).
    static func asynchronousApplication(name: String) -> String {
        "Asynchronous application \(name) in a sync worker: each request runs as a task on the worker's executor "
            + "while a request thread waits for it, and each of the task's calls on the request is handed to that "
            + "thread and back, so every request crosses threads several times. Serve it with -k async"
    }

    /// The boot line of a `sync` worker: what holds its request threads, and the limit.
    static func requestThreads(name: String, threads: Int) -> String {
        "Synchronous application \(name) with \(threads) request thread(s) (--threads): each request, and each open WebSocket "
            + "for as long as it is open, holds one, so at most \(threads) run at a time in this worker; "
            + "for many long-lived WebSockets serve an AsyncApplication with -k async"
    }

    /// `make Log an AsyncMiddleware (…)` for each part, from the names AppProtocol gives them
    /// (`middleware Log`, `application Shop`, `middleware Gate (routes under /admin)`).
    static func advice(for parts: [String]) -> String {
        parts.map { part in
            let words = part.split(separator: " ", maxSplits: 1)
            guard words.count == 2 else { return "make \(part) asynchronous" }
            let typeName = words[1].split(separator: " ").first.map(String.init) ?? String(words[1])
            switch words[0] {
            case "middleware":
                return "make \(typeName) an AsyncMiddleware (`func respond(to request: Request, next: (Request) async throws -> Response) async throws -> Response`, calling `try await next(request)`)"
            case "application":
                return "make \(typeName) an AsyncApplication (`func respond(to request: Request) async throws -> Response`)"
            default:
                return "make \(part) asynchronous"
            }
        }.joined(separator: "; ")
    }
}
