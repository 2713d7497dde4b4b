/// What the application answers.
public struct Response: Sendable {
    public var status: Status
    public var headers: Headers
    public var body: ResponseBody

    public init(status: Status = .ok, headers: Headers = Headers(), body: ResponseBody = .empty) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A response with a status computed as a number (`Response(status: code)`).
    public init(status code: Int, headers: Headers = Headers(), body: ResponseBody = .empty) {
        self.init(status: Status(code: code), headers: headers, body: body)
    }

    /// A `text/plain; charset=utf-8` response.
    public static func text(_ text: String, status: Status = .ok) -> Response {
        Response(status: status, headers: textHeaders, body: .bytes(Array(text.utf8)))
    }

    /// An `application/json` response from already encoded JSON text (for a value, see
    /// `json(_:status:encoder:)`).
    public static func json(_ json: String, status: Status = .ok) -> Response {
        Response(status: status, headers: jsonHeaders, body: .bytes(Array(json.utf8)))
    }

    private static let textHeaders: Headers = ["Content-Type": "text/plain; charset=utf-8"]
    private static let jsonHeaders: Headers = ["Content-Type": "application/json"]
}

/// A response body.
public enum ResponseBody: Sendable {
    case empty
    case bytes([UInt8])
    /// Produced by the closure as it writes; sent chunked unless `length` is given. `write` waits while
    /// the client is slow to read (backpressure).
    indirect case stream(length: Int? = nil, @Sendable (BodyWriter) async throws -> Void)
    /// The contents of a file, sent with its length.
    indirect case file(path: String)
    /// A WebSocket: see `Response.webSocket`.
    indirect case webSocket(WebSocketHandler)

    public static func string(_ text: String) -> ResponseBody { .bytes(Array(text.utf8)) }
}

/// Writes a streamed body; trailers added here are sent after the last chunk.
public final class BodyWriter: @unchecked Sendable {
    let exchange: Exchange
    /// Trailer fields, sent at the end of a chunked response (ignored otherwise). Set them before the
    /// stream closure returns.
    public var trailers = Headers()

    init(exchange: Exchange) { self.exchange = exchange }

    public func write(_ bytes: [UInt8]) async throws {
        if bytes.isEmpty { return }
        try await exchange.write(bytes)
    }

    public func write(_ text: String) async throws {
        try await write(Array(text.utf8))
    }
}
