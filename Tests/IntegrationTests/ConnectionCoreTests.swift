import Dispatch
import Glibc
import Platform
import Testing
import TestSupport

/// Regression tests for what the shared connection core ended, in both worker classes.
extension Integration {
    @Suite struct ConnectionCore {
        /// Descriptors a worker holds (its /proc/PID/fd entries).
        static func descriptors(_ pid: Int32) -> Int {
            guard let dir = opendir("/proc/\(pid)/fd") else { return 0 }
            defer { closedir(dir) }
            var count = 0
            while readdir(dir) != nil { count += 1 }
            return count
        }

        /// A client that half-closes after its requests (`nc -N`, `shutdown(SHUT_WR)`) gets every
        /// answer, then the end of the stream (RFC 9293 §3.6): both worker classes, an asynchronous
        /// and a synchronous application; a synchronous one is not cancelled, so even a slow
        /// request is answered.
        @Test(arguments: [("sync", "hello"), ("async", "hello"), ("sync", "hellosync"), ("async", "hellosync")])
        func aHalfClosedClientGetsItsAnswers(worker: String, app: String) throws {
            try withServer(["\(app):application", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                defer { c.close() }
                var requests = "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
                if app == "hellosync" { requests += "GET /sleep?seconds=0.2 HTTP/1.1\r\nHost: a\r\n\r\n" }
                try c.send(requests)
                #expect(shutdown(c.fd, Int32(SHUT_WR)) == 0)
                #expect(try c.readResponse().status == 200)
                #expect(try c.readResponse().status == 200)
                if app == "hellosync" { #expect(try c.readResponse().text == "slept 0.2s") }
                #expect(c.readUntilClosed().closed)
            }
        }

        /// A half-closed client whose answer is larger than the socket buffers gets all of it: the
        /// connection stays watched for writing after its input ended.
        @Test(arguments: ["sync", "async"])
        func aHalfClosedClientGetsALargeAnswer(worker: String) throws {
            try withServer(["hellosync:application", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                defer { c.close() }
                let size = 8 << 20
                try c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n")
                try c.send([UInt8](repeating: 98, count: size))
                #expect(shutdown(c.fd, Int32(SHUT_WR)) == 0)
                let response = try c.readResponse(method: "POST")
                #expect(response.status == 200)
                #expect(response.body.count == size)
            }
        }

        /// A file response whose client leaves early closes its file: descriptors do not pile up.
        @Test(arguments: ["sync", "async"])
        func fileBodiesCloseTheirFileWhenTheClientLeaves(worker: String) throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try dir.write("blob", [UInt8](repeating: 7, count: 8 << 20))
            try withServer(["fixtures:file_server", "-k", worker, "-e", "FIXTURE_FILE=\(dir.file("blob"))"]) { server in
                let pid = server.workerPids[0]
                #expect(try httpGet(port: server.port, "/blob").body.count == 8 << 20)
                let baseline = Self.descriptors(pid)
                for _ in 0..<40 {
                    let c = try HTTPConnection(port: server.port)
                    try c.send("GET /blob HTTP/1.1\r\nHost: a\r\n\r\n")
                    var byte: UInt8 = 0
                    _ = recv(c.fd, &byte, 1, 0)
                    c.close()
                }
                // The worker notices each departure at its next write; bounded wait for that.
                try waitUntil(timeout: 20) { Self.descriptors(pid) <= baseline + 2 }
                #expect(try httpGet(port: server.port, "/blob").body.count == 8 << 20)
            }
        }

        /// An answer sent before a large upload is read reaches the client: the close lingers while
        /// the client still sends, and ends within the linger time (RFC 9112 §9.6).
        @Test(arguments: ["sync", "async"])
        func anEarlyAnswerToALargeUploadReachesTheClient(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                defer { c.close() }
                let size = 4 << 20
                try c.send("POST /nothere HTTP/1.1\r\nHost: a\r\nContent-Length: \(size)\r\n\r\n")
                let fd = c.fd
                let uploaded = DispatchSemaphore(value: 0)
                // The connection is closed only after the upload ends: its descriptor is not reused under it.
                var uploadWaited = false
                defer { if !uploadWaited { _ = uploaded.wait(timeout: .now() + 30) } }
                Thread.start {
                    // The upload goes on until the server closes (its send then fails: ignored).
                    defer { uploaded.signal() }
                    let chunk = [UInt8](repeating: 97, count: 64 << 10)
                    var sent = 0
                    while sent < size {
                        let n = chunk.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                        if n <= 0 { return }
                        sent += n
                    }
                }
                let response = try c.readResponse(method: "POST")
                #expect(response.status == 404)
                #expect(response.header("connection") == "close")
                // The unread body is over the discard limit: the response says the connection
                // ends (RFC 9112 §9.6), the server shuts its side (EOF here)
                // and drops what still comes for the linger time, then closes (a send then fails).
                #expect(c.readUntilClosed().closed)
                _ = uploaded.wait(timeout: .now() + 30)
                uploadWaited = true
                let start = Clock.monotonic()
                var closedByServer = false
                while Clock.monotonic() - start < 10 {
                    var byte: UInt8 = 0
                    if Glibc.send(fd, &byte, 1, Int32(MSG_NOSIGNAL)) < 0 {
                        closedByServer = true
                        break
                    }
                    usleep(50_000)
                }
                #expect(closedByServer)
                // The worker serves on.
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        /// Out of descriptors, a worker says so once, pauses accepting, and serves on.
        @Test(arguments: ["sync", "async"])
        func runningOutOfDescriptorsPausesAcceptingOnly(worker: String) throws {
            let server = try ServerProcess(["hello:application", "-k", worker, "--worker-connections", "1000"], fileLimit: 40)
            defer { server.stop() }
            try server.waitUntilReady()
            let keeper = try HTTPConnection(port: server.port)
            #expect(try keeper.request("GET", "/").status == 200)
            var crowd: [HTTPConnection] = []
            for _ in 0..<60 { crowd.append(try HTTPConnection(port: server.port)) }
            try server.waitForLog("Cannot accept connections")
            // The connection it has is still served.
            #expect(try keeper.request("GET", "/").status == 200)
            for c in crowd { c.close() }
            try waitUntil(timeout: 20) { (try? httpGet(port: server.port, "/", timeout: 2))?.status == 200 }
            #expect(server.log.occurrences(of: "Cannot accept connections") == 1)
        }

        /// Busy workers still take new connections in turn: a connection never waits in the listen
        /// queue while the connections already accepted keep every request thread busy.
        @Test(arguments: ["hello:application", "hellosync:application"])
        func busyWorkersStillAcceptNewConnections(app: String) throws {
            try withServer([app, "-k", "sync", "-w", "2"]) { server in
                let port = server.port
                let done = Countdown(8)
                // Eight clients keep both workers' single request threads busy for five seconds, with a
                // queue of requests behind each (every request holds its thread 0.2 s).
                for _ in 0..<8 {
                    TestSupport.Thread.start {
                        defer { done.arrive() }
                        guard let c = try? HTTPConnection(port: port, timeout: 10) else { return }
                        let until = Clock.monotonic() + 5
                        for _ in 0..<100 where Clock.monotonic() < until {
                            guard (try? c.request("GET", "/sleep?seconds=0.2")) != nil else { return }
                        }
                    }
                }
                // Meanwhile, new connections get answers within a bound below the load's length.
                usleep(300_000)
                for _ in 0..<3 {
                    let status = try httpGet(port: port, "/", timeout: 3).status
                    #expect(status == 200)
                }
                done.wait(timeout: 15)
            }
        }

        /// The sync worker's request threads wait for requests one at a time (`PollerSeat`); a
        /// request that holds its thread passes that wait on, so with `--threads 4` four blocked
        /// requests run at once, and none waits behind another. Twice: the second round finds the
        /// threads as the first left them.
        @Test func blockedRequestsRunSideBySideOnEveryRequestThread() throws {
            try withServer(["fixtures:rendezvous", "-k", "sync", "-w", "1", "--threads", "4"]) { server in
                for group in ["first", "second"] {
                    let results = concurrently(4) { _ in try httpGet(port: server.port, "/meet?n=4&group=\(group)", timeout: 30) }
                    #expect(results.map { (try? $0.get())?.text } == Array(repeating: "met 4", count: 4))
                }
            }
        }

        /// Connections that send nothing cost a descriptor and a timer: they hold back no one.
        @Test(arguments: ["sync", "async"])
        func silentConnectionsDoNotDelayARealRequest(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                var silent: [HTTPConnection] = []
                for _ in 0..<300 { silent.append(try HTTPConnection(port: server.port)) }
                defer { for c in silent { c.close() } }
                // Before, each silent connection held accepting back for 50 ms: 15 s for 300.
                let response = try httpGet(port: server.port, "/", timeout: 3)
                #expect(response.status == 200)
            }
        }

        /// While a request is in flight, the worker reads at most a bounded window ahead of it,
        /// whatever the client pipelines behind.
        @Test(arguments: ["sync", "async"])
        func readAheadIsBounded(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--threads", "64"]) { server in
                let pid = server.workerPids[0]
                let before = residentKiB(pid)
                let filler = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: \(String(repeating: "p", count: 8000))\r\n\r\n"
                let burst = String(repeating: filler, count: 128)  // 1 MiB of pipelined requests
                var clients: [HTTPConnection] = []
                for _ in 0..<60 {
                    let c = try HTTPConnection(port: server.port)
                    try c.send("GET /sleep?seconds=3 HTTP/1.1\r\nHost: a\r\n\r\n")
                    clients.append(c)
                }
                // Each client pushes its megabyte, as far as the kernel takes it without blocking.
                let bytes = Array(burst.utf8)
                for c in clients {
                    var offset = 0
                    while offset < bytes.count {
                        let n = bytes[offset...].withUnsafeBytes { send(c.fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL)) }
                        if n <= 0 { break }
                        offset += n
                    }
                }
                // Then until the worker's memory settles (sampled; bounded).
                var last = -1
                for _ in 0..<50 {
                    let now = residentKiB(pid)
                    if now == last { break }
                    last = now
                    usleep(100_000)
                }
                let grown = residentKiB(pid) - before
                // 60 connections × 64 KiB of read-ahead ≈ 4 MiB; before, about 1.2 MiB each.
                #expect(grown < 30_000, "worker grew by \(grown) KiB")
                for c in clients { c.close() }
            }
        }

        /// A synchronous application that fails after its head (here inside the async worker's
        /// pool): the response is cut short so the client can tell — no last chunk, then close.
        @Test(arguments: ["sync", "async"])
        func aFailureAfterTheHeadAbortsTheResponse(worker: String) throws {
            try withServer(["fixtures:file_server", "-k", worker]) { server in
                let c = try HTTPConnection(port: server.port)
                try c.send("GET /fail-after-head HTTP/1.1\r\nHost: a\r\n\r\n")
                let (closed, data) = c.readUntilClosed()
                let text = String(decoding: data, as: UTF8.self)
                #expect(closed)
                #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
                #expect(text.contains("first part\n"))
                #expect(!text.contains("0\r\n\r\n"))
                #expect(!text.contains("Internal Server Error"))
                // A directory fails before the head: a clean 500.
                #expect(try httpGet(port: server.port, "/directory").status == 500)
            }
        }

        /// Only regular files get a length; a /proc file is sent chunked, to its end.
        @Test(arguments: ["sync", "async"])
        func procFilesAreSentChunked(worker: String) throws {
            try withServer(["fixtures:file_server", "-k", worker]) { server in
                let response = try HTTPConnection(port: server.port, timeout: 10).request("GET", "/proc")
                #expect(response.status == 200)
                #expect(response.header("Content-Length") == nil)
                #expect(response.header("Transfer-Encoding") == "chunked")
                #expect(response.text.contains("Pid:"))
            }
        }

        /// A status outside 200–599 from the application is answered 500 and logged.
        @Test(arguments: ["sync", "async"])
        func anInvalidStatusBecomes500(worker: String) throws {
            try withServer(["fixtures:file_server", "-k", worker]) { server in
                for code in [99, 600, 1000] {
                    #expect(try httpGet(port: server.port, "/status?code=\(code)").status == 500)
                    try server.waitForLog("Invalid response status \(code)")
                }
                #expect(try httpGet(port: server.port, "/status?code=418").status == 418)
            }
        }

        /// The examples are what people copy: they refuse bad query values instead of crashing.
        @Test(arguments: ["hello:application", "hellosync:application"])
        func theExamplesValidateTheirInput(app: String) throws {
            try withServer([app, "-k", "async"]) { server in
                let worker = server.workerPids
                var targets = ["/sleep?seconds=inf", "/sleep?seconds=nan", "/sleep?seconds=-1", "/stream?chunks=-1", "/stream?chunks=x"]
                if app.hasPrefix("hello:") { targets.append("/block?seconds=inf") }
                for target in targets {
                    let status = try httpGet(port: server.port, target).status
                    #expect(status == 400, "\(target)")
                }
                #expect(try httpGet(port: server.port, "/").status == 200)
                #expect(server.workerPids == worker)
                #expect(!server.log.contains("killed by"))
            }
        }

        /// Targets and Host values the parser refuses, end to end; HTTP/1.2 is served as 1.1.
        @Test(arguments: ["sync", "async"])
        func targetsAreReadByTheRules(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                for raw in ["GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
                            "GET / HTTP/1.1\r\nHost: user@x\r\n\r\n", "GET /%00 HTTP/1.1\r\nHost: a\r\n\r\n"] {
                    let c = try HTTPConnection(port: server.port)
                    try c.send(raw)
                    #expect(try c.readResponse().status == 400, "\(raw.debugDescription)")
                }
                let c = try HTTPConnection(port: server.port)
                try c.send("GET HTTP://x?a=/info HTTP/1.2\r\nHost: x\r\n\r\n")
                let root = try c.readResponse()
                #expect(root.status == 200)
                #expect(root.text == "Hello, World!")
                try c.send("GET http://x/info?a=1 HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(try c.readResponse().text.contains(#""path": "/info""#))
            }
        }
    }
}
