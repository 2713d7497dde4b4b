/// An HTTP response status (RFC 9110 §15): a three-digit code with names for the common ones.
///
/// An integer literal works wherever a status is expected (`status: 201`), and so do the names
/// (`status: .created`).
public struct Status: Sendable, Hashable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    /// The three-digit code.
    public let code: Int

    public init(code: Int) { self.code = code }
    public init(integerLiteral value: Int) { self.code = value }

    /// The reason phrase RFC 9110 §15 gives the code, or an empty string for a code it does not name.
    public var reasonPhrase: String { Self.reasons[code] ?? "" }

    /// `404 Not Found`.
    public var description: String { reasonPhrase.isEmpty ? String(code) : "\(code) \(reasonPhrase)" }

    public static let switchingProtocols: Status = 101
    public static let ok: Status = 200
    public static let created: Status = 201
    public static let accepted: Status = 202
    public static let noContent: Status = 204
    public static let movedPermanently: Status = 301
    public static let found: Status = 302
    public static let seeOther: Status = 303
    public static let notModified: Status = 304
    public static let temporaryRedirect: Status = 307
    public static let permanentRedirect: Status = 308
    public static let badRequest: Status = 400
    public static let unauthorized: Status = 401
    public static let forbidden: Status = 403
    public static let notFound: Status = 404
    public static let methodNotAllowed: Status = 405
    public static let notAcceptable: Status = 406
    public static let conflict: Status = 409
    public static let gone: Status = 410
    public static let contentTooLarge: Status = 413
    public static let unsupportedMediaType: Status = 415
    public static let unprocessableContent: Status = 422
    public static let tooManyRequests: Status = 429
    public static let internalServerError: Status = 500
    public static let notImplemented: Status = 501
    public static let badGateway: Status = 502
    public static let serviceUnavailable: Status = 503
    public static let gatewayTimeout: Status = 504

    private static let reasons: [Int: String] = [
        200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 301: "Moved Permanently", 302: "Found",
        303: "See Other", 304: "Not Modified", 307: "Temporary Redirect", 308: "Permanent Redirect",
        400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
        406: "Not Acceptable", 409: "Conflict", 410: "Gone", 413: "Content Too Large", 415: "Unsupported Media Type",
        422: "Unprocessable Content", 429: "Too Many Requests", 500: "Internal Server Error",
        501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    ]
}

