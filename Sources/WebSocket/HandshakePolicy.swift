/// What the application decides during the handshake.
public struct HandshakePolicy: Sendable {
    /// Picks one of the subprotocols the client offered (`Sec-WebSocket-Protocol`, RFC 6455 §4.2.2
    /// /subprotocol/), or nil for none. It is called even when the client offered none (with an
    /// empty list). A choice the client did not offer refuses the handshake with 500.
    public var selectSubprotocol: @Sendable (_ offered: [String]) -> String?
    /// Decides on the `Origin` field (nil when absent); false refuses with 403 (RFC 6455 §4.2.2, §10.2).
    public var checkOrigin: @Sendable (_ origin: String?) -> Bool
    /// permessage-deflate wishes, or nil never to negotiate compression.
    public var deflate: DeflateOptions?

    /// A policy; by default no subprotocol, any origin, and permessage-deflate with default options.
    public init(selectSubprotocol: @escaping @Sendable ([String]) -> String? = { _ in nil },
                checkOrigin: @escaping @Sendable (String?) -> Bool = { _ in true },
                deflate: DeflateOptions? = DeflateOptions()) {
        self.selectSubprotocol = selectSubprotocol
        self.checkOrigin = checkOrigin
        self.deflate = deflate
    }
}
