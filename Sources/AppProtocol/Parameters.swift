/// The values a route's pattern captured: `:name` segments and the trailing `*`.
public struct Parameters: Sendable {
    var values: [(name: String, value: String)] = []

    /// What the trailing `*` of the route matched (`a/b.txt` for `/files/*` and `/files/a/b.txt`),
    /// percent-decoded segment by segment; nil when the route has no wildcard.
    public internal(set) var wildcard: String?

    public init() {}

    /// The percent-decoded value of `:name`, or nil.
    public subscript(name: String) -> String? {
        values.first { $0.name == name }?.value
    }

    /// The value of `:name` converted to `T`, or an `HTTPError` 400 naming the parameter.
    ///
    /// ```swift
    /// let id = try request.parameters.require("id", as: Int.self)
    /// ```
    public func require<T: LosslessStringConvertible>(_ name: String, as type: T.Type = String.self) throws -> T {
        guard let text = self[name] else {
            throw HTTPError(.internalServerError, message: "the route has no parameter :\(name)")
        }
        guard let value = T(text) else {
            throw HTTPError(.badRequest, message: "path parameter \(name) = \"\(text)\" is not a valid \(T.self)")
        }
        return value
    }
}
