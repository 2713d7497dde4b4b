/// What a WebSocket route accepts besides the protocol's own rules.
public struct WebSocketOptions: Sendable {
    /// Subprotocols the route speaks, in order of preference: the first one the client offered
    /// is chosen (RFC 6455 §4.2.2); none chosen when the client offered none of them.
    public var subprotocols: [String]
    /// Origins allowed to connect (`https://example.com`), compared case-insensitively; nil allows
    /// any. Browsers send `Origin`, so this stops other sites' pages from opening a socket with the
    /// user's cookies (RFC 6455 §10.2); a request without `Origin` (not a browser) is allowed.
    public var allowedOrigins: [String]?

    public init(subprotocols: [String] = [], allowedOrigins: [String]? = nil) {
        self.subprotocols = subprotocols
        self.allowedOrigins = allowedOrigins
    }

    /// The subprotocol to agree on for `request`, if any.
    func subprotocol(for request: Request) -> String? {
        let offered = request.webSocketSubprotocols
        return subprotocols.first { offered.contains($0) }
    }

    /// Throws 403 when the request's origin is not allowed.
    func checkOrigin(_ request: Request) throws {
        guard let allowed = allowedOrigins, let origin = request.headers["Origin"] else { return }
        guard allowed.contains(where: { $0.lowercased() == origin.lowercased() }) else {
            throw HTTPError(.forbidden, message: "origin \(origin) may not open a WebSocket here")
        }
    }
}

extension Router {
    /// A WebSocket endpoint at `path` (a GET route): after the handshake, `handler` gets the
    /// request and the socket.
    ///
    /// ```swift
    /// router.webSocket("/ws") { request, socket in
    ///     for try await message in socket { try await socket.send(message) }
    /// }
    /// ```
    @discardableResult
    public func webSocket(_ path: String, options: WebSocketOptions = WebSocketOptions(),
                          use handler: @escaping @Sendable (Request, WebSocket) async throws -> Void) -> Router {
        get(path) { request in
            try options.checkOrigin(request)
            return .webSocket(subprotocol: options.subprotocol(for: request)) { socket in try await handler(request, socket) }
        }
    }
}
