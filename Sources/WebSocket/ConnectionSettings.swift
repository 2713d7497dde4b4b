/// Limits and timers for one WebSocket connection; times are in seconds.
public struct ConnectionSettings: Sendable, Hashable {
    /// Largest message accepted, after decompression; more fails the connection with 1009.
    public var maxMessageSize: Int
    /// Send a ping after this long without one outstanding; nil sends none.
    public var pingInterval: Double?
    /// Close the connection when a keep-alive ping has no pong after this long.
    public var pongTimeout: Double
    /// Close the transport when the peer has not answered our close frame after this long (§7.1.1).
    public var closeTimeout: Double
    /// Split outgoing messages into frames of at most this many payload bytes; nil sends one frame.
    public var outgoingFragmentSize: Int?

    /// Settings with the defaults: 16 MiB messages, no pings, 20 s pong and 5 s close timeouts, no fragmentation.
    public init(maxMessageSize: Int = 16 << 20, pingInterval: Double? = nil, pongTimeout: Double = 20,
                closeTimeout: Double = 5, outgoingFragmentSize: Int? = nil) {
        precondition(maxMessageSize >= 0, "a message size limit cannot be negative")
        precondition(outgoingFragmentSize.map { $0 > 0 } ?? true, "fragments carry at least one byte")
        self.maxMessageSize = maxMessageSize
        self.pingInterval = pingInterval
        self.pongTimeout = pongTimeout
        self.closeTimeout = closeTimeout
        self.outgoingFragmentSize = outgoingFragmentSize
    }
}
