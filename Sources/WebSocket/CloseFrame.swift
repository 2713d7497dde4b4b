/// The content of a close frame (RFC 6455 §5.5.1): an optional status code and UTF-8 reason.
public struct CloseFrame: Sendable, Hashable {
    /// The status code, or nil when the frame had an empty payload (reported as 1005, §7.1.5).
    public var code: CloseCode?
    /// The reason text; empty when none was given.
    public var reason: String

    /// A close frame to send: a code valid on the wire (or nil for none) and a short reason.
    public init(code: CloseCode?, reason: String = "") {
        self.code = code
        self.reason = reason
    }

    /// Parses a received close frame's payload.
    /// A one-byte payload or a code not valid on the wire is 1002; a reason not UTF-8 is 1007.
    public init(payload: [UInt8]) throws(ProtocolError) {
        if payload.isEmpty {
            self.init(code: nil)
            return
        }
        // §5.5.1: if there is a body, its first two bytes are the status code.
        guard payload.count >= 2 else { throw .protocolViolation("close frame with a one-byte payload") }
        let code = CloseCode(UInt16(payload[0]) << 8 | UInt16(payload[1]))
        guard code.isValidOnWire else { throw .protocolViolation("close code \(code) not allowed on the wire") }
        let reason = Array(payload[2...])
        guard UTF8Validator.isValid(reason) else { throw .invalidData("close reason is not UTF-8") } // §5.5.1, §8.1
        self.init(code: code, reason: String(decoding: reason, as: UTF8.self))
    }

    /// The payload to send for this close frame (reason cut to fit 125 bytes).
    public var payload: [UInt8] { FrameEncoder.closePayload(code: code, reason: reason) }
}
