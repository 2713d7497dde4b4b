// `using(_:)` with several middleware: the first listed is the outermost, so it sees the request
// first and the response last. `app.using(A(), B())` is `app.using(B()).using(A())`.

extension Application {
    /// Wraps the application in synchronous middleware; the first listed is the outermost.
    public func using(_ first: any Middleware, _ more: any Middleware...) -> SyncChain {
        let all = [first] + more
        var chain = wrapped(in: all[all.count - 1])
        for middleware in all.dropLast().reversed() { chain = chain.wrapped(in: middleware) }
        return chain
    }

    /// Wraps the application in asynchronous middleware (the first listed is the outermost); the
    /// application itself runs on the pool for adapted code.
    public func using(_ first: any AsyncMiddleware, _ more: any AsyncMiddleware...) -> AsyncChain {
        let layers = ([first] + more).map(Layer.async)
        let info = chainInfo(self)
        return AsyncChain(
            handler: Layer.compose(layers) { inner in try await Runtime.offload { try self.respond(to: inner) } },
            start: { try await Runtime.offload { try self.startup() } },
            stop: { try await Runtime.offload { try self.shutdown() } },
            synchronousParts: synchronousParts(of: self),
            applicationName: info.application, middlewareNames: layers.map(\.typeName) + info.middleware)
    }

    func wrapped(in middleware: any Middleware) -> SyncChain {
        let info = chainInfo(self)
        return SyncChain(
            handler: { request in try middleware.respond(to: request, next: self.respond) },
            start: startup, stop: shutdown,
            synchronousParts: ["middleware \(typeName(middleware))"] + synchronousParts(of: self),
            applicationName: info.application, middlewareNames: [typeName(middleware)] + info.middleware)
    }
}

extension AsyncApplication {
    /// Wraps the application in middleware; the first listed is the outermost.
    public func using(_ first: any AsyncMiddleware, _ more: any AsyncMiddleware...) -> AsyncChain {
        chain(([first] + more).map(Layer.async))
    }

    /// Wraps the application in synchronous middleware (the first listed is the outermost). The chain
    /// stays asynchronous: only the middleware runs on the pool for adapted code, and the worker
    /// names it at boot.
    public func using(_ first: any Middleware, _ more: any Middleware...) -> AsyncChain {
        chain(([first] + more).map(Layer.sync))
    }

    func chain(_ layers: [Layer]) -> AsyncChain {
        let info = chainInfo(self)
        return AsyncChain(
            handler: Layer.compose(layers) { request in try await self.respond(to: request) },
            start: startup, stop: shutdown,
            synchronousParts: layers.filter(\.isSynchronous).map { "middleware \($0.typeName)" } + synchronousParts(of: self),
            applicationName: info.application, middlewareNames: layers.map(\.typeName) + info.middleware)
    }
}
