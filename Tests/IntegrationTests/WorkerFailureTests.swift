import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    /// How the master copes with workers that crash, hang or cannot get descriptors.
    @Suite struct WorkerFailures {
        /// A sync worker whose request waits on a client that stopped reading its response is not
        /// killed by `--timeout` (here shorter than `--body-timeout`): the client's connection is
        /// closed by the body timeout, and the worker serves on.
        @Test func aClientThatStopsReadingDoesNotGetTheWorkerKilled() throws {
            try withServer(["hellosync:application", "-k", "sync", "--timeout", "2", "--body-timeout", "4", "--access-logfile", "-"]) { server in
                let c = try HTTPConnection(port: server.port)
                defer { c.close() }
                var size: Int32 = 4096
                setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
                let body = 8 << 20  // more than the socket buffers hold: the echo's write waits on the client
                try c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: \(body)\r\n\r\n")
                try c.send([UInt8](repeating: 97, count: body))
                // The access log line comes when the body timeout ended the request.
                try server.waitForLog("\"POST /echo HTTP/1.1\"", timeout: 30)
                #expect(!server.log.contains("WORKER TIMEOUT"))
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        @Test(arguments: ["sync", "async"])
        func workersStartUnderALowDescriptorLimit(worker: String) throws {
            let server = try ServerProcess(["hello:application", "-k", worker, "-w", "2"], fileLimit: 64)
            defer { server.stop() }
            try server.waitUntilReady()
            let limits = try Files.readString("/proc/\(server.pid)/limits")
            #expect(limits.split(separator: "\n").contains { $0.hasPrefix("Max open files") && $0.contains(" 64 ") })
            #expect(try httpGet(port: server.port, "/").status == 200)
            #expect(!server.log.contains("Cannot start a worker"))
        }

        /// A worker killed while idle is not said to be serving the requests it finished before:
        /// one that waited, and one answered at once.
        @Test(arguments: ["sync", "async"])
        func aDeathNamesNoFinishedRequest(worker: String) throws {
            try withServer(["hello:application", "-k", worker]) { server in
                #expect(try httpGet(port: server.port, "/sleep?seconds=0.01").status == 200)
                #expect(try httpGet(port: server.port, "/").status == 200)
                let pid = server.workerPids[0]
                kill(pid, SIGKILL)
                let log = try server.waitForLog("Worker (pid: \(pid), slot 0) was killed by SIGKILL")
                #expect(!log.contains("while serving"), "\(log)")
            }
        }

        /// `kill -ABRT` (or SEGV) sent to a worker ends it, as the signal's default action would,
        /// and it is replaced: Swift's runtime prints its backtrace and, the signal not being a
        /// fault, would return to serving.
        @Test(arguments: [SIGABRT, SIGSEGV])
        func aFatalSignalSentToAWorkerEndsIt(signo: Int32) throws {
            try withServer(["hello:application", "-k", "async"]) { server in
                let pid = server.workerPids[0]
                kill(pid, signo)
                let name = signo == SIGABRT ? "SIGABRT" : "SIGSEGV"
                let log = try server.waitForLog("Worker (pid: \(pid), slot 0) was killed by \(name)", timeout: 20)
                // Idle: the jobs of its startup were a background task's, and are over.
                #expect(!log.contains("while serving"), "\(log)")
                try server.waitForLog("Booting worker with pid", count: 2)
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        /// A request that dies after it waited is named: its task's later jobs are its own.
        @Test(arguments: ["sync", "async"])
        func aDeathAfterAWaitNamesItsRequest(worker: String) throws {
            try withServer(["fixtures:trapping", "-k", worker]) { server in
                let pid = server.workerPids[0]
                _ = try? httpGet(port: server.port, "/crash-later", timeout: 10)
                let log = try server.waitForLog("Worker (pid: \(pid), slot 0) was killed by")
                #expect(log.contains("while serving GET /crash-later"), "\(log)")
                #expect(!log.contains("a background task"), "\(log)")
            }
        }

        @Test(arguments: ["sync", "async"])
        func aCrashNamesItsRequestAndRepeatedCrashesBackOff(worker: String) throws {
            try withServer(["fixtures:trapping", "-k", worker]) { server in
                let first = server.workerPids[0]
                for i in 1...5 {
                    // Each request reaches the worker started after the previous crash.
                    let response = try? httpGet(port: server.port, "/crash")
                    #expect(response == nil, "request \(i) was answered")
                    try server.waitForLog("while serving GET /crash", count: i)
                }
                let log = try server.waitForLog("Booting worker with pid", count: 6)
                #expect(log.contains("Worker (pid: \(first), slot 0) was killed by SIG"))
                // Each death is logged once, with the request in flight.
                #expect(log.occurrences(of: ", slot 0) was killed by SIG") == 5)
                #expect(log.occurrences(of: "while serving GET /crash") == 5)
                // The first crash is restarted at once; each further one in a row waits twice as long.
                #expect(log.occurrences(of: "Worker in slot 0 keeps crashing") == 4)
                #expect(log.contains("keeps crashing (2 times in a row); restarting in 0.2 s"))
                #expect(log.contains("keeps crashing (5 times in a row); restarting in 1.6 s"))
                #expect(try httpGet(port: server.port, "/").status == 200)
                #expect(server.log.occurrences(of: "Booting worker with pid") == 6, "one restart per crash")
            }
        }

        @Test(arguments: ["sync", "async"])
        func aTimedOutRequestGetsNoSuccessAndItsWorkerDiesAtOnce(worker: String) throws {
            let (app, target) = worker == "sync" ? ("hellosync:application", "/sleep?seconds=5") : ("hello:application", "/block?seconds=5")
            try withServer([app, "-k", worker, "--timeout", "1"]) { server in
                let stuck = server.workerPids[0]
                let response = try? httpGet(port: server.port, target)
                #expect(response == nil, "the timed-out request was answered \(response?.status ?? 0)")
                let log = try server.waitForLog("Worker (pid: \(stuck), slot 0) was killed by SIGKILL while serving GET \(target)")
                #expect(log.occurrences(of: "WORKER TIMEOUT") == 1)
                #expect(log.contains("WORKER TIMEOUT (pid: \(stuck), slot 0): "))
                #expect(!log.contains("crashed"), "no backtrace in the log")
                try server.waitForLog("Booting worker with pid", count: 2)
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        @Test(arguments: ["sync", "async"])
        func aWorkerExitIsLoggedOnce(worker: String) throws {
            let server = try ServerProcess(["hello:application", "-k", worker])
            defer { server.stop() }
            try server.waitUntilReady()
            let pid = server.workerPids[0]
            server.signal(SIGTERM)
            #expect(server.waitForExit() == 0)
            #expect(server.log.occurrences(of: "Worker (pid: \(pid), slot 0) exited") == 1)
            #expect(!server.log.contains("Worker exiting"), "the worker does not log its exit as well")
        }

        @Test(arguments: ["sync", "async"])
        func usr1ReachesTheWorkersOverTheControlSocket(worker: String) throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let access = dir.file("access.log")
            try withServer(["hello:application", "-k", worker, "--access-logfile", access]) { server in
                #expect(try httpGet(port: server.port, "/").status == 200)
                try waitUntil { (try? Files.readString(access))?.contains("GET / ") == true }
                // logrotate: move the file away, then USR1.
                #expect(rename(access, access + ".1") == 0)
                server.signal(SIGUSR1)
                try server.waitForLog("reopening log files")
                try waitUntil { Files.exists(access) }
                #expect(try httpGet(port: server.port, "/").status == 200)
                try waitUntil { (try? Files.readString(access))?.contains("GET / ") == true }
                #expect(try Files.readString(access + ".1").occurrences(of: "GET / ") == 1)
            }
        }
    }
}
