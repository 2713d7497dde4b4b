/// Routes that share a path prefix and middleware. Middleware added with `using` applies to the
/// routes added after it, through this group or groups made from it; the first listed is the
/// outermost.
public struct RouteGroup: Sendable {
    let router: Router
    let prefix: [Route.Segment]
    let layers: [Layer]

    public func using(_ first: any AsyncMiddleware, _ more: any AsyncMiddleware...) -> RouteGroup {
        RouteGroup(router: router, prefix: prefix, layers: layers + ([first] + more).map(Layer.async))
    }

    /// Synchronous middleware runs on the worker's pool for adapted code (see `Middleware`).
    public func using(_ first: any Middleware, _ more: any Middleware...) -> RouteGroup {
        RouteGroup(router: router, prefix: prefix, layers: layers + ([first] + more).map(Layer.sync))
    }

    public func group(_ path: String) -> RouteGroup {
        RouteGroup(router: router, prefix: prefix + Route.parse(path), layers: layers)
    }

    @discardableResult
    public func on(_ method: String, _ path: String, use handler: @escaping RouteHandler) -> RouteGroup {
        router.add(method: method, pattern: prefix + Route.parse(path), layers: layers, handler: .async(handler))
        return self
    }

    /// Adds a route whose handler never waits (a closure without `await` picks this one).
    @discardableResult
    public func on(_ method: String, _ path: String, use handler: @escaping SynchronousRouteHandler) -> RouteGroup {
        router.add(method: method, pattern: prefix + Route.parse(path), layers: layers, handler: .sync(handler))
        return self
    }

    @discardableResult
    public func get(_ path: String = "", use handler: @escaping RouteHandler) -> RouteGroup { on("GET", path, use: handler) }
    @discardableResult
    public func get(_ path: String = "", use handler: @escaping SynchronousRouteHandler) -> RouteGroup { on("GET", path, use: handler) }
    @discardableResult
    public func head(_ path: String = "", use handler: @escaping RouteHandler) -> RouteGroup { on("HEAD", path, use: handler) }
    @discardableResult
    public func head(_ path: String = "", use handler: @escaping SynchronousRouteHandler) -> RouteGroup { on("HEAD", path, use: handler) }
    @discardableResult
    public func post(_ path: String = "", use handler: @escaping RouteHandler) -> RouteGroup { on("POST", path, use: handler) }
    @discardableResult
    public func post(_ path: String = "", use handler: @escaping SynchronousRouteHandler) -> RouteGroup { on("POST", path, use: handler) }
    @discardableResult
    public func put(_ path: String = "", use handler: @escaping RouteHandler) -> RouteGroup { on("PUT", path, use: handler) }
    @discardableResult
    public func put(_ path: String = "", use handler: @escaping SynchronousRouteHandler) -> RouteGroup { on("PUT", path, use: handler) }
    @discardableResult
    public func patch(_ path: String = "", use handler: @escaping RouteHandler) -> RouteGroup { on("PATCH", path, use: handler) }
    @discardableResult
    public func patch(_ path: String = "", use handler: @escaping SynchronousRouteHandler) -> RouteGroup { on("PATCH", path, use: handler) }
    @discardableResult
    public func delete(_ path: String = "", use handler: @escaping RouteHandler) -> RouteGroup { on("DELETE", path, use: handler) }
    @discardableResult
    public func delete(_ path: String = "", use handler: @escaping SynchronousRouteHandler) -> RouteGroup { on("DELETE", path, use: handler) }
}
