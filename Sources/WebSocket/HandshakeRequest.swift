/// The parts of an HTTP request the opening handshake looks at (RFC 6455 §4.2.1), as plain values
/// so the handshake does not depend on any HTTP module.
public struct HandshakeRequest: Sendable {
    /// The request method, e.g. "GET" (compared case-sensitively, RFC 9110 §9.1).
    public var method: String
    /// HTTP version, e.g. (1, 1).
    public var versionMajor: Int
    public var versionMinor: Int
    /// Header fields in received order; names compare case-insensitively.
    public var headers: [(name: String, value: String)]

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

/// What the application decides during the handshake.
public struct HandshakePolicy: Sendable {
    /// Picks one of the subprotocols the client offered (`Sec-WebSocket-Protocol`, RFC 6455 §4.2.2
    /// /subprotocol/), or nil for none. It is called even when the client offered none (with an
    /// empty list). A choice the client did not offer refuses the handshake with 500.
    public var selectSubprotocol: @Sendable (_ offered: [String]) -> String?
    /// Decides on the `Origin` field (nil when absent); false refuses with 403 (RFC 6455 §4.2.2, §10.2).
    public var checkOrigin: @Sendable (_ origin: String?) -> Bool
    /// permessage-deflate wishes, or nil never to negotiate compression.
    public var deflate: DeflateOptions?

    public init(selectSubprotocol: @escaping @Sendable ([String]) -> String? = { _ in nil },
                checkOrigin: @escaping @Sendable (String?) -> Bool = { _ in true },
                deflate: DeflateOptions? = DeflateOptions()) {
        self.selectSubprotocol = selectSubprotocol
        self.checkOrigin = checkOrigin
        self.deflate = deflate
    }
}

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
    public var status: Int
    public var headers: [String: String]
    public var reason: String

    public init(status: Int, headers: [String: String] = [:], reason: String) {
        self.status = status
        self.headers = headers
        self.reason = reason
    }

    public var description: String { "\(status): \(reason)" }
}
