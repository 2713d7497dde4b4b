import TestSupport
import Testing
@testable import TLS

@Suite struct ServerNameRouterTests {
    let first = OpaquePointer(bitPattern: 0x1000)!
    let second = OpaquePointer(bitPattern: 0x2000)!

    var router: ServerNameRouter {
        ServerNameRouter(routes: [
            (names: ["api.example.com", "*.example.com"], context: first),
            (names: ["www.example.com", "Example.ORG"], context: second),
        ], sessionContext: [])
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

    /// The body of a ClientHello's server_name extension (RFC 6066 §3).
    func hostName(_ bytes: [UInt8]) -> String? {
        bytes.withUnsafeBytes { ServerNameRouter.hostName(inExtension: $0) }
    }

    @Test func theHostNameIsReadFromTheExtension() {
        let name = Array("api.example.com".utf8)
        let entry = [0, 0, UInt8(name.count)] + name
        #expect(hostName([0, UInt8(entry.count)] + entry) == "api.example.com")
        // An entry of another type comes first and is skipped.
        let other = [7, 0, 2, 0x61, 0x62] as [UInt8]
        #expect(hostName([0, UInt8(other.count + entry.count)] + other + entry) == "api.example.com")
    }

    @Test func malformedExtensionsNameNothing() {
        let name = Array("a.test".utf8)
        let entry = [0, 0, UInt8(name.count)] + name
        #expect(hostName([]) == nil)
        #expect(hostName([0]) == nil)
        // The list's length disagrees with the body.
        #expect(hostName([0, UInt8(entry.count + 1)] + entry) == nil)
        // The name runs past the end.
        #expect(hostName([0, UInt8(entry.count)] + [0, 0, UInt8(name.count + 1)] + name) == nil)
        // Empty and NUL-carrying names.
        #expect(hostName([0, 3, 0, 0, 0]) == nil)
        #expect(hostName([0, 5, 0, 0, 2, 0x61, 0]) == nil)
    }

    @Test(.enabled(if: Requirement.libssl, "needs libssl.so.3 (Debian: libssl3)"))
    func eachNameHasItsOwnSessionContext() throws {
        try TLSLibrary.system.load()
        let router = ServerNameRouter(routes: [], sessionContext: [1, 2, 3])
        let alpha = try #require(router.sessionContext(for: "alpha.test"))
        #expect(alpha.count == 32)
        #expect(router.sessionContext(for: "Alpha.Test.") == alpha)
        #expect(router.sessionContext(for: "beta.test") != alpha)
        #expect(ServerNameRouter(routes: [], sessionContext: [1, 2, 4]).sessionContext(for: "alpha.test") != alpha)
    }
}
