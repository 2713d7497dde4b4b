@testable import AppProtocol
import Testing

struct Item: Codable, Equatable {
    var name: String
    var price: Double
    var tags: [String]
}

private func jsonRequest(_ text: String, contentType: String? = "application/json") -> Request {
    var headers = Headers()
    if let contentType { headers["Content-Type"] = contentType }
    return Request(method: "POST", target: "/items", headers: headers, body: .bytes(Array(text.utf8)))
}

private func decodeFailure(_ request: Request, limit: Int = 1 << 20) async -> HTTPError? {
    do {
        _ = try await request.decode(Item.self, limit: limit)
        return nil
    } catch {
        return error as? HTTPError
    }
}

/// A synchronous caller gets the blocking `decode`.
private func decodeBlocking(_ request: Request) throws -> Item { try request.decode(Item.self) }

@Suite struct JSONTests {
    @Test func encodesWithStatusAndContentType() throws {
        let response = try Response.json(Item(name: "pen", price: 1.5, tags: []), status: .created)
        #expect(response.status == .created)
        #expect(response.status.code == 201)
        #expect(response.headers["Content-Type"] == "application/json")
        guard case .bytes(let bytes) = response.body else { Issue.record("not bytes"); return }
        #expect(String(decoding: bytes, as: UTF8.self).contains(#""name":"pen""#))
    }

    @Test func decodesAsyncAndBlocking() async throws {
        let text = #"{"name": "pen", "price": 1.5, "tags": ["a"]}"#
        #expect(try await jsonRequest(text).decode(Item.self) == Item(name: "pen", price: 1.5, tags: ["a"]))
        #expect(try decodeBlocking(jsonRequest(text, contentType: "application/vnd.api+json; charset=utf-8")).tags == ["a"])
    }

    @Test func decodingErrorsAre400InWords() async {
        let missing = await decodeFailure(jsonRequest(#"{"price": 1, "tags": []}"#))
        #expect(missing?.status == .badRequest)
        #expect(missing?.message == #"invalid JSON body: missing field "name""#)
        let wrongType = await decodeFailure(jsonRequest(#"{"name": "a", "price": "cheap", "tags": []}"#))
        #expect(wrongType?.message == #"invalid JSON body: field "price": expected a number"#)
        let nested = await decodeFailure(jsonRequest(#"{"name": "a", "price": 1, "tags": ["x", 2]}"#))
        #expect(nested?.message == #"invalid JSON body: field "tags[1]": expected a string"#)
        let broken = await decodeFailure(jsonRequest(#"{"name": "#))
        #expect(broken?.status == .badRequest)
        #expect(broken?.message?.hasPrefix("invalid JSON body: not valid JSON") == true)
    }

    @Test func wrongContentTypeIs415AndOversizedIs413() async {
        let form = await decodeFailure(jsonRequest("{}", contentType: "application/x-www-form-urlencoded"))
        #expect(form?.status == .unsupportedMediaType)
        #expect(form?.message?.contains("application/x-www-form-urlencoded") == true)
        #expect(await decodeFailure(jsonRequest("{}", contentType: nil))?.status == .unsupportedMediaType)
        let large = await decodeFailure(jsonRequest(#"{"name": "a long name", "price": 1, "tags": []}"#), limit: 8)
        #expect(large?.status == .contentTooLarge)
    }
}

@Suite struct ResponseTests {
    @Test func headersBySubscriptAndNamedStatuses() {
        var response = Response.text("hi", status: .notFound)
        response.headers["X-Request-Id"] = "1"
        response.headers["x-request-id"] = "2"
        #expect(response.headers.values(for: "X-Request-Id") == ["2"])
        response.headers["X-Request-Id"] = nil
        #expect(!response.headers.contains("X-Request-Id"))
        #expect(response.status == 404)
        #expect(response.status.description == "404 Not Found")
        #expect(Status(code: 599).description == "599")
    }

    @Test func httpErrorCarriesStatusMessageAndHeaders() {
        let error = HTTPError(.unauthorized, message: "log in first", headers: ["WWW-Authenticate": "Bearer"])
        let response = error.response
        #expect(response.status == .unauthorized)
        #expect(response.headers["WWW-Authenticate"] == "Bearer")
        guard case .bytes(let bytes) = response.body else { Issue.record("not bytes"); return }
        #expect(String(decoding: bytes, as: UTF8.self) == "log in first\n")
        guard case .bytes(let plain) = HTTPError(.conflict).response.body else { return }
        #expect(String(decoding: plain, as: UTF8.self) == "Conflict\n")
    }
}
