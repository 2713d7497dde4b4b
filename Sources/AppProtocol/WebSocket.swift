import Synchronization

/// One WebSocket connection (RFC 6455), as the handler of `Response.webSocket` sees it.
///
/// The server speaks the protocol — framing, masking, UTF-8 checks, ping/pong, compression, the
/// closing handshake — and the handler exchanges whole messages:
///
/// ```swift
/// router.webSocket("/ws") { request, socket in
///     for try await message in socket {
///         try await socket.send(message)
///     }
/// }
/// ```
///
/// `send` waits while the client is slow to read (backpressure), so a producer never piles up
/// memory. Iteration ends when the connection closes (`closeCode` says how), and the handler's
/// task is cancelled if the client goes away. Synchronous code uses the blocking `receive()` and
/// `send(_:)` on its own thread instead. When the worker retires (a reload, a stop, a recycle)
/// every WebSocket is closed with 1001 (going away) and its iteration ends: clients reconnect to
/// the new workers.
///
/// Several tasks may send on one socket at once (messages go out whole, in call order); one
/// receives.
public final class WebSocket: AsyncSequence, Sendable {
    /// A data message (RFC 6455 §5.6).
    public enum Message: Sendable, Equatable {
        /// Text, valid UTF-8.
        case text(String)
        case binary([UInt8])
    }

    let exchange: Exchange
    /// The subprotocol agreed in the handshake, if any.
    public let subprotocol: String?
    private let closing = Mutex<(code: UInt16, reason: String)?>(nil)

    init(exchange: Exchange, subprotocol: String?) {
        self.exchange = exchange
        self.subprotocol = subprotocol
    }

    /// Once the connection has closed: the close code the peer sent (1005 when it sent none, 1006
    /// when the connection ended without a closing handshake, or the code this server failed it
    /// with, e.g. 1009 for a message over `--ws-max-size`), and its reason.
    public var closeCode: (code: UInt16, reason: String)? { closing.withLock { $0 } }

    /// The next message, or nil once the connection has closed. Suspends without holding a thread.
    public func receive() async throws -> Message? {
        try record(await exchange.receiveMessage())
    }

    /// The next message, or nil once the connection has closed; blocks the calling thread.
    public func receive() throws -> Message? {
        try record(exchange.receiveMessageBlocking())
    }

    private func record(_ received: Exchange.Received) -> Message? {
        switch received {
        case .message(let message): return message
        case .closed(let code, let reason):
            closing.withLock { $0 = (code, reason) }
            return nil
        }
    }

    /// Sends a message; returns once it is on its way, waiting while the client is slow to read.
    /// Throws `ExchangeError.disconnected` once the connection is closing or gone.
    public func send(_ message: Message) async throws {
        try await exchange.sendMessage(message)
    }

    public func send(_ text: String) async throws { try await send(.text(text)) }
    public func send(_ bytes: [UInt8]) async throws { try await send(.binary(bytes)) }

    /// Sends a message from synchronous code, blocking while the client is slow to read.
    public func send(_ message: Message) throws {
        try exchange.sendMessageBlocking(message)
    }

    public func send(_ text: String) throws { try send(.text(text)) }
    public func send(_ bytes: [UInt8]) throws { try send(.binary(bytes)) }

    /// Starts the closing handshake (RFC 6455 §7.1.2) with a code valid on the wire (1000–1003,
    /// 1007–1011, 3000–4999; others are sent as 1011) and a reason of at most 123 bytes of UTF-8.
    /// `receive` then returns nil once the peer answers (or after `--ws-close-timeout`). Returning
    /// from the handler closes with 1000; throwing, with 1011.
    public func close(code: UInt16 = 1000, reason: String = "") {
        exchange.closeWebSocket(code: code, reason: reason)
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let socket: WebSocket
        public mutating func next() async throws -> Message? { try await socket.receive() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(socket: self) }
}

/// What a `.webSocket` response runs once the handshake is accepted.
public struct WebSocketHandler: Sendable {
    enum Body: Sendable {
        case async(@Sendable (WebSocket) async throws -> Void)
        case blocking(@Sendable (WebSocket) throws -> Void)
    }

    let subprotocol: String?
    let body: Body
}

extension Response {
    /// Accepts a WebSocket opening handshake and runs `handler` on the connection (RFC 6455 §4.2.2).
    /// The server checks the request (method, version, `Upgrade`, `Connection`, the key; 426 for
    /// another `Sec-WebSocket-Version`) and answers anything else itself. `subprotocol` must be one
    /// the client offered (`request.webSocketSubprotocols`); `headers` are added to the 101.
    public static func webSocket(subprotocol: String? = nil, headers: Headers = Headers(),
                                 _ handler: @escaping @Sendable (WebSocket) async throws -> Void) -> Response {
        Response(status: .switchingProtocols, headers: headers,
                 body: .webSocket(WebSocketHandler(subprotocol: subprotocol, body: .async(handler))))
    }

    /// The same with a synchronous handler, which holds a thread for the connection's life: a
    /// request thread in the sync worker, a thread of the `--offload-threads` pool in the async one.
    public static func webSocket(subprotocol: String? = nil, headers: Headers = Headers(),
                                 synchronous handler: @escaping @Sendable (WebSocket) throws -> Void) -> Response {
        Response(status: .switchingProtocols, headers: headers,
                 body: .webSocket(WebSocketHandler(subprotocol: subprotocol, body: .blocking(handler))))
    }
}

extension Request {
    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`, RFC 6455 §11.3.4), in order.
    public var webSocketSubprotocols: [String] {
        headers.values(for: "Sec-WebSocket-Protocol").flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: " \t") }.filter { !$0.isEmpty }
    }

    /// Whether the request asks for a WebSocket (`Upgrade: websocket`).
    public var isWebSocketUpgrade: Bool {
        headers.values(for: "Upgrade").contains { $0.split(separator: ",").contains { $0.trimmingCharacters(in: " \t").lowercased() == "websocket" } }
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        let drop = Set(set)
        return String(self.drop(while: { drop.contains($0) }).reversed().drop(while: { drop.contains($0) }).reversed())
    }
}
