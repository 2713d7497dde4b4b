/// One layer of a chain: middleware of either kind, composed around an asynchronous `next`.
enum Layer: Sendable {
    case sync(any Middleware)
    case async(any AsyncMiddleware)

    var typeName: String {
        switch self {
        case .sync(let middleware): AppProtocol.typeName(middleware)
        case .async(let middleware): AppProtocol.typeName(middleware)
        }
    }

    var isSynchronous: Bool {
        if case .sync = self { return true }
        return false
    }

    /// The layer around `next`. Synchronous middleware runs on the host's pool (it may block), and
    /// the `next` it calls blocks that pool thread until the asynchronous inside is done.
    func wrap(
        _ next: @escaping RouteHandler
    ) -> RouteHandler {
        switch self {
        case .async(let middleware):
            return { request in try await middleware.respond(to: request, next: next) }
        case .sync(let middleware):
            return { request in
                try await Runtime.offload {
                    try middleware.respond(to: request) { inner in try Runtime.blockingWait { try await next(inner) } }
                }
            }
        }
    }

    /// Composes layers around `handler`; the first layer is the outermost.
    static func compose(
        _ layers: [Layer], around handler: @escaping RouteHandler
    ) -> RouteHandler {
        layers.reversed().reduce(handler) { inner, layer in layer.wrap(inner) }
    }
}
