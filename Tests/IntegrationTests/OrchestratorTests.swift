import Glibc
import Platform
import Testing
import TestSupport

/// Whether this machine lets us make a PID namespace (containers often do not).
func pidNamespacesWork() -> Bool {
    (try? run(["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "/bin/true"], timeout: 10).code) == 0
}

extension Integration {
    /// Health checks, the shutdown delay, and running as PID 1.
    @Suite struct Orchestrators {
        @Test func readinessWaitsForEveryWorkerAndLivenessDoesNot() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let gate = dir.file("gate")
            let server = try ServerProcess(
                ["fixtures:gated_startup", "-k", "async", "-w", "2", "--metrics-bind", "fd://4"],
                environment: ["ARBITER_TEST_GATE": gate], extraListeners: 1)
            defer { server.stop() }
            let metrics = server.extraListeners[0].port
            try server.waitForLog("Booting worker with pid", count: 2)
            // Workers are held in their startup: the master lives, the service is not ready.
            #expect(try httpGet(port: metrics, "/livez").status == 200)
            let booting = try httpGet(port: metrics, "/readyz")
            #expect(booting.status == 503)
            #expect(booting.text == "not ready\n")
            #expect(try Scrape(port: metrics)["arbiter_ready"] == 0)
            try dir.write("gate", "")
            try server.waitUntilReady()
            #expect(try httpGet(port: metrics, "/readyz").status == 200)
            #expect(try httpGet(port: metrics, "/elsewhere").status == 404)
            // A reload keeps the old generation serving until the new one is ready: still ready.
            server.signal(SIGHUP)
            try server.waitForLog("Reload complete")
            #expect(try httpGet(port: metrics, "/readyz").status == 200)
        }

        /// A worker takes no request before its application's `startup()` finished (a request sent
        /// while it runs waits in the listen queue), in both worker classes.
        @Test(arguments: ["sync", "async"])
        func noRequestIsServedBeforeStartupFinished(worker: String) throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let server = try ServerProcess(
                ["fixtures:gated_startup", "-k", worker, "-w", "1"], environment: ["ARBITER_TEST_GATE": dir.file("gate")])
            defer { server.stop() }
            try server.waitForLog("Booting worker with pid")
            let c = try HTTPConnection(port: server.port)
            defer { c.close() }
            try c.send("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            // Nothing comes while startup is held (a worker serving early answers within this second).
            var pending = pollfd(fd: c.fd, events: Int16(POLLIN), revents: 0)
            #expect(poll(&pending, 1, 1000) == 0)
            try dir.write("gate", "")
            #expect(try c.readResponse().text == "ok")
        }

        @Test(arguments: ["sync", "async"])
        func theShutdownDelayReportsNotReadyWhileStillServing(worker: String) throws {
            let server = try ServerProcess(
                ["hello:application", "-k", worker, "--shutdown-delay", "5", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let metrics = server.extraListeners[0].port
            #expect(try httpGet(port: metrics, "/readyz").status == 200)
            server.signal(SIGTERM)
            try server.waitForLog("Not ready; serving on for 5 s")
            #expect(try httpGet(port: metrics, "/readyz").status == 503)
            #expect(try httpGet(port: metrics, "/livez").status == 200)
            // New connections are still served during the delay.
            #expect(try httpGet(port: server.port, "/").status == 200)
            #expect(!server.log.contains("Shutdown delay over"), "the delay ended before the checks; the machine is too slow for this test")
            try server.waitForLog("Shutdown delay over; stopping gracefully", timeout: 30)
            #expect(server.waitForExit() == 0)
            let log = server.log
            #expect(log.firstRange(of: "Not ready; serving on")!.lowerBound < log.firstRange(of: "Shutdown delay over")!.lowerBound)
            #expect(log.contains("Shutting down: Master"))
        }

        @Test(.enabled(if: pidNamespacesWork(), "unshare --pid is not permitted here"))
        func asPidOneItReapsOrphansAndHandlesSignals() throws {
            let server = try ServerProcess(
                ["hello:application", "-k", "async", "-b", "fd://4"],
                launcher: ["/usr/bin/unshare", "--pid", "--fork", "--mount-proc"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            #expect(try httpGet(port: server.extraListeners[0].port, "/").status == 200)
            // unshare forks arbiter as PID 1 of the new namespace.
            guard let master = ProcessTree.children(of: server.pid).first else { throw TestFailure("no master under unshare") }
            #expect(try Files.readString("/proc/\(master)/status").contains("NSpid:\t\(master)\t1"))
            let workers = Set(ProcessTree.children(of: master))
            // An orphan in the namespace: its parent (sh) exits at once, so it is re-parented to PID 1.
            let spawned = try run(["/usr/bin/nsenter", "--target", "\(master)", "--pid", "--", "/bin/sh", "-c", "sleep 1 & exit 0"])
            #expect(spawned.code == 0, "nsenter: \(spawned.output)")
            var orphan: Int32?
            try waitUntil {
                orphan = ProcessTree.children(of: master).first { !workers.contains($0) }
                return orphan != nil
            }
            // Once it exits, PID 1 reaps it: no zombie is left behind.
            try waitUntil { !Set(ProcessTree.children(of: master)).contains(orphan!) }
            #expect(!Files.exists("/proc/\(orphan!)"))
            #expect(!server.log.contains("Worker (pid: \(orphan!)"), "the orphan is not taken for a worker")
            // TERM to PID 1: a graceful stop; unshare exits with arbiter's code.
            kill(master, SIGTERM)
            #expect(server.waitForExit() == 0)
            #expect(server.log.contains("Shutting down: Master"))
        }
    }
}
