import Synchronization

/// What a route runs: the request (with its `parameters`) in, the response out. It runs on its
/// caller's executor (the request's task, on the worker's loop) without a hop to the generic
/// executor and back; a closure written where one is expected gets this isolation.
public typealias RouteHandler = nonisolated(nonsending) @Sendable (Request) async throws -> Response

/// A route's handler that never waits: a closure with no `await` in it is one. In the `async`
/// worker it runs on the loop, like the part of any handler before its first `await`, and, with no
/// middleware around it, answers without a task of its own. It must not block: the
/// blocking calls (`request.body.read(upTo:)`) fail there with `BlockingOnEventLoop`; a handler
/// that reads the body awaits it (`try await request.body.collect()`), which makes it asynchronous.
public typealias SynchronousRouteHandler = @Sendable (Request) throws -> Response

/// Routes requests by method and path pattern to handlers: an `AsyncApplication` to export or to
/// wrap in middleware.
///
/// ```swift
/// let router = Router()
/// router.get("/items/:id") { request in
///     let id = try request.parameters.require("id", as: Int.self)
///     …
/// }
/// router.group("/admin").using(Auth()).delete("/items/:id") { … }
/// ```
///
/// Patterns are `/`-separated segments: a literal, a `:name` parameter (one segment), or a `*` as the
/// last segment (the rest of the path, possibly empty). When several routes match, the most specific
/// wins: literal segments before parameters before the wildcard, in order from the left. Empty
/// segments are ignored (`/items/` is `/items`), and each segment is percent-decoded after the
/// split, so `%2F` stays inside its segment.
///
/// Answered without a handler: 501 for a method no route and no standard names (RFC 9110 §9.1);
/// 404 when no pattern matches the path; 405 with `Allow` (RFC 9110 §15.5.6) when patterns match
/// but none for this method; HEAD by the GET route when there is no HEAD route (the server sends
/// the head without the body, RFC 9110 §9.3.2).
public final class Router: AsyncApplication, Chained, Sendable {
    /// Routes are added while the application is set up and read by every request: a lock keeps
    /// that safe without asking the caller to finish setup first.
    private let table = Mutex(Routes())

    /// The routes in the order added, and the tree that finds them.
    struct Routes {
        var all: [Route] = []
        var tree = RouteTree()
    }
    /// Lifespan hooks, in the order added.
    private let hooks = Mutex<(startup: [LifespanHook], shutdown: [LifespanHook])>(([], []))

    public typealias LifespanHook = @Sendable () async throws -> Void

    public init() {}

    /// Runs `hook` once in each worker before it serves (open a connection pool here); a hook that
    /// throws makes the worker exit with code 3.
    public func onStartup(_ hook: @escaping LifespanHook) {
        hooks.withLock { $0.startup.append(hook) }
    }

    /// Runs `hook` once in each worker when it stops, after the last request; in reverse order of
    /// adding, so what started last stops first.
    public func onShutdown(_ hook: @escaping LifespanHook) {
        hooks.withLock { $0.shutdown.append(hook) }
    }

    public func startup() async throws {
        for hook in hooks.withLock({ $0.startup }) { try await hook() }
    }

    public func shutdown() async throws {
        for hook in hooks.withLock({ $0.shutdown }).reversed() { try await hook() }
    }

    public nonisolated(nonsending) func respond(to request: Request) async throws -> Response {
        // Matched and composed in a synchronous call, so that this frame holds only the handler and
        // the request while the handler awaits (10,000 sleeping requests hold 10,000 such frames).
        switch resolve(request) {
        case .answered(let response): return try response.get()
        case .waits(let handler, let routed): return try await handler(routed)
        }
    }

    /// What becomes of a request: answered already (by a synchronous handler, or with the error the
    /// routing or the handler threw), or the asynchronous handler to run and the request it gets.
    enum Resolution {
        case answered(Result<Response, any Error>)
        case waits(RouteHandler, Request)
    }

    /// Finds the route and runs as much as runs without waiting: all of a synchronous handler with no
    /// middleware around it (the exporter then needs no task for the request).
    func resolve(_ request: Request) -> Resolution {
        let route: Route, parameters: Parameters
        do { (route, parameters) = try match(request) } catch { return .answered(.failure(error)) }
        // Middleware sees the parameters, and the handler gets them even from middleware that passed
        // on a request of its own.
        var routed = request
        routed.parameters = parameters
        if route.layers.isEmpty {
            switch route.handler {
            case .sync(let handler): return .answered(Result { try handler(routed) })
            case .async(let handler): return .waits(handler, routed)
            }
        }
        let handler = route.handler.asynchronous
        return .waits(Layer.compose(route.layers) { inner in
            var inner = inner
            inner.parameters = parameters
            return try await handler(inner)
        }, routed)
    }

    /// The methods of RFC 9110 §9.3 and PATCH (RFC 5789): one of these without a route here is
    /// 405 (known, not allowed for the resource); any other method is 501.
    static let standardMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"]

    /// The route for `request` and its parameters; throws 404, 501, or 405 with `Allow`.
    private func match(_ request: Request) throws -> (route: Route, parameters: Parameters) {
        let segments = Route.segments(of: request.rawPath)
        let tree = table.withLock { $0.tree }
        let method = request.method
        var best: Route?
        // The first matching pattern with a route for the method is the most specific; in it, a
        // route for the method itself beats GET answering HEAD.
        tree.walk(segments) { node in
            best = node.routes.first { $0.method == method }
                ?? (method == "HEAD" ? node.routes.first { $0.method == "GET" } : nil)
            return best != nil
        }
        if let best, let parameters = best.match(segments) { return (best, parameters) }
        // RFC 9110 §9.1: a method the server does not recognize (none of the registry's, no
        // route's) is 501, whatever the path; methods are case-sensitive, so `get` is one.
        if !Self.standardMethods.contains(method) && !tree.methods.contains(method) {
            throw HTTPError(.notImplemented, message: "\(method) is not a method this application implements")
        }
        // Only now, for the 405's `Allow`: the methods of every route matching the path.
        var allowed = Set<String>()
        tree.walk(segments) { node in
            allowed.formUnion(node.routes.map(\.method))
            return false
        }
        if allowed.isEmpty { throw HTTPError(.notFound, message: "no route for \(request.path)") }
        if allowed.contains("GET") { allowed.insert("HEAD") }
        let allow = allowed.sorted().joined(separator: ", ")
        throw HTTPError(.methodNotAllowed, message: "\(method) is not allowed here (allowed: \(allow))",
                        headers: ["Allow": allow])
    }

    /// Adds a route for `method` (`GET`, `POST`, …) and `path`.
    @discardableResult
    public func on(_ method: String, _ path: String, use handler: @escaping RouteHandler) -> Router {
        add(method: method, pattern: Route.parse(path), layers: [], handler: .async(handler))
        return self
    }

    /// Adds a route whose handler never waits (a closure without `await` picks this one).
    @discardableResult
    public func on(_ method: String, _ path: String, use handler: @escaping SynchronousRouteHandler) -> Router {
        add(method: method, pattern: Route.parse(path), layers: [], handler: .sync(handler))
        return self
    }

    @discardableResult
    public func get(_ path: String, use handler: @escaping RouteHandler) -> Router { on("GET", path, use: handler) }
    @discardableResult
    public func get(_ path: String, use handler: @escaping SynchronousRouteHandler) -> Router { on("GET", path, use: handler) }
    @discardableResult
    public func head(_ path: String, use handler: @escaping RouteHandler) -> Router { on("HEAD", path, use: handler) }
    @discardableResult
    public func head(_ path: String, use handler: @escaping SynchronousRouteHandler) -> Router { on("HEAD", path, use: handler) }
    @discardableResult
    public func post(_ path: String, use handler: @escaping RouteHandler) -> Router { on("POST", path, use: handler) }
    @discardableResult
    public func post(_ path: String, use handler: @escaping SynchronousRouteHandler) -> Router { on("POST", path, use: handler) }
    @discardableResult
    public func put(_ path: String, use handler: @escaping RouteHandler) -> Router { on("PUT", path, use: handler) }
    @discardableResult
    public func put(_ path: String, use handler: @escaping SynchronousRouteHandler) -> Router { on("PUT", path, use: handler) }
    @discardableResult
    public func patch(_ path: String, use handler: @escaping RouteHandler) -> Router { on("PATCH", path, use: handler) }
    @discardableResult
    public func patch(_ path: String, use handler: @escaping SynchronousRouteHandler) -> Router { on("PATCH", path, use: handler) }
    @discardableResult
    public func delete(_ path: String, use handler: @escaping RouteHandler) -> Router { on("DELETE", path, use: handler) }
    @discardableResult
    public func delete(_ path: String, use handler: @escaping SynchronousRouteHandler) -> Router { on("DELETE", path, use: handler) }

    /// Routes under a path prefix, which can have middleware of their own.
    public func group(_ prefix: String) -> RouteGroup {
        RouteGroup(router: self, prefix: Route.parse(prefix), layers: [])
    }

    func add(method: String, pattern: [Route.Segment], layers: [Layer], handler: Route.Handler) {
        if let wildcard = pattern.firstIndex(of: .wildcard), wildcard != pattern.count - 1 {
            preconditionFailure("Route \(Route.render(pattern)): `*` may only be the last segment")
        }
        let route = Route(
            method: method.uppercased(), pattern: pattern, layers: layers, handler: handler,
            synchronousParts: layers.filter(\.isSynchronous).map {
                "middleware \($0.typeName) (routes under \(Route.render(pattern)))"
            })
        table.withLock { routes in
            routes.all.append(route)
            routes.tree = routes.tree.inserting(route)
        }
    }

    // Chained: the worker reports synchronous group middleware at boot.
    var synchronousParts: [String] {
        var seen = Set<String>()
        return table.withLock { $0.all }.flatMap(\.synchronousParts).filter { seen.insert($0).inserted }
    }
    var applicationName: String { "Router" }
    var middlewareNames: [String] { [] }
}
