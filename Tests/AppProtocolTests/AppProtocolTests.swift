@testable import AppProtocol
import Testing

@Suite struct HeadersTests {
    @Test func lookupIsCaseInsensitiveAndKeepsDuplicatesInOrder() {
        var headers: Headers = ["Content-Type": "text/plain"]
        headers.add("Set-Cookie", "a=1")
        headers.add("set-cookie", "b=2")
        #expect(headers["content-type"] == "text/plain")
        #expect(headers.values(for: "SET-COOKIE") == ["a=1", "b=2"])
        #expect(headers.map(\.name) == ["Content-Type", "Set-Cookie", "set-cookie"])
        headers.set("SET-COOKIE", "c=3")
        #expect(headers.values(for: "Set-Cookie") == ["c=3"])
        headers.remove("content-TYPE")
        #expect(!headers.contains("Content-Type"))
        #expect(headers.count == 1)
    }
}

@Suite struct RequestTests {
    @Test func pathAndQueryAreDecodedOnDemand() {
        let request = Request(method: "GET", target: "/caf%C3%A9/a%20b?q=swift+server&x=%2F&flag&q=2")
        #expect(request.rawPath == "/caf%C3%A9/a%20b")
        #expect(request.path == "/café/a b")
        #expect(request.query["q"] == "swift server")
        #expect(request.query.values(for: "q") == ["swift server", "2"])
        #expect(request.query["x"] == "/")
        #expect(request.query["flag"] == "")
        #expect(request.query["missing"] == nil)
        // Without a query the path is the whole target (short and long strings are stored apart).
        #expect(Request(method: "GET", target: "/").rawPath == "/")
        #expect(Request(method: "GET", target: "/a%20long/path/past/fifteen/bytes").rawPath == "/a%20long/path/past/fifteen/bytes")
        #expect(Request(method: "GET", target: "/a%20long/path/past/fifteen/bytes").path == "/a long/path/past/fifteen/bytes")
        #expect(Request(method: "GET", target: "/x?").rawPath == "/x")
        #expect(Request(method: "OPTIONS", target: "*").rawPath == "*")
        #expect(Request(method: "GET", target: "/x?").query.raw == "")
        #expect(Request(method: "GET", target: "/a/long/path/past/fifteen/bytes?k=v").query["k"] == "v")
        // `?` after a prepended mark (U+0600) does not start a character: the split is by bytes.
        let prepended = Request(method: "GET", target: "/\u{600}?a=1")
        #expect(prepended.rawPath == "/\u{600}")
        #expect(prepended.query["a"] == "1")
    }

    @Test func absoluteFormTargets() {
        let request = Request(method: "GET", target: "http://example.com/a/b?c=d")
        #expect(request.path == "/a/b")
        #expect(request.query["c"] == "d")
        #expect(Request(method: "GET", target: "http://example.com").path == "/")
    }

    @Test func bodiesFromBytes() async throws {
        let body = RequestBody.bytes(Array("hello".utf8))
        #expect(try await body.collect() == Array("hello".utf8))
        #expect(try body.read() == Array("hello".utf8))
        await #expect(throws: ExchangeError.bodyTooLarge(limit: 3)) { try await body.collect(upTo: 3) }
    }
}

struct Plain: Application {
    func respond(to request: Request) throws -> Response { .text("plain") }
}

struct Tagging: Middleware {
    func respond(to request: Request, next: (Request) throws -> Response) throws -> Response {
        var response = try next(request)
        response.headers.add("X-Sync", "1")
        return response
    }
}

struct AsyncTagging: AsyncMiddleware {
    func respond(to request: Request, next: (Request) async throws -> Response) async throws -> Response {
        var response = try await next(request)
        response.headers.add("X-Async", "1")
        return response
    }
}

@Suite struct MiddlewareTests {
    @Test func chainsRecordTheirSynchronousParts() async throws {
        let adapted = Plain().using(AsyncTagging())
        #expect(adapted.synchronousParts == ["application Plain"])
        #expect(adapted.chainName == "Plain (middleware: AsyncTagging)")
        let response = try await adapted.respond(to: Request(method: "GET", target: "/"))
        #expect(response.headers["X-Async"] == "1")

        // Running a synchronous middleware inside an asynchronous chain blocks on Runtime's
        // executor, which in-process worker tests of this test binary may have left installed:
        // its run is covered by the integration tests (fixtures:layered, fixtures:logged_sleeper).
        let layered = Plain().using(AsyncTagging()).using(Tagging())
        #expect(layered.synchronousParts == ["middleware Tagging", "application Plain"])
        #expect(layered.chainName == "Plain (middleware: Tagging, AsyncTagging)")
    }
}

@Suite struct MiddlewareOrderTests {
    @Test func severalMiddlewareFirstListedIsOutermost() async throws {
        let chain = AsyncHandler { _ in .text("x") }.using(Stamp(name: "a"), Stamp(name: "b"))
        #expect(chain.middlewareNames == ["Stamp", "Stamp"])
        #expect(try await chain.respond(to: Request(method: "GET", target: "/")).headers.values(for: "X-Stamp") == ["b", "a"])
        let sync = Plain().using(Tagging(), Tagging())
        #expect(try sync.respond(to: Request(method: "GET", target: "/")).headers.values(for: "X-Sync") == ["1", "1"])
    }

    @Test func synchronousMiddlewareKeepsAnAsyncChainAsync() {
        let chain = AsyncHandler { _ in .text("x") }.using(Tagging())
        // The chain stays an AsyncChain: only the middleware is synchronous, and it is named.
        #expect(chain.synchronousParts == ["middleware Tagging"])
        #expect(chain.middlewareNames == ["Tagging"])
    }
}
