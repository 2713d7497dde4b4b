/// The parts of an HTTP request the opening handshake looks at (RFC 6455 §4.2.1), as plain values
/// so the handshake does not depend on any HTTP module.
public struct HandshakeRequest: Sendable {
    /// The request method, e.g. "GET" (compared case-sensitively, RFC 9110 §9.1).
    public var method: String
    /// HTTP version, e.g. (1, 1).
    public var versionMajor: Int
    /// The minor HTTP version.
    public var versionMinor: Int
    /// Header fields in received order; names compare case-insensitively.
    public var headers: [(name: String, value: String)]

    /// A request; names and values as received (values without surrounding whitespace).
    public init(method: String, versionMajor: Int = 1, versionMinor: Int = 1, headers: [(name: String, value: String)]) {
        self.method = method
        self.versionMajor = versionMajor
        self.versionMinor = versionMinor
        self.headers = headers
    }

    /// Every value of the field `name`, in order.
    func values(_ name: String) -> [String] {
        let lowered = name.lowercased()
        return headers.filter { $0.name.lowercased() == lowered }.map(\.value)
    }
}
