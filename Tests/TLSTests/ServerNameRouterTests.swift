import Testing
@testable import TLS

@Suite struct ServerNameRouterTests {
    let first = OpaquePointer(bitPattern: 0x1000)!
    let second = OpaquePointer(bitPattern: 0x2000)!

    var router: ServerNameRouter {
        ServerNameRouter(routes: [
            (names: ["api.example.com", "*.example.com"], context: first),
            (names: ["www.example.com", "Example.ORG"], context: second),
        ])
    }

    @Test func exactNamesWinOverWildcards() {
        #expect(router.context(for: "www.example.com") == second)
        #expect(router.context(for: "api.example.com") == first)
        #expect(router.context(for: "shop.example.com") == first)
    }

    @Test func namesCompareWithoutCaseOrTrailingDot() {
        #expect(router.context(for: "example.org") == second)
        #expect(router.context(for: "EXAMPLE.org.") == second)
        #expect(router.context(for: "Shop.Example.Com") == first)
    }

    @Test func aWildcardCoversExactlyOneLabel() {
        #expect(router.context(for: "example.com") == nil)
        #expect(router.context(for: "a.b.example.com") == nil)
        #expect(router.context(for: "badexample.com") == nil)
        #expect(router.context(for: "other.test") == nil)
    }

    @Test func patterns() {
        for valid in ["example.com", "*.example.com", "localhost", "a-b.c_d.test"] {
            #expect(ServerNameRouter.isValidPattern(valid), "\(valid)")
        }
        for invalid in ["", "*", "*.", "a..b", ".a", "a b", "*.*.test", "a.*.test", String(repeating: "a", count: 64) + ".test"] {
            #expect(!ServerNameRouter.isValidPattern(invalid), "\(invalid)")
        }
    }
}
