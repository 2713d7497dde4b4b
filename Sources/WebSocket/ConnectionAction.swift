/// What the driver must do, in order.
public enum ConnectionAction: Sendable, Hashable {
    /// Write these bytes to the transport.
    case write([UInt8])
    /// Hand this message to the application.
    case deliver(Message)
    /// Close the transport (after the writes before it); the connection is over, for this reason.
    case closeTransport(CloseOutcome)
}

/// Why a connection ended.
public enum CloseOutcome: Sendable, Hashable {
    /// The closing handshake completed; this is the peer's close frame (code nil: 1005, §7.1.5).
    case closed(CloseFrame)
    /// This side failed the connection (§7.1.7) and sent a close frame with the error's code.
    case failed(ProtocolError)
    /// The peer did not answer our close frame within the close timeout.
    case closeTimedOut
    /// The peer did not answer a keep-alive ping within the pong timeout.
    case pongTimedOut
    /// The transport closed without a closing handshake (1006, §7.1.5).
    case transportClosed
}
