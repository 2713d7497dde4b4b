/// An error that is an HTTP answer: thrown from a handler or middleware, it is sent to the client
/// with its status, its headers and its message as a `text/plain` body (unless a response was
/// already started, in which case the connection is aborted).
///
/// ```swift
/// guard let item = store[id] else { throw HTTPError(.notFound, message: "no item \(id)") }
/// ```
///
/// Any other error thrown by the application is logged and answered with 500, without its text
/// (it may hold internals the client should not see).
public struct HTTPError: Error, Sendable, CustomStringConvertible {
    public var status: Status
    /// Sent to the client as the body; the status's reason phrase when nil.
    public var message: String?
    /// Extra fields for the error response (e.g. `Allow` with 405, `WWW-Authenticate` with 401).
    public var headers: Headers

    public init(_ status: Status, message: String? = nil, headers: Headers = Headers()) {
        self.status = status
        self.message = message
        self.headers = headers
    }

    public var description: String { message.map { "\(status): \($0)" } ?? status.description }

    /// The error as the response the client gets.
    public var response: Response {
        var response = Response.text((message ?? status.reasonPhrase) + "\n", status: status)
        for field in headers { response.headers.set(field.name, field.value) }
        return response
    }
}
