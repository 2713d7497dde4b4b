import Glibc
import Platform
import Testing
import TestSupport

/// Raw requests and the exact status each must get (RFC 9112 framing and syntax, limits).
let hardeningCases: [(name: String, raw: String, status: Int)] = {
    let host = "Host: a\r\n"
    return [
        ("CL with TE", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("duplicate CL", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 1\r\nContent-Length: 1\r\n\r\na", 400),
        ("CL list", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 1, 1\r\n\r\na", 400),
        ("signed CL +", "POST /echo HTTP/1.1\r\n\(host)Content-Length: +1\r\n\r\na", 400),
        ("signed CL -", "POST /echo HTTP/1.1\r\n\(host)Content-Length: -1\r\n\r\na", 400),
        ("hex CL", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 0x1\r\n\r\na", 400),
        ("unknown coding", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: gzip\r\n\r\n", 501),
        ("coding before chunked", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        ("chunked not final", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked, gzip\r\n\r\n", 400),
        ("chunked twice", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("chunked on 1.0", "POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        ("negative chunk size", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400),
        ("junk chunk size", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5x\r\nhello\r\n0\r\n\r\n", 400),
        ("overflowing chunk size", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n", 400),
        ("over-long size line", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n1;\(String(repeating: "x", count: 2000))\r\na\r\n0\r\n\r\n", 400),
        ("chunk without CRLF", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n", 400),
        ("forbidden trailer", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nContent-Length: 5\r\n\r\n", 400),
        ("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),
        ("NUL in value", "GET / HTTP/1.1\r\n\(host)X-A: a\u{0}b\r\n\r\n", 400),
        ("bare CR in value", "GET / HTTP/1.1\r\n\(host)X-A: a\rb\r\n\r\n", 400),
        ("bare LF", "GET / HTTP/1.1\r\n\(host)X-A: a\nX-B: b\r\n\r\n", 400),
        ("obs-fold", "GET / HTTP/1.1\r\n\(host)X-A: a\r\n  folded\r\n\r\n", 400),
        ("no Host on 1.1", "GET / HTTP/1.1\r\n\r\n", 400),
        ("two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("two Hosts on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        ("whitespace after chunk size", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400),
        ("asterisk with GET", "GET * HTTP/1.1\r\n\(host)\r\n", 400),
        ("authority-form with GET", "GET example.com:80 HTTP/1.1\r\n\(host)\r\n", 400),
        ("CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", 501),
        ("HTTP/2.0", "GET / HTTP/2.0\r\n\(host)\r\n", 505),
        ("HTTP/3.1", "GET / HTTP/3.1\r\n\(host)\r\n", 505),
        ("malformed version", "GET / HTTP/1\r\n\(host)\r\n", 400),
        ("request line too long", "GET /\(String(repeating: "a", count: 5000)) HTTP/1.1\r\n\(host)\r\n", 414),
        ("too many fields", "GET / HTTP/1.1\r\n\(host)" + (0..<101).map { "X-\($0): v\r\n" }.joined() + "\r\n", 431),
        ("field too large", "GET / HTTP/1.1\r\n\(host)X-A: \(String(repeating: "v", count: 9000))\r\n\r\n", 431),
        ("declared body too large", "POST /echo HTTP/1.1\r\n\(host)Content-Length: 11\r\n\r\n", 413),
        ("chunked body too large", "POST /echo HTTP/1.1\r\n\(host)Transfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n6\r\nworld!\r\n0\r\n\r\n", 413),
        ("OPTIONS *", "OPTIONS * HTTP/1.1\r\n\(host)\r\n", 404),
        ("absolute-form", "GET http://a/ HTTP/1.1\r\n\(host)\r\n", 200),
    ]
}()

extension Integration {
    @Suite struct Hardening {
        @Test(arguments: ["sync", "async"])
        func everyMalformedRequestGetsItsStatus(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--limit-request-body", "10"]) { server in
                for (name, raw, status) in hardeningCases {
                    let c = try HTTPConnection(port: server.port, timeout: 10)
                    try c.send(raw)
                    let response = try c.readResponse()
                    #expect(response.status == status, "\(name) (\(worker) worker)")
                    if status >= 400 && status != 404 {  // the server's own refusals close
                        #expect(response.header("Connection") == "close", "\(name)")
                        #expect(c.readUntilClosed().closed, "\(name): the connection closes")
                    }
                }
                let ok = try httpGet(port: server.port, "/")
                #expect(ok.status == 200)
            }
        }

        /// A refused upload still gets its answer: the server reads and drops what the client keeps
        /// sending instead of resetting the connection under it.
        @Test(arguments: ["sync", "async"])
        func aRefusedUploadGetsIts413(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--limit-request-body", "1000"]) { server in
                let c = try HTTPConnection(port: server.port)
                try c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 4000000\r\n\r\n")
                try c.send([UInt8](repeating: 0x61, count: 1_000_000))
                #expect(try c.readResponse().status == 413)
            }
        }

        /// A request smuggled behind a framing error is never parsed.
        @Test(arguments: ["sync", "async"])
        func nothingAfterAFramingErrorIsParsed(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                try c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /info HTTP/1.1\r\nHost: a\r\n\r\n")
                let (closed, data) = c.readUntilClosed()
                let text = String(decoding: data, as: UTF8.self)
                #expect(closed)
                #expect(text.hasPrefix("HTTP/1.1 400 "))
                #expect(text.occurrences(of: "HTTP/1.1") == 1)
            }
        }

        @Test(arguments: ["sync", "async"])
        func underscoreHeadersAreDropped(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                let info = try HTTPConnection(port: server.port).request("GET", "/info", headers: ["X_Forwarded_For: 6.6.6.6", "X-Kept: yes"])
                #expect(!info.text.contains("X_Forwarded_For"))
                #expect(info.text.contains(#"["X-Kept", "yes"]"#))
            }
            try withServer(["hello:application", "-k", worker, "--header-map", "refuse"]) { server in
                let refused = try HTTPConnection(port: server.port).request("GET", "/info", headers: ["X_A: 1"])
                #expect(refused.status == 400)
            }
        }

        @Test(arguments: ["sync", "async"])
        func slowHeadsAndBodiesTimeOut(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--header-timeout", "0.5", "--body-timeout", "0.5"]) { server in
                let head = try HTTPConnection(port: server.port)
                try head.send("GET / HTTP/1.1\r\nHost: a\r\nX-Slow:")
                #expect(try head.readResponse().status == 408)
                let silent = try HTTPConnection(port: server.port)
                #expect(silent.readUntilClosed().closed)
                let body = try HTTPConnection(port: server.port)
                try body.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
                #expect(try body.readResponse().status == 408)
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        /// Clients trickling their heads are held by the event loop, not by a request thread.
        @Test(arguments: ["sync", "async"])
        func tricklingClientsDoNotStarveRealOnes(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--threads", "1"]) { server in
                var tricklers: [HTTPConnection] = []
                for _ in 0..<50 {
                    let c = try HTTPConnection(port: server.port)
                    try c.send("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ")
                    tricklers.append(c)
                }
                for _ in 0..<5 {
                    let response = try httpGet(port: server.port, "/", timeout: 5)
                    #expect(response.status == 200)
                }
                _ = tricklers
            }
        }
    }

    @Suite struct Proxies {
        @Test(arguments: ["sync", "async"])
        func trustedForwardingHeadersSetClientAndScheme(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                let xff = try c.request("GET", "/info", headers: ["X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https"])
                #expect(xff.text.contains(#""remote_addr": "203.0.113.7""#))
                #expect(xff.text.contains(#""scheme": "https""#))
                let forwarded = try c.request("GET", "/info", headers: [#"Forwarded: for="[2001:db8::17]:4711";proto=https"#])
                #expect(forwarded.text.contains(#""remote_addr": "2001:db8::17""#))
                #expect(forwarded.text.contains(#""scheme": "https""#))
                let plain = try c.request("GET", "/info")
                #expect(plain.text.contains(#""remote_addr": "127.0.0.1""#))
                #expect(plain.text.contains(#""scheme": "http""#))
            }
        }

        @Test func theClientIsTheFirstUntrustedHopFromTheRight() throws {
            try withServer(["hello:application", "--forwarded-allow-ips", "127.0.0.1, 10.0.0.0/8"]) { server in
                let c = try HTTPConnection(port: server.port)
                let response = try c.request("GET", "/info", headers: ["X-Forwarded-For: 6.6.6.6, 198.51.100.9, 10.1.2.3"])
                #expect(response.text.contains(#""remote_addr": "198.51.100.9""#))
            }
        }

        @Test func untrustedPeersCannotSpoof() throws {
            try withServer(["hello:application", "--forwarded-allow-ips", "10.0.0.1"]) { server in
                let response = try HTTPConnection(port: server.port).request(
                    "GET", "/info", headers: ["X-Forwarded-For: 203.0.113.7", "X-Forwarded-Proto: https", "Forwarded: for=1.2.3.4"])
                #expect(response.text.contains(#""remote_addr": "127.0.0.1""#))
                #expect(response.text.contains(#""scheme": "http""#))
            }
        }

        @Test(arguments: ["sync", "async"])
        func proxyProtocolHeadersNameTheClient(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--proxy-protocol", "auto", "--forwarded-allow-ips", "10.9.9.9"]) { server in
                let v1 = try HTTPConnection(port: server.port)
                try v1.send("PROXY TCP4 192.0.2.1 192.0.2.2 56324 80\r\nGET /info HTTP/1.1\r\nHost: a\r\n\r\n")
                #expect(try v1.readResponse().text.contains(#""remote_addr": "192.0.2.1""#))
                let v2 = try HTTPConnection(port: server.port)
                let header: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C,
                                       198, 51, 100, 4, 192, 0, 2, 2, 0xDC, 0x04, 0x00, 0x50]
                try v2.send(header + Array("GET /info HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
                #expect(try v2.readResponse().text.contains(#""remote_addr": "198.51.100.4""#))
                let missing = try HTTPConnection(port: server.port)
                try missing.send("GET /info HTTP/1.1\r\nHost: a\r\n\r\n")
                let (closed, data) = missing.readUntilClosed()
                #expect(closed && data.isEmpty, "a trusted peer without the header is dropped")
            }
        }
    }
}
