#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Response {
    /// An `application/json` response with `value` encoded by `encoder` (Foundation's JSON coder).
    ///
    /// ```swift
    /// return try .json(item, status: .created)
    /// ```
    public static func json(
        _ value: some Encodable, status: Status = .ok, encoder: JSONEncoder = JSONEncoder()
    ) throws -> Response {
        let data = try encoder.encode(value)
        return Response(status: status, headers: ["Content-Type": "application/json"], body: .bytes(Array(data)))
    }
}
