/// The outcome of the opening handshake.
public enum HandshakeResult: Sendable {
    /// Answer 101 Switching Protocols with these fields, then speak WebSocket.
    case accept(HandshakeAcceptance)
    /// Answer with this status and fields (and close, or keep the HTTP connection, as the server decides).
    case refuse(HandshakeRefusal)
}

/// An accepted handshake: the 101 response's fields and what was agreed.
public struct HandshakeAcceptance: Sendable {
    /// Fields of the 101 response: Upgrade, Connection, Sec-WebSocket-Accept and, when agreed,
    /// Sec-WebSocket-Protocol and Sec-WebSocket-Extensions.
    public var headers: [(name: String, value: String)]
    /// The subprotocol the application chose, if any.
    public var subprotocol: String?
    /// The agreed permessage-deflate parameters, or nil when the connection is uncompressed.
    public var deflate: DeflateParameters?
    /// Why compression was not agreed although the client offered it and the policy allowed it
    /// (zlib could not be loaded, or no offer was acceptable), for a log line.
    public var compressionDeclinedReason: String?
}

/// A refused handshake: the status, fields to add, and a reason for logs.
public struct HandshakeRefusal: Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status to answer with.
    public var status: Int
    /// Fields the refusal needs (e.g. `Sec-WebSocket-Version` with 426, `Allow` with 405).
    public var headers: [String: String]
    /// Why, for logs (not meant for the client).
    public var reason: String

    /// A refusal.
    public init(status: Int, headers: [String: String] = [:], reason: String) {
        self.status = status
        self.headers = headers
        self.reason = reason
    }

    /// "status: reason".
    public var description: String { "\(status): \(reason)" }
}
