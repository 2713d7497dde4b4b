import Glibc
import Testing
import TestSupport

extension Integration {
    @Suite struct HTTP {
        @Test(arguments: ["hello:application", "hellosync:application"], ["sync", "async"])
        func examplesServeTheirRoutes(app: String, worker: String) throws {
            try withServer([app, "-k", worker, "--threads", "4"]) { server in
                let c = try HTTPConnection(port: server.port)
                let hello = try c.request("GET", "/")
                #expect(hello.status == 200)
                #expect(hello.text == "Hello, World!")
                #expect(hello.header("Server") == "arbiter")
                #expect(hello.header("Date") != nil)
                let echo = try c.request("POST", "/echo", body: "some body")
                #expect(echo.text == "some body")
                let stream = try c.request("GET", "/stream?chunks=3")
                #expect(stream.header("Transfer-Encoding") == "chunked")
                #expect(stream.text == "chunk 0\nchunk 1\nchunk 2\n")
                let info = try c.request("GET", "/info?a=1&b=two", headers: ["X-Custom: yes"])
                #expect(info.text.contains(#""path": "/info""#))
                #expect(info.text.contains(#""query": "a=1&b=two""#))
                #expect(info.text.contains(#""remote_addr": "127.0.0.1""#))
                #expect(info.text.contains(#""scheme": "http""#))
                #expect(info.text.contains(#"["X-Custom", "yes"]"#))
                #expect(try c.request("GET", "/sleep?seconds=0.1").text == "slept 0.1s")
                #expect(try c.request("GET", "/missing").status == 404)
            }
        }

        @Test(arguments: ["hello:application", "hellosync:application"], ["sync", "async"])
        func anAppErrorGives500AndTheNextRequestSucceeds(app: String, worker: String) throws {
            try withServer([app, "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                #expect(try c.request("GET", "/error").status == 500)
                #expect(try c.request("GET", "/").status == 200)
                try server.waitForLog("Error handling request GET /error: the example failed on purpose")
            }
        }

        @Test(arguments: ["sync", "async"])
        func pipelinedRequestsAreAnsweredInOrder(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                try c.send("GET /info?n=1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n")
                #expect(try c.readResponse().text.contains(#""query": "n=1""#))
                #expect(try c.readResponse().text == "abc")
                #expect(try c.readResponse().text == "Hello, World!")
            }
        }

        /// A client that keeps pipelining: every request is answered, one after another. On the
        /// async worker a request's task runs inside `handle`; had its answer serviced the
        /// connection from there, the next request would start one level deeper, until the stack
        /// ran out.
        @Test(arguments: ["sync", "async"])
        func aLongPipelineIsAnswered(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                let count = 30_000
                let burst = Array(String(repeating: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", count: count).utf8)
                let fd = c.fd
                Thread.start {
                    var offset = 0
                    while offset < burst.count {
                        let n = burst[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                        if n <= 0 { return }
                        offset += n
                    }
                }
                for i in 0..<count {
                    let response = try c.readResponse()
                    guard response.text == "Hello, World!" else {
                        Issue.record("response \(i): \(response.status) \(response.text)")
                        return
                    }
                }
                #expect(server.workerPids.count == 1)
                #expect(!server.log.contains("Worker (pid:"), "\(server.log)")
            }
        }

        /// A pipeline several times the head window (what the server reads ahead between
        /// requests), sent whole before any answer is read: the server stops reading at the
        /// window and must read on by itself as it answers, since the client sends nothing more
        /// (an edge-triggered registration reports no new input then).
        @Test(arguments: ["sync", "async"])
        func aPipelineLongerThanTheHeadWindowIsAnsweredWithoutMoreInput(worker: String) throws {
            // A head window of about 4.5 KiB; the burst is 27 KiB, its answers fit the socket buffers.
            try withServer(["hello:application", "-k", worker, "--limit-request-fields", "2", "--limit-request-field-size", "100"]) { server in
                let c = try HTTPConnection(port: server.port, timeout: 10)
                let count = 1000
                try c.send(String(repeating: "GET / HTTP/1.1\r\nHost: a\r\n\r\n", count: count))
                for i in 0..<count {
                    let response = try c.readResponse()
                    guard response.text == "Hello, World!" else {
                        Issue.record("response \(i): \(response.status) \(response.text)")
                        return
                    }
                }
            }
        }

        @Test(arguments: ["hellosync:application", "hello:application"], ["sync", "async"])
        func chunkedRequestBodiesAndContinue(app: String, worker: String) throws {
            try withServer([app, "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                try c.send("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
                #expect(try c.readResponse().text == "hello world")
                try c.send("POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n")
                let c100 = try c.readUntilStatusLine()
                #expect(c100.hasPrefix("HTTP/1.1 100 Continue"))
                try c.send("body")
                #expect(try c.readResponse().text == "body")
            }
        }

        @Test(arguments: ["sync", "async"])
        func http10AndHead(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                try c.send("GET / HTTP/1.0\r\n\r\n")
                let (closed, data) = c.readUntilClosed()
                #expect(closed)
                let text = String(decoding: data, as: UTF8.self)
                #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))  // the server's version (RFC 9110 §2.5)
                #expect(text.hasSuffix("\r\n\r\nHello, World!"))
                let h = try HTTPConnection(port: server.port)
                let head = try h.request("HEAD", "/")
                #expect(head.status == 200)
                #expect(head.header("Content-Length") == "13")
                #expect(try h.request("GET", "/").text == "Hello, World!")
            }
        }

        @Test(arguments: [
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
            ("GET /" + String(repeating: "a", count: 5000) + " HTTP/1.1\r\nHost: a\r\n\r\n", 414),
            ("GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "v", count: 9000) + "\r\n\r\n", 431),
            ("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            ("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n", 413),
            ("POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        ])
        func malformedRequestsGetTheirStatusAndAClose(raw: String, status: Int) throws {
            for worker in ["sync", "async"] {
                try malformed(raw: raw, status: status, worker: worker)
            }
        }

        func malformed(raw: String, status: Int, worker: String) throws {
            try withServer(["hellosync:application", "-k", worker, "--limit-request-body", "10"]) { server in
                let c = try HTTPConnection(port: server.port)
                try c.send(raw)
                let response = try c.readResponse()
                #expect(response.status == status, "\(worker) worker")
                #expect(response.header("Connection") == "close")
                #expect(c.readUntilClosed().closed)
                // The worker lives on.
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        @Test(arguments: ["sync", "async"])
        func accessLogUsesGunicornAtoms(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--access-logfile", "-"]) { server in
                let c = try HTTPConnection(port: server.port)
                _ = try c.request("GET", "/info?x=1", headers: ["User-Agent: tester/1.0", "Referer: http://r/"])
                let log = try server.waitForLog("\"GET /info?x=1 HTTP/1.1\" 200")
                #expect(log.contains("127.0.0.1 - - ["))
                #expect(log.contains("\"http://r/\" \"tester/1.0\""))
            }
        }
    }
}

extension HTTPConnection {
    /// Reads one raw status line (for interim responses the client parser skips).
    func readUntilStatusLine() throws -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n <= 0 { throw TestFailure("closed before a status line") }
            line.append(byte)
            if line.count >= 4 && line.suffix(4) == [13, 10, 13, 10] { return String(decoding: line, as: UTF8.self) }
        }
    }
}
