/// A frame's opcode (RFC 6455 §5.2, §11.8).
///
/// Only the six defined opcodes exist as values; the reserved ones (0x3–0x7, 0xB–0xF) are refused
/// by the decoder with 1002 and never reach an application.
public enum Opcode: UInt8, Sendable, Hashable {
    case continuation = 0x0
    case text = 0x1
    case binary = 0x2
    case close = 0x8
    case ping = 0x9
    case pong = 0xA

    /// Control frames have the high bit of the opcode set (RFC 6455 §5.5).
    public var isControl: Bool { rawValue & 0x8 != 0 }
}
