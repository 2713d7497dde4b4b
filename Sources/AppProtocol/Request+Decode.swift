#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension Request {
    /// Reads the body (at most `limit` bytes) and decodes it as JSON.
    ///
    /// Every way it can fail is an `HTTPError` the client gets instead of a 500: a Content-Type that
    /// is not JSON is 415, a body over `limit` is 413, and JSON that does not decode is 400 with the
    /// problem in words (`missing field "name"`, `field "price": expected a number`).
    public func decode<T: Decodable>(
        _ type: T.Type, limit: Int = 1 << 20, decoder: JSONDecoder = JSONDecoder()
    ) async throws -> T {
        try requireJSONContentType()
        let bytes: [UInt8]
        do { bytes = try await body.collect(upTo: limit) } catch ExchangeError.bodyTooLarge(let limit) {
            throw Self.tooLarge(limit)
        }
        return try Self.decode(type, from: bytes, decoder: decoder)
    }

    /// The blocking form of `decode(_:limit:decoder:)`, for synchronous applications and middleware.
    public func decode<T: Decodable>(
        _ type: T.Type, limit: Int = 1 << 20, decoder: JSONDecoder = JSONDecoder()
    ) throws -> T {
        try requireJSONContentType()
        let bytes: [UInt8]
        do { bytes = try body.read(upTo: limit) } catch ExchangeError.bodyTooLarge(let limit) {
            throw Self.tooLarge(limit)
        }
        return try Self.decode(type, from: bytes, decoder: decoder)
    }

    /// Whether the Content-Type is `application/json` or a `+json` type (RFC 6839 §3.1).
    var hasJSONContentType: Bool {
        guard let field = headers["Content-Type"] else { return false }
        let mediaType = String(field.prefix { $0 != ";" }.filter { $0 != " " && $0 != "\t" }).lowercased()
        return mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"))
    }

    private func requireJSONContentType() throws {
        guard hasJSONContentType else {
            let sent = headers["Content-Type"].map { "got \($0)" } ?? "none was sent"
            throw HTTPError(.unsupportedMediaType, message: "expected Content-Type: application/json (\(sent))")
        }
    }

    private static func tooLarge(_ limit: Int) -> HTTPError {
        HTTPError(.contentTooLarge, message: "the request body is larger than \(limit) bytes")
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], decoder: JSONDecoder) throws -> T {
        do {
            return try decoder.decode(type, from: Data(bytes))
        } catch let error as DecodingError {
            throw HTTPError(.badRequest, message: "invalid JSON body: \(describe(error))")
        }
    }

    /// A decoding error in words, naming the field by its path (`items[2].price`).
    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            var out = ""
            for key in keys {
                if let index = key.intValue { out += "[\(index)]" } else { out += (out.isEmpty ? "" : ".") + key.stringValue }
            }
            return out
        }
        func field(_ keys: [any CodingKey]) -> String { keys.isEmpty ? "the body" : "field \"\(path(keys))\"" }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field \"\(path(context.codingPath + [key]))\""
        case .typeMismatch(let type, let context):
            return "\(field(context.codingPath)): expected \(expected(type))"
        case .valueNotFound(let type, let context):
            return "\(field(context.codingPath)) is null, expected \(expected(type))"
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "not valid JSON (\(context.debugDescription))" }
            return "\(field(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func expected(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is Int.Type, is Int64.Type, is Int32.Type, is UInt.Type, is UInt64.Type: "a whole number"
        case is Double.Type, is Float.Type: "a number"
        default:
            String(describing: type).hasPrefix("Array") ? "an array" : (String(describing: type).hasPrefix("Dictionary") ? "an object" : String(describing: type))
        }
    }
}
