import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    @Suite struct Workers {
        @Test func everyWorkerServesFromItsOwnProcess() throws {
            try withServer(["hellosync:application", "-w", "3", "--access-logfile", "-", "--access-logformat", "served-by %(p)s %(U)s"]) { server in
                #expect(server.workerPids.count == 3)
                // Three slow requests at once: a worker accepts only while it has a free request
                // thread, so each of the three (one thread each) takes one.
                let port = server.port
                let results = concurrently(3) { _ in try httpGet(port: port, "/sleep?seconds=0.5") }
                #expect(results.allSatisfy { $0.response?.status == 200 })
                let log = try server.waitForLog("served-by", count: 3)
                let pids = Set(log.split(separator: "\n").filter { $0.hasPrefix("served-by") }.map { $0.split(separator: " ")[1] })
                #expect(pids.count == 3, "\(log)")
            }
        }

        /// A connection's idle time starts when its response went out, also after application
        /// code that held the thread (or awaited) for long: a worker's turn clock (read once per
        /// turn, not at every stamp) must not stamp the response with the time the request began.
        /// Idle for 0.6 s of a 1.5 s keep-alive after a 1.6 s request, the connection still serves.
        @Test(arguments: [("sync", "hellosync"), ("sync", "hello"), ("async", "hello"), ("async", "hellosync")])
        func idleTimeAfterASlowRequestCountsFromItsResponse(worker: String, app: String) throws {
            try withServer(["\(app):application", "-k", worker, "--keep-alive", "1.5"]) { server in
                let connection = try HTTPConnection(port: server.port)
                defer { connection.close() }
                #expect(try connection.request("GET", "/sleep?seconds=1.6").status == 200)
                usleep(600_000)
                #expect(try connection.request("GET", "/").status == 200)
            }
        }

        /// A sync worker serving an asynchronous application says at boot what that costs and what
        /// to use instead; serving a synchronous one, it does not.
        @Test func anAsynchronousApplicationInASyncWorkerIsAnnouncedAtBoot() throws {
            try withServer(["hello:application", "-k", "sync"]) { server in
                let response = try httpGet(port: server.port, "/")
                #expect(response.text == "Hello, World!")
                #expect(server.log.contains("[WARNING] Asynchronous application Router in a sync worker: each request runs as a task"))
                #expect(server.log.contains("Serve it with -k async"))
            }
            try withServer(["hellosync:application", "-k", "sync"]) { server in
                let response = try httpGet(port: server.port, "/")
                #expect(response.text == "Hello, World!")
                #expect(!server.log.contains("in a sync worker"))
            }
        }

        @Test func aKilledWorkerIsReplaced() throws {
            try withServer(["hello:application", "-w", "2"]) { server in
                let before = server.workerPids
                #expect(before.count == 2)
                kill(before[0], SIGKILL)
                // The master reaps it and boots a replacement in the same slot at once.
                try server.waitForLog("Booting worker with pid", count: 3, timeout: 1)
                let deadline = Clock.monotonic() + 1
                var after = server.workerPids
                while Clock.monotonic() < deadline && (after.count < 2 || after.contains(before[0])) {
                    usleep(10_000)
                    after = server.workerPids
                }
                #expect(after.count == 2)
                #expect(!after.contains(before[0]))
                #expect(server.log.contains("Worker (pid: \(before[0]), slot 0) was killed by SIGKILL"))
                try server.waitForLog("Ready:")
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        @Test func termLetsAnInFlightRequestFinish() throws {
            let server = try ServerProcess(["hellosync:application", "--log-level", "debug"])
            defer { server.stop() }
            try server.waitUntilReady()
            let response = try responseToARequestInFlightDuringTerm(server)
            #expect(response?.status == 200)
            #expect(response?.text == "slept 1.0s")
            #expect(server.waitForExit(timeout: 30) == 0)
            #expect(server.log.contains("Handling signal: term"))
            #expect(server.log.contains("Shutting down: Master"))
        }

        @Test func gracefulTimeoutKillsStragglers() throws {
            let server = try ServerProcess(["hellosync:application", "--log-level", "debug", "--graceful-timeout", "0.5"])
            defer { server.stop() }
            try server.waitUntilReady()
            let port = server.port
            TestSupport.Thread.start { _ = try? httpGet(port: port, "/sleep?seconds=20") }
            try server.waitForLog("Request started: GET /sleep")
            server.signal(SIGTERM)
            #expect(server.waitForExit(timeout: 15) == 0)
            #expect(server.log.contains("Graceful timeout: killing 1 worker(s) still running"))
        }

        @Test func workersLeaveWhenTheMasterDies() throws {
            try withServer(["hello:application", "-w", "2"]) { server in
                let workers = server.workerPids
                kill(server.pid, SIGKILL)
                _ = server.waitForExit(timeout: 10)
                let deadline = Clock.monotonic() + 10
                var alive = workers
                while Clock.monotonic() < deadline && !alive.isEmpty {
                    alive = alive.filter { kill($0, 0) == 0 && !isZombie($0) }
                    usleep(20_000)
                }
                #expect(alive.isEmpty)
            }
        }

        @Test func processTitles() throws {
            try withServer(["hello:application"]) { server in
                #expect(commandLine(server.pid).hasPrefix("arbiter: master [hello:application]"))
                #expect(server.workerPids.map(commandLine) == ["arbiter: worker [hello:application]"])
            }
        }

        @Test func ttinAndTtouScale() throws {
            try withServer(["hello:application", "-w", "2"]) { server in
                server.signal(SIGTTIN)
                try server.waitForLog("Booting worker with pid", count: 3)
                server.signal(SIGTTOU)
                try server.waitForLog("Worker retired")
                let deadline = Clock.monotonic() + 10
                while Clock.monotonic() < deadline && server.workerPids.count != 2 { usleep(10_000) }
                #expect(server.workerPids.count == 2)
            }
        }
    }
}

func commandLine(_ pid: Int32) -> String {
    let bytes = (try? Files.read("/proc/\(pid)/cmdline")) ?? []
    return String(decoding: bytes.split(separator: 0, omittingEmptySubsequences: true).first ?? [], as: UTF8.self)
}

func isZombie(_ pid: Int32) -> Bool {
    guard let stat = try? Files.readString("/proc/\(pid)/stat"), let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}
