import HTTP1
import Testing

/// Request targets, Host values and versions (RFC 9112 §2.3, §3.2; RFC 9110 §2.5, §4.2).
@Suite struct RequestTargetTests {
    @Test(arguments: [
        ("GET HTTP://x/a?b=1 HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        ("GET hTtPs://x HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        ("GET /a#frag HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET http://x/#f HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET http://user@x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
        ("GET /a?b=%00 HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: user@x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: x:80a\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: \r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: ex-ample.com:8000\r\n\r\n", 200),
        // Every unreserved, percent and sub-delim character a reg-name may hold (RFC 3986 §3.2.2); others not.
        ("GET / HTTP/1.1\r\nHost: a-._~%41!$&'()*+,;=b\r\n\r\n", 200),
        ("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a<b\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 200),
        ("GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400),
    ])
    func targetsAndHosts(raw: String, expected: Int) {
        #expect(status(raw) == expected, "\(raw.debugDescription)")
    }

    @Test func aHigherMinorVersionIsServedAsHTTP11() throws {
        let h = try head("GET / HTTP/1.2\r\nHost: x\r\n\r\n")
        #expect(h.version == .http11)
        #expect(h.keepAlive)
    }

    @Test(arguments: [
        ("/info?a=/x", "/info", "a=/x"),
        ("/", "/", ""),
        ("http://x?a=/info", "/", "a=/info"),
        ("HTTP://x/info?q", "/info", "q"),
        ("https://x:8443/a/b", "/a/b", ""),
        ("*", "*", ""),
    ])
    func pathAndQuery(target: String, path: String, query: String) {
        let parts = RequestTarget.pathAndQuery(of: target)
        #expect(parts.path == path)
        #expect(parts.query == query)
    }

    @Test func everyFieldCountsAgainstTheLimitEvenDroppedOnes() {
        let underscores = (0..<150).map { "X_Field_\($0): v\r\n" }.joined()
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n\(underscores)\r\n") == 431)
        let few = (0..<10).map { "X_Field_\($0): v\r\n" }.joined()
        #expect(status("GET / HTTP/1.1\r\nHost: x\r\n\(few)\r\n") == 200)
    }
}
