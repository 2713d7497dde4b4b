/// A close frame's status code (RFC 6455 §7.4).
///
/// Any 16-bit value can be represented; `isValidOnWire` says whether a peer may send it.
public struct CloseCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The code as sent on the wire, in network byte order there.
    public let rawValue: UInt16

    /// Any code; see `isValidOnWire` for the ones a close frame may carry.
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// Any code; see `isValidOnWire` for the ones a close frame may carry.
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    /// 1000: the purpose of the connection is fulfilled.
    public static let normalClosure = CloseCode(1000)
    /// 1001: the endpoint is going away (server shutdown, page navigation).
    public static let goingAway = CloseCode(1001)
    /// 1002: the peer broke the protocol.
    public static let protocolError = CloseCode(1002)
    /// 1003: a data type the endpoint cannot accept.
    public static let unsupportedData = CloseCode(1003)
    /// Reserved: never sent; reported locally when a close frame carried no code (§7.1.5).
    public static let noStatusReceived = CloseCode(1005)
    /// Reserved: never sent; reported locally when the transport closed without a close frame (§7.1.5).
    public static let abnormalClosure = CloseCode(1006)
    /// 1007: data inconsistent with the message type (text not UTF-8).
    public static let invalidPayloadData = CloseCode(1007)
    /// 1008: a message violates the endpoint's policy.
    public static let policyViolation = CloseCode(1008)
    /// 1009: a message too big to process.
    public static let messageTooBig = CloseCode(1009)
    /// 1010: (client only) the server did not negotiate an extension the client needs.
    public static let mandatoryExtension = CloseCode(1010)
    /// 1011: the server met an unexpected condition.
    public static let internalError = CloseCode(1011)

    /// Whether the code may appear in a close frame (RFC 6455 §7.4.1–§7.4.2, IANA registry).
    ///
    /// 1000–1003 and 1007–1011 are defined for use on the wire; 1004 is reserved, 1005, 1006 and 1015
    /// must never be sent; other values below 3000 are reserved for future RFCs; 3000–3999 are
    /// registered by libraries and frameworks and 4000–4999 are private use. 1012–1014 are IANA
    /// registrations after RFC 6455 that this server treats as unknown, like other unassigned 1xxx.
    public var isValidOnWire: Bool {
        switch rawValue {
        case 1000...1003, 1007...1011, 3000...4999: return true
        default: return false
        }
    }

    /// The decimal code.
    public var description: String { String(rawValue) }
}
