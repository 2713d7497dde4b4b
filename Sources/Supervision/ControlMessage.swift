/// A message over the control socket pair between the master and one worker.
///
/// The wire format is one line of UTF-8 text per message, ended by `\n`: a keyword, then for some
/// messages a space and an argument that runs to the end of the line. Both ends are always the same
/// binary (the master spawns `/proc/self/exe`), so there is no version negotiation.
public protocol ControlMessage: Sendable, Equatable {
    /// The line without its `\n`.
    var line: String { get }
    /// Decodes a line without its `\n`; nil for a line that is no message of this direction.
    init?(line: String)
}

extension ControlMessage {
    /// The bytes to write: the line and its `\n`.
    public var encoded: [UInt8] { Array(line.utf8) + [Self.newline] }

    static var newline: UInt8 { 10 }

    /// An argument made safe for a one-line message: line breaks become spaces.
    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
