/// One WebSocket frame, payload already unmasked (RFC 6455 §5.2).
public struct Frame: Sendable, Hashable {
    /// FIN: this is the last frame of its message.
    public var fin: Bool
    /// RSV1; with permessage-deflate, set on the first frame of a compressed message (RFC 7692 §6).
    public var rsv1: Bool
    /// The frame type.
    public var opcode: Opcode
    /// The application data (after unmasking; still compressed when `rsv1` says so).
    public var payload: [UInt8]

    /// A frame; by default a single, uncompressed, empty one.
    public init(fin: Bool = true, rsv1: Bool = false, opcode: Opcode, payload: [UInt8] = []) {
        self.fin = fin
        self.rsv1 = rsv1
        self.opcode = opcode
        self.payload = payload
    }
}
