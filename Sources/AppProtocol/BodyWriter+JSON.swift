#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension BodyWriter {
    /// Writes `value` as one line of JSON (newline-delimited JSON, `application/x-ndjson`).
    /// The default encoder sorts keys, like `Response.json`.
    public func writeJSONLine(_ value: some Encodable, encoder: JSONEncoder? = nil) async throws {
        var bytes = Array(try (encoder ?? sortedKeysEncoder()).encode(value))
        bytes.append(UInt8(ascii: "\n"))
        try await write(bytes)
    }
}
