@testable import AppProtocol
import Testing
import TestSupport

private func body(_ response: Response) -> String {
    guard case .bytes(let bytes) = response.body else { return "" }
    return String(decoding: bytes, as: UTF8.self)
}

private func status(of error: Error) -> Status? { (error as? HTTPError)?.status }

@Suite struct RouterTests {
    static func router() -> Router {
        let router = Router()
        router.get("/") { _ in .text("root") }
        router.get("/items/:id") { request in .text("item \(try request.parameters.require("id", as: Int.self))") }
        router.get("/items/new") { _ in .text("new form") }
        router.delete("/items/:id") { request in .text("deleted \(request.parameters["id"] ?? "?")") }
        router.get("/files/*") { request in .text("file \(request.parameters.wildcard ?? "-")") }
        router.head("/head-only") { _ in Response(status: .noContent) }
        return router
    }

    @Test func parametersLiteralsAndSpecificity() async throws {
        let router = Self.router()
        #expect(body(try await router.respond(to: Request(method: "GET", target: "/"))) == "root")
        #expect(body(try await router.respond(to: Request(method: "GET", target: "/items/42"))) == "item 42")
        // A literal segment beats a parameter whatever the registration order.
        #expect(body(try await router.respond(to: Request(method: "GET", target: "/items/new"))) == "new form")
        #expect(body(try await router.respond(to: Request(method: "DELETE", target: "/items/7/"))) == "deleted 7")
        // Segments are decoded after the split: %2F stays inside one.
        #expect(body(try await router.respond(to: Request(method: "DELETE", target: "/items/a%2Fb"))) == "deleted a/b")
    }

    @Test func trailingWildcard() async throws {
        let router = Self.router()
        #expect(body(try await router.respond(to: Request(method: "GET", target: "/files/a/b%20c.txt?x=1"))) == "file a/b c.txt")
        #expect(body(try await router.respond(to: Request(method: "GET", target: "/files"))) == "file ")
    }

    @Test func notFoundAndMethodNotAllowedWithAllow() async throws {
        let router = Self.router()
        do {
            _ = try await router.respond(to: Request(method: "GET", target: "/nope"))
            Issue.record("expected 404")
        } catch let error as HTTPError {
            #expect(error.status == .notFound)
        }
        do {
            _ = try await router.respond(to: Request(method: "PUT", target: "/items/3"))
            Issue.record("expected 405")
        } catch let error as HTTPError {
            #expect(error.status == .methodNotAllowed)
            #expect(error.headers["Allow"] == "DELETE, GET, HEAD")
            #expect(error.response.headers["Allow"] == "DELETE, GET, HEAD")
            #expect(error.response.status == 405)
        }
    }

    @Test func aMethodNothingImplementsIs501() async throws {
        let router = Self.router()
        for method in ["FOO", "get"] {
            await #expect { try await router.respond(to: Request(method: method, target: "/items/3")) } throws: {
                status(of: $0) == .notImplemented
            }
        }
        // A method a route uses is known: elsewhere it is 405.
        router.on("PURGE", "/cache") { _ in .text("purged") }
        await #expect { try await router.respond(to: Request(method: "PURGE", target: "/items/3")) } throws: {
            status(of: $0) == .methodNotAllowed
        }
        #expect(body(try await router.respond(to: Request(method: "PURGE", target: "/cache"))) == "purged")
    }

    @Test func headIsAnsweredByGetUnlessAHeadRouteExists() async throws {
        let router = Self.router()
        #expect(body(try await router.respond(to: Request(method: "HEAD", target: "/items/5"))) == "item 5")
        #expect(try await router.respond(to: Request(method: "HEAD", target: "/head-only")).status == .noContent)
    }

    @Test func badParameterIs400() async throws {
        let router = Self.router()
        await #expect { try await router.respond(to: Request(method: "GET", target: "/items/x")) } throws: {
            status(of: $0) == .badRequest && "\($0)".contains("path parameter id")
        }
    }

    @Test func groupsHaveTheirOwnMiddlewareInOrder() async throws {
        let router = Router()
        router.get("/open") { _ in .text("open") }
        let admin = router.group("/admin").using(Stamp(name: "outer"), Stamp(name: "inner"))
        admin.get("/users/:name") { request in
            .text("\(request.headers.values(for: "X-Seen").joined(separator: ",")) \(request.parameters["name"] ?? "")")
        }
        admin.group("/deep").using(Gate()).get { _ in .text("deep") }
        let response = try await router.respond(to: Request(method: "GET", target: "/admin/users/ann"))
        // The first listed sees the request first and the response last.
        #expect(body(response) == "outer,inner ann")
        #expect(response.headers.values(for: "X-Stamp") == ["inner", "outer"])
        let open = try await router.respond(to: Request(method: "GET", target: "/open"))
        #expect(!open.headers.contains("X-Stamp"))
        await #expect { try await router.respond(to: Request(method: "GET", target: "/admin/deep")) } throws: {
            status(of: $0) == .forbidden
        }
        #expect(router.synchronousParts == ["middleware Gate (routes under /admin/deep)"])
    }

    /// A closure without `await` is a synchronous handler: the router runs it while resolving the
    /// request, so the exporter needs no task; one that awaits, or sits inside middleware, waits.
    @Test func aHandlerThatNeverWaitsIsAnsweredWhileResolving() throws {
        let router = Router()
        router.get("/now") { request in .text("now \(request.parameters.wildcard ?? "-")") }
        router.get("/items/:id") { request in .text("item \(try request.parameters.require("id", as: Int.self))") }
        router.get("/later") { _ in
            await Task.yield()
            return .text("later")
        }
        router.group("/stamped").using(Stamp(name: "s")).get("/now") { _ in .text("stamped") }

        func resolved(_ target: String) -> Router.Resolution { router.resolve(Request(method: "GET", target: target)) }
        guard case .answered(.success(let now)) = resolved("/now") else { Issue.record("/now waits"); return }
        #expect(body(now) == "now -")
        guard case .answered(.success(let item)) = resolved("/items/7") else { Issue.record("/items/7 waits"); return }
        #expect(body(item) == "item 7")
        // The handler's error and the routing's own are answers too.
        guard case .answered(.failure(let bad)) = resolved("/items/x") else { Issue.record("/items/x"); return }
        #expect(status(of: bad) == .badRequest)
        guard case .answered(.failure(let missing)) = resolved("/nowhere") else { Issue.record("/nowhere"); return }
        #expect(status(of: missing) == .notFound)
        guard case .waits(_, let later) = resolved("/later") else { Issue.record("/later answered"); return }
        #expect(later.path == "/later")
        guard case .waits = resolved("/stamped/now") else { Issue.record("/stamped/now answered"); return }
    }

    @Test func aSynchronousHandlerInsideMiddlewareRunsThroughIt() async throws {
        let router = Router()
        router.group("/stamped").using(Stamp(name: "s")).get("/:name") { request in .text("hi \(request.parameters["name"] ?? "")") }
        let response = try await router.respond(to: Request(method: "GET", target: "/stamped/ann"))
        #expect(body(response) == "hi ann")
        #expect(response.headers.values(for: "X-Stamp") == ["s"])
    }
}

struct Stamp: AsyncMiddleware {
    let name: String
    func respond(to request: Request, next: (Request) async throws -> Response) async throws -> Response {
        var headers = request.headers
        headers.add("X-Seen", name)
        var response = try await next(Request(method: request.method, target: request.target, headers: headers))
        response.headers.add("X-Stamp", name)
        return response
    }
}

/// A synchronous middleware that refuses everything.
struct Gate: Middleware {
    func respond(to request: Request, next: (Request) throws -> Response) throws -> Response {
        throw HTTPError(.forbidden, message: "closed")
    }
}

@Suite struct RouterLifespanTests {
    final class Journal: @unchecked Sendable {
        // Only the test's task touches it, one hook at a time.
        var entries: [String] = []
    }

    @Test func hooksRunInOrderAndShutdownInReverse() async throws {
        let journal = Journal()
        let router = Router()
        router.onStartup { journal.entries.append("open db") }
        router.onStartup { journal.entries.append("warm cache") }
        router.onShutdown { journal.entries.append("close db") }
        router.onShutdown { journal.entries.append("flush cache") }
        try await router.startup()
        try await router.shutdown()
        #expect(journal.entries == ["open db", "warm cache", "flush cache", "close db"])
        router.onStartup { throw HTTPError(.serviceUnavailable, message: "db down") }
        await #expect(throws: HTTPError.self) { try await router.startup() }
    }

    /// The route tree against the rule it implements, stated plainly: among the routes whose
    /// pattern matches and whose method fits (GET answers HEAD when no HEAD route does), the most
    /// specific pattern wins — literal 2, parameter 1, wildcard 0, compared from the left, a
    /// pattern beating its own prefix — then the request's own method, then the first added.
    @Test func theTreeFindsWhatTryingEveryRouteFinds() async throws {
        var generator = SplitMix(seed: 0x5eed)
        let literals = ["a", "b", "c"]
        func weights(_ pattern: [String]) -> [Int] { pattern.map { $0 == "*" ? 0 : $0.hasPrefix(":") ? 1 : 2 } }
        func matches(_ pattern: [String], _ segments: [String]) -> Bool {
            if pattern.last == "*" {
                guard segments.count >= pattern.count - 1 else { return false }
            } else if segments.count != pattern.count {
                return false
            }
            for (index, part) in pattern.enumerated() where part != "*" && !part.hasPrefix(":") {
                if segments[index] != part { return false }
            }
            return true
        }
        for round in 0..<300 {
            let router = Router()
            var routes: [(method: String, pattern: [String], name: String)] = []
            for index in 0..<Int(generator.next() % 12 + 1) {
                var pattern: [String] = []
                for _ in 0..<Int(generator.next() % 4) {
                    switch generator.next() % 4 {
                    case 0: pattern.append(":p\(generator.next() % 2)")
                    default: pattern.append(literals[Int(generator.next() % 3)])
                    }
                }
                if generator.next() % 4 == 0 { pattern.append("*") }
                let method = ["GET", "HEAD", "POST"][Int(generator.next() % 3)]
                let name = "route \(index)"
                routes.append((method, pattern, name))
                router.on(method, "/" + pattern.joined(separator: "/")) { _ in .text(name) }
            }
            for _ in 0..<20 {
                let segments = (0..<Int(generator.next() % 4)).map { _ in literals[Int(generator.next() % 3)] }
                let method = ["GET", "HEAD", "POST", "PUT"][Int(generator.next() % 4)]
                var best: (method: String, pattern: [String], name: String)?
                for route in routes where matches(route.pattern, segments) {
                    guard route.method == method || (method == "HEAD" && route.method == "GET") else { continue }
                    guard let current = best else {
                        best = route
                        continue
                    }
                    let (a, b) = (weights(route.pattern), weights(current.pattern))
                    if b.lexicographicallyPrecedes(a) || (a == b && route.method == method && current.method != method) {
                        best = route
                    }
                }
                let target = "/" + segments.joined(separator: "/")
                let found: String
                do {
                    found = body(try await router.respond(to: Request(method: method, target: target)))
                } catch let error as HTTPError {
                    found = "\(error.status.code)"
                }
                let pathMatches = routes.contains { matches($0.pattern, segments) }
                let expected = best?.name ?? (pathMatches ? "405" : "404")
                #expect(found == expected, "round \(round): \(method) \(target) with \(routes)")
            }
        }
    }
}
