/// Serving a `.webSocket` response: the handshake through the server, then the handler; the
/// handler's end closes the connection (1000 when it returns, 1011 when it throws).
extension Responder {
    static func serveWebSocket(_ handler: WebSocketHandler, response: Response, request: Request, exchange: Exchange) async {
        guard let socket = accept(handler, response: response, request: request, exchange: exchange) else { return }
        do {
            switch handler.body {
            case .async(let body): try await body(socket)
            case .blocking(let body): try await Runtime.offload { try body(socket) }
            }
            exchange.finish(trailers: Headers())
        } catch {
            ended(socket, by: error, request: request)
        }
    }

    static func serveWebSocketBlocking(_ handler: WebSocketHandler, response: Response, request: Request, exchange: Exchange) {
        guard let socket = accept(handler, response: response, request: request, exchange: exchange) else { return }
        do {
            switch handler.body {
            case .async(let body): try Runtime.blockingWait { try await body(socket) }
            case .blocking(let body): try body(socket)
            }
            exchange.finish(trailers: Headers())
        } catch {
            ended(socket, by: error, request: request)
        }
    }

    /// The handshake: a socket, or nil when the server refused the request (and answered it) or
    /// the exchange failed (then it is ended here).
    private static func accept(_ handler: WebSocketHandler, response: Response, request: Request, exchange: Exchange) -> WebSocket? {
        do {
            guard try exchange.acceptWebSocket(subprotocol: handler.subprotocol, headers: response.headers) else { return nil }
            return WebSocket(exchange: exchange, subprotocol: handler.subprotocol)
        } catch {
            fail(error, request: request, exchange: exchange) { try exchange.sendBlockingError($0) }
            return nil
        }
    }

    /// The handler threw: a gone client or a cancelled task is the normal end of a WebSocket;
    /// anything else is logged and closes with 1011.
    private static func ended(_ socket: WebSocket, by error: Error, request: Request) {
        let quiet = error is CancellationError || (error as? ExchangeError) == .disconnected || socket.closeCode != nil
        if !quiet { Runtime.log(.error, "WebSocket handler for \(request.path) failed: \(error)") }
        socket.exchange.abort()
    }
}
