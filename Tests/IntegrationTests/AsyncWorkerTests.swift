import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    @Suite struct AsyncWorker {
        /// The 10-user scenario, ten times over: 100 one-second sleeps at once on one worker.
        @Test func oneWorkerServesAHundredSleepsAtOnce() throws {
            try withServer(["hello:application", "-k", "async", "-w", "1"]) { server in
                let port = server.port
                let results = ResultsBox(100)
                let done = Countdown(100)
                for i in 0..<100 {
                    TestSupport.Thread.start {
                        results.set(i, Result { try httpGet(port: port, "/sleep?seconds=1") })
                        done.arrive()
                    }
                }
                // Served one at a time this would take 100 s; concurrently, about one.
                done.wait(timeout: 2)
                let responses = results.all
                #expect(responses.filter { $0.response?.status == 200 }.count == 100)
            }
        }

        /// A sleep's wake-up runs on the worker's loop: no thread of Swift's global executor is
        /// started to run it and hand the sleeping request back to the loop.
        @Test func sleepsWakeOnTheLoopWithoutAnotherThread() throws {
            try withServer(["hello:application", "-k", "async", "-w", "1"]) { server in
                let first = try httpGet(port: server.port, "/")
                #expect(first.status == 200)
                let pid = server.workerPids[0]
                let before = statusField(pid, "Threads:")
                for _ in 0..<3 {
                    #expect(try httpGet(port: server.port, "/sleep?seconds=0.05").status == 200)
                }
                #expect(before > 0)
                #expect(statusField(pid, "Threads:") == before)
            }
        }

        @Test func aBlockingHandlerIsReported() throws {
            try withServer(["hello:application", "-k", "async", "--block-threshold", "0.1"]) { server in
                #expect(try httpGet(port: server.port, "/block?seconds=0.3").status == 200)
                let log = try server.waitForLog("Event loop blocked for")
                #expect(log.contains("by GET /block?seconds=0.3"))
                #expect(log.contains("(1 time(s) in this worker)"))
                #expect(try httpGet(port: server.port, "/block?seconds=0").status == 200)
                #expect(server.log.occurrences(of: "Event loop blocked") == 1)
            }
        }

        /// On the async worker's loop, a route whose handler never waits answers inside `handle`,
        /// without a task; one that waits, or sits inside middleware, or streams, gets its task. The
        /// sync worker keeps a task for every request of an asynchronous application.
        @Test(arguments: ["async", "sync"])
        func aHandlerThatNeverWaitsAnswersWithoutATask(worker: String) throws {
            try withServer(["fixtures:routed", "-k", worker]) { server in
                let inline = worker == "async" ? "no task" : "in a task"
                #expect(try httpGet(port: server.port, "/sync").text == inline)
                #expect(try httpGet(port: server.port, "/async").text == "in a task")
                #expect(try httpGet(port: server.port, "/sync-stream").text == inline + ", streamed in a task")
                let wrapped = try httpGet(port: server.port, "/wrapped/sync")
                #expect(wrapped.text == "in a task" && wrapped.header("X-Tagged") == "yes")
                let refused = try httpGet(port: server.port, "/sync-error")
                #expect(refused.status == 409 && refused.text.contains("answered without a task"))
                #expect(try httpGet(port: server.port, "/missing").status == 404)
                // Keep-alive and pipelining: the answers come back in order on one connection.
                let connection = try HTTPConnection(port: server.port)
                try connection.send(String(repeating: "GET /sync HTTP/1.1\r\nHost: a\r\n\r\nGET /async HTTP/1.1\r\nHost: a\r\n\r\n", count: 50))
                for _ in 0..<50 {
                    #expect(try connection.readResponse().text == inline)
                    #expect(try connection.readResponse().text == "in a task")
                }
            }
        }

        /// A blocking call on the async worker's loop would wait for the loop itself (until the worker
        /// timeout killed the worker and every request on it): it fails at once and says why. The
        /// sync worker's threads may block, also in a blocking wait whose work reads the body.
        @Test(arguments: ["async", "sync"])
        func aBlockingCallOnTheLoopFailsAndSaysWhy(worker: String) throws {
            try withServer(["fixtures:routed", "-k", worker]) { server in
                for path in ["/sync-read", "/sync-wait"] {
                    let reading = try HTTPConnection(port: server.port)
                    try reading.send("POST \(path) HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n12345")
                    try reading.send("67890")
                    let read = try reading.readResponse()
                    if worker == "async" {
                        #expect(read.status == 500)
                    } else {
                        #expect(read.status == 200 && read.text == "1234567890")
                    }
                }
                if worker == "async" {
                    #expect(try server.waitForLog("request.body.read(upTo:) blocks its thread").contains("POST /sync-read"))
                    #expect(try server.waitForLog("Runtime.blockingWait blocks its thread").contains("POST /sync-wait"))
                    // In a WebSocket handler the 101 is out: the connection ends, and the log says why.
                    let socket = try HTTPConnection(port: server.port)
                    try socket.send("GET /ws-blocking HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                    try server.waitForLog("WebSocket.receive() blocks its thread")
                }
                #expect(try httpGet(port: server.port, "/sync").status == 200)
            }
        }

        /// A request resumed by another request's code is still itself when it blocks the loop.
        @Test func aResumedRequestIsNamedWhenItBlocks() throws {
            try withServer(["fixtures:relay", "-k", "async", "--block-threshold", "0.1", "--log-level", "debug"]) { server in
                let waiting = try HTTPConnection(port: server.port)
                try waiting.send("GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
                try server.waitForLog("Request started: GET /wait")
                #expect(try httpGet(port: server.port, "/kick").text == "kicked")
                #expect(try waiting.readResponse().text == "resumed")
                let log = try server.waitForLog("Event loop blocked for")
                #expect(log.contains("by GET /wait"), "\(log)")
            }
        }

        /// Also an async application in the sync worker: its request thread watches the client.
        @Test(arguments: ["async", "sync"])
        func aDisconnectingClientCancelsItsHandler(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--log-level", "debug"]) { server in
                let c = try HTTPConnection(port: server.port)
                try c.send("GET /sleep?seconds=30 HTTP/1.1\r\nHost: a\r\n\r\n")
                try server.waitForLog("Request started: GET /sleep")
                c.close()
                try server.waitForLog("GET /sleep cancelled: the client disconnected", timeout: 10)
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        @Test func aSlowReaderDoesNotMakeTheWorkerBufferTheBody() throws {
            try withServer(["hello:application", "-k", "async"]) { server in
                let worker = server.workerPids[0]
                let before = residentKiB(worker)
                // 256 MiB in 64 KiB chunks; the client reads 1 MiB and then stops reading.
                let c = try HTTPConnection(port: server.port)
                try c.send("GET /stream?chunks=4096&size=65536 HTTP/1.1\r\nHost: a\r\n\r\n")
                var received = 0
                var chunk = [UInt8](repeating: 0, count: 65_536)
                while received < 1 << 20 {
                    let n = chunk.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
                    guard n > 0 else { break }
                    received += n
                }
                // Give the worker every chance to pile up output if it would.
                for _ in 0..<50 { usleep(10_000) }
                let during = residentKiB(worker)
                #expect(received >= 1 << 20)
                #expect(during - before < 32 * 1024, "worker RSS grew from \(before) KiB to \(during) KiB")
            }
        }

        @Test func synchronousCodeIsAnnouncedAtBoot() throws {
            try withServer(["hellosync:application", "-k", "async", "--offload-threads", "3"]) { server in
                #expect(server.log.contains("Synchronous application HelloSync in an async worker: each request holds one of the 3 thread(s) of the pool for adapted code (--offload-threads) for the whole request, so this worker serves at most 3 request(s) at a time (an open WebSocket holds its thread for as long as it is open). To lift the limit: make HelloSync an AsyncApplication"))
                let response = try httpGet(port: server.port, "/")
                #expect(response.text == "Hello, World!")
            }
            try withServer(["fixtures:adapted", "-k", "async", "--offload-threads", "2"]) { server in
                #expect(server.log.contains("Synchronous code adapted in Counter (middleware: AsyncTag): application Counter. Each request through it holds one of the 2 thread(s) of the pool for adapted code (--offload-threads)"))
                #expect(server.log.contains("To keep requests off the pool: make Counter an AsyncApplication"))
                let response = try httpGet(port: server.port, "/")
                #expect(response.text == "ok")
                #expect(response.header("X-Async-Middleware") == "tag")
            }
        }

        /// The seed trap: an async application behind one synchronous logging middleware, default
        /// settings, one worker. Only the middleware is adapted, and the pool for it does not
        /// serialise: ten 1-second requests at once finish together (one after another: 10 s).
        @Test func oneSynchronousMiddlewareDoesNotSerialiseAnAsyncWorker() throws {
            try withServer(["fixtures:logged_sleeper", "-k", "async"]) { server in
                let port = server.port
                let done = Countdown(10)
                let results = ResultsBox(10)
                for i in 0..<10 {
                    TestSupport.Thread.start {
                        results.set(i, Result { try httpGet(port: port, "/sleep?seconds=1") })
                        done.arrive()
                    }
                }
                done.wait(timeout: 5)
                #expect(results.all.filter { $0.response?.text == "slept 1.0s" }.count == 10)
                #expect(server.log.contains("Synchronous code adapted in Sleeper (middleware: SyncLogger): middleware SyncLogger."))
                #expect(server.log.contains("make SyncLogger an AsyncMiddleware"))
                #expect(!server.log.contains("Synchronous application"))
            }
        }

        @Test func loadSpreadsOverTwoWorkers() throws {
            try withServer(["hello:application", "-k", "async", "-w", "2", "--access-logfile", "-", "--access-logformat", "by %(p)s"]) { server in
                let port = server.port
                // 64 keep-alive connections: all open (each has made a request) before any goes on.
                let opened = Countdown(64)
                let results = concurrently(64) { _ in
                    let c = try HTTPConnection(port: port)
                    var last = try c.request("GET", "/")
                    opened.arrive()
                    opened.wait(timeout: 30)
                    for _ in 1..<20 { last = try c.request("GET", "/") }
                    return last
                }
                #expect(results.allSatisfy { $0.response?.status == 200 })
                let log = try server.waitForLog("by <", count: 1280)
                var counts: [Substring: Int] = [:]
                for line in log.split(separator: "\n") where line.hasPrefix("by <") { counts[line.dropFirst(3), default: 0] += 1 }
                #expect(counts.count == 2)
                for (pid, n) in counts {
                    #expect(n >= 448 && n <= 832, "worker \(pid) served \(n) of 1280 requests (\(counts))")
                }
            }
        }

        @Test func termFinishesInFlightRequestsAndClosesIdleOnes() throws {
            let server = try ServerProcess(["hello:application", "-k", "async", "--log-level", "debug"])
            defer { server.stop() }
            try server.waitUntilReady()
            let idle = try HTTPConnection(port: server.port)
            #expect(try idle.request("GET", "/").status == 200)
            let response = try responseToARequestInFlightDuringTerm(server) {
                #expect(idle.readUntilClosed().closed)
            }
            #expect(response?.text == "slept 1.0s")
            #expect(server.waitForExit(timeout: 30) == 0)
        }
    }
}

/// Resident memory of a process, in KiB.
func residentKiB(_ pid: Int32) -> Int { statusField(pid, "VmRSS:") }

/// A number from a process's `/proc/PID/status` (`VmRSS:` in KiB, `Threads:`); 0 when unreadable.
func statusField(_ pid: Int32, _ name: String) -> Int {
    guard let status = try? Files.readString("/proc/\(pid)/status") else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix(name) {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        return words.count > 1 ? Int(words[1]) ?? 0 : 0
    }
    return 0
}
