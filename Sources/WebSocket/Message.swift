/// A complete data message (RFC 6455 §5.6).
public enum Message: Sendable, Hashable {
    /// A text message; its bytes were validated as UTF-8.
    case text(String)
    case binary([UInt8])
}
