/// Splits bytes read from a control socket into messages; a line may arrive in pieces.
///
/// Owned by whichever thread reads the socket (the master's loop, a worker's event loop).
public struct ControlReader<Message: ControlMessage>: Sendable {
    private var pending: [UInt8] = []
    /// Lines that were no message of this direction, for the reader to report.
    public private(set) var rejected: [String] = []

    public init() {}

    /// Adds `bytes` and returns the messages completed by them, in order.
    public mutating func feed(_ bytes: some Sequence<UInt8>) -> [Message] {
        pending.append(contentsOf: bytes)
        var messages: [Message] = []
        var start = 0
        while let end = pending[start...].firstIndex(of: Message.newline) {
            let line = String(decoding: pending[start..<end], as: UTF8.self)
            if let message = Message(line: line) { messages.append(message) } else { rejected.append(line) }
            start = end + 1
        }
        pending.removeFirst(start)
        return messages
    }

    /// Returns and forgets the rejected lines.
    public mutating func takeRejected() -> [String] {
        defer { rejected.removeAll() }
        return rejected
    }
}
