/// A request the server refuses, with the status it answers before closing the connection.
///
/// Every parse error maps to a status through this one type (no ladder of casts at the call site).
public struct HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    public let status: Int
    public let reason: String

    public init(_ status: Int, _ reason: String) {
        self.status = status
        self.reason = reason
    }

    public static func badRequest(_ reason: String) -> HTTPError { HTTPError(400, reason) }
    public static func uriTooLong(_ reason: String) -> HTTPError { HTTPError(414, reason) }
    public static func fieldsTooLarge(_ reason: String) -> HTTPError { HTTPError(431, reason) }
    public static func contentTooLarge(_ reason: String) -> HTTPError { HTTPError(413, reason) }
    public static func notImplemented(_ reason: String) -> HTTPError { HTTPError(501, reason) }
    public static func versionNotSupported(_ reason: String) -> HTTPError { HTTPError(505, reason) }

    public var description: String { "\(status) \(HTTPStatus.reasonPhrase(status)): \(reason)" }
}
