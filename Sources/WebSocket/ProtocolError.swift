/// A violation that fails the WebSocket connection (RFC 6455 §7.1.7), with the close code to send.
///
/// Every rule the decoder, the message assembler and the inflater enforce reports through this one
/// type, so the driver needs a single path: send a close frame with `code`, then close the transport.
public struct ProtocolError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The status code for the close frame (RFC 6455 §7.4.1).
    public let code: CloseCode
    /// Human-readable cause, for logs and the close frame's reason.
    public let reason: String

    /// An error failing the connection with `code`.
    public init(_ code: CloseCode, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// 1002: the peer broke the framing or handshake rules.
    static func protocolViolation(_ reason: String) -> ProtocolError { ProtocolError(.protocolError, reason) }
    /// 1007: text or a close reason is not UTF-8, or compressed data is corrupt.
    static func invalidData(_ reason: String) -> ProtocolError { ProtocolError(.invalidPayloadData, reason) }
    /// 1009: a message exceeds the configured limit.
    static func tooBig(_ reason: String) -> ProtocolError { ProtocolError(.messageTooBig, reason) }

    /// "code: reason".
    public var description: String { "\(code.rawValue): \(reason)" }
}
