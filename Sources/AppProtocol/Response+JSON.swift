#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Response {
    /// An `application/json` response with `value` encoded by `encoder` (Foundation's JSON coder; by
    /// default one with sorted keys, so equal values give equal bytes).
    ///
    /// ```swift
    /// return try .json(item, status: .created)
    /// ```
    public static func json(
        _ value: some Encodable, status: Status = .ok, encoder: JSONEncoder? = nil
    ) throws -> Response {
        let data = try (encoder ?? sortedKeysEncoder()).encode(value)
        return Response(status: status, headers: ["Content-Type": "application/json"], body: .bytes(Array(data)))
    }
}

/// The encoder `Response.json` and `BodyWriter.writeJSONLine` use unless given one.
func sortedKeysEncoder() -> JSONEncoder {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    return encoder
}
