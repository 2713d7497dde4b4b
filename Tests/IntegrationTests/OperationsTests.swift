import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    @Suite struct Operations {
        @Test func hupPicksUpARebuiltAppAndAChangedSetting() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try dir.copy(Products.directory + "/libhello.so", to: "libapp.so")
            try dir.write("app.conf", "proc_name = before\n")
            try withServer(["-c", dir.file("app.conf"), dir.file("libapp.so") + ":application", "-w", "2"]) { server in
                let before = try httpGet(port: server.port, "/block?seconds=0")
                #expect(before.status == 200)
                #expect(server.workerPids.map(commandLine) == ["arbiter: worker [before]", "arbiter: worker [before]"])
                // Deploy: the synchronous example (which has no /block) replaces the library.
                try dir.copy(Products.directory + "/libhellosync.so", to: "libapp.so")
                try dir.write("app.conf", "proc_name = after\n")
                server.signal(SIGHUP)
                try server.waitForLog("Reload complete: generation 1 serving with 2 worker(s)")
                let after = try httpGet(port: server.port, "/block?seconds=0")
                #expect(after.status == 404)
                try waitUntil { server.workerPids.map(commandLine) == ["arbiter: worker [after]", "arbiter: worker [after]"] }
            }
        }

        @Test func aReloadThatCannotBootRollsBack() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try dir.copy(Products.directory + "/libhello.so", to: "libapp.so")
            try withServer([dir.file("libapp.so") + ":application", "-w", "2"]) { server in
                try dir.copy(Products.directory + "/libfixtures.so", to: "libapp.so")  // no `application` entry point
                server.signal(SIGHUP)
                let log = try server.waitForLog("Reload failed:")
                #expect(log.contains("exited with code 4 before it was ready; keeping generation 0"))
                #expect(log.contains("has no entry point 'application'"))
                #expect(server.hasExited == false)
                let response = try httpGet(port: server.port, "/block?seconds=0")
                #expect(response.status == 200)
            }
        }

        @Test func usr2WinchQuitLeaveOneMasterServing() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let pidfile = dir.file("arbiter.pid")
            let server = try ServerProcess(["hello:application", "-w", "2", "-p", pidfile])
            defer { server.stop() }
            try server.waitUntilReady()
            #expect(try Files.readString(pidfile) == "\(server.pid)\n")
            server.signal(SIGUSR2)
            let log = try server.waitForLog("Upgrading: started a new master (pid: ")
            let successor = try #require(Int32(log.between("Upgrading: started a new master (pid: ", ")") ?? ""))
            defer { killTree(successor) }
            try server.waitForLog("Ready:", count: 2)
            #expect(try Files.readString(pidfile) == "\(successor)\n")
            #expect(try Files.readString(pidfile + ".oldbin") == "\(server.pid)\n")
            server.signal(SIGWINCH)
            try server.waitForLog("Worker retired", count: 2)
            #expect(try httpGet(port: server.port, "/").status == 200)
            server.signal(SIGQUIT)
            #expect(server.waitForExit() == 0)
            #expect(!Files.exists(pidfile + ".oldbin"))
            #expect(try httpGet(port: server.port, "/").status == 200)
            #expect(commandLine(successor).hasPrefix("arbiter: master [hello:application]"))
            #expect(ProcessTree.children(of: successor).count == 2)
        }

        /// A new generation whose `startup()` hangs is killed at `--timeout` and rolled back, and
        /// the next reload goes ahead.
        @Test func aHangingStartupDoesNotHoldReloadsOff() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try dir.write("gate", "")
            let server = try ServerProcess(
                ["fixtures:gated_startup", "-k", "async", "--timeout", "2"], environment: ["ARBITER_TEST_GATE": dir.file("gate")])
            defer { server.stop() }
            try server.waitUntilReady()
            unlink(dir.file("gate"))
            server.signal(SIGHUP)
            try server.waitForLog("s after it started (timeout); killing it (SIGKILL)")
            try server.waitForLog("Reload failed")
            #expect(try httpGet(port: server.port, "/").text == "ok")
            try dir.write("gate", "")
            server.signal(SIGHUP)
            try server.waitForLog("Reload complete")
            #expect(try httpGet(port: server.port, "/").text == "ok")
        }

        /// USR2 after TERM is ignored: a new master would serve on after the stop.
        @Test func anUpgradeDuringAStopIsIgnored() throws {
            let server = try ServerProcess(["hellosync:application", "--log-level", "debug"])
            defer { server.stop() }
            try server.waitUntilReady()
            let port = server.port
            // A request in flight keeps the graceful stop going while USR2 arrives.
            TestSupport.Thread.start { _ = try? httpGet(port: port, "/sleep?seconds=2") }
            try server.waitForLog("Request started: GET /sleep")
            server.signal(SIGTERM)
            try server.waitForLog("Handling signal: term")
            server.signal(SIGUSR2)
            try server.waitForLog("Upgrade ignored: the master is stopping")
            #expect(server.waitForExit() == 0)
            #expect(!server.log.contains("Upgrading: started a new master"))
        }

        @Test func aStuckSyncRequestIsNamedAndItsWorkerReplaced() throws {
            try withServer(["hellosync:application", "--timeout", "1"]) { server in
                let port = server.port
                TestSupport.Thread.start { _ = try? httpGet(port: port, "/sleep?seconds=30") }
                let stuck = server.workerPids[0]
                let log = try server.waitForLog("WORKER TIMEOUT", timeout: 15)
                #expect(log.contains("WORKER TIMEOUT (pid: \(stuck), slot 0): GET /sleep?seconds=30 made no progress for"))
                // Killed at once (SIGKILL) and replaced.
                try server.waitForLog("Worker (pid: \(stuck), slot 0) was killed by SIG")
                try server.waitForLog("Booting worker with pid", count: 2)
                let response = try httpGet(port: port, "/")
                #expect(response.status == 200)
            }
        }

        @Test func aBlockedEventLoopIsNamedAndItsWorkerReplaced() throws {
            try withServer(["hello:application", "-k", "async", "--timeout", "1"]) { server in
                let port = server.port
                TestSupport.Thread.start { _ = try? httpGet(port: port, "/block?seconds=6") }
                let log = try server.waitForLog("WORKER TIMEOUT", timeout: 15)
                #expect(log.contains("event loop silent for"))
                #expect(log.contains("blocked in GET /block?seconds=6"))
                try server.waitForLog("Booting worker with pid", count: 2)
                let response = try httpGet(port: port, "/")
                #expect(response.status == 200)
            }
        }

        @Test(arguments: ["sync", "async"])
        func maxRequestsRecyclesWithoutDroppingRequests(worker: String) throws {
            try withServer(["hello:application", "-k", worker, "--max-requests", "5"]) { server in
                for i in 0..<12 {
                    let response = try httpGet(port: server.port, "/")
                    #expect(response.status == 200, "request \(i)")
                }
                let log = try server.waitForLog("Worker retired")
                #expect(log.contains("Recycling worker"))
                #expect(log.contains("max_requests reached (5 requests)"))
            }
        }

        @Test func memoryOverTheLimitRecycles() throws {
            try withServer(["hello:application", "--max-worker-memory", "1"]) { server in
                let log = try server.waitForLog("Worker retired", timeout: 20)
                #expect(log.contains("memory: PSS"))
                #expect(log.contains("is over max_worker_memory 1 MiB"))
            }
        }

        @Test func aPidfileNamingALiveProcessIsRefused() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try dir.write("taken.pid", "\(getpid())\n")
            let server = try ServerProcess(["hello:application", "-p", dir.file("taken.pid")])
            defer { server.stop() }
            #expect(server.waitForExit() == 1)
            #expect(server.log.contains("names a running process (pid \(getpid()))"))
        }

        @Test func thePidfileIsRemovedOnExit() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let server = try ServerProcess(["hello:application", "-p", dir.file("a.pid")])
            defer { server.stop() }
            try server.waitUntilReady()
            #expect(Files.exists(dir.file("a.pid")))
            server.signal(SIGTERM)
            #expect(server.waitForExit() == 0)
            #expect(!Files.exists(dir.file("a.pid")))
        }

        @Test func environmentFromTheCommandLineReachesTheApp() throws {
            // The access log's `{NAME}e` is the request's environ (as in Gunicorn), never the
            // process environment, which `-e` sets: the application reads that one.
            let arguments = ["fixtures:environment", "-e", "GREETING=hi", "--umask", "027", "--access-logfile", "-",
                             "--access-logformat", "greeting=%({GREETING}e)s path=%({PATH_INFO}e)s"]
            try withServer(arguments) { server in
                let pid = server.workerPids[0]
                #expect(try httpGet(port: server.port, "/GREETING").body == Array("hi".utf8))
                try server.waitForLog("greeting=- path=/GREETING")
                let status = try Files.readString("/proc/\(pid)/status")
                #expect(status.contains("Umask:\t0027"))
            }
        }

        /// `%({name}o)s` logs a response header the application set, from either worker class
        /// (the connection machine keeps a response's fields only for such a format).
        @Test(arguments: ["sync", "async"])
        func theAccessLogNamesAResponseHeader(worker: String) throws {
            let arguments = ["hello:application", "-k", worker, "--access-logfile", "-",
                             "--access-logformat", "type=%({content-type}o)s status=%(s)s"]
            try withServer(arguments) { server in
                #expect(try httpGet(port: server.port, "/").status == 200)
                try server.waitForLog("type=text/plain; charset=utf-8 status=200")
            }
        }
    }
}

/// Polls `condition` until it holds, at most `timeout` seconds.
func waitUntil(timeout: Double = 15, _ condition: () throws -> Bool) throws {
    let deadline = Clock.monotonic() + timeout
    while Clock.monotonic() < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw TestFailure("condition not met within \(timeout) s")
}

extension String {
    /// The text between the first `start` and the next `end`.
    func between(_ start: String, _ end: String) -> String? {
        guard let a = firstRange(of: start) else { return nil }
        let rest = self[a.upperBound...]
        guard let b = rest.firstRange(of: end) else { return nil }
        return String(rest[..<b.lowerBound])
    }
}

extension Integration {
    @Suite struct ReloadSettings {
        /// `-c app.conf` relative to where arbiter started, with `--chdir` elsewhere: HUP still finds
        /// the file, applies a changed `raw_env` to the new workers and names what needs a restart.
        @Test func hupWithARelativeConfigAndChdirAppliesRawEnv() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try dir.copy(Products.directory + "/libfixtures.so", to: "libapp.so")
            try dir.write("app.conf", "raw_env = STAGE=one\n")
            // arbiter starts in this process's directory: a path relative to it.
            let depth = Files.currentDirectory().split(separator: "/").count
            let relative = String(repeating: "../", count: depth) + dir.file("app.conf").dropFirst()
            try withServer(["-c", relative, "--chdir", dir.path, "app:environment"]) { server in
                #expect(try httpGet(port: server.port, "/STAGE").text == "one")
                try dir.write("app.conf", "raw_env = STAGE=two\nbacklog = 64\numask = 027\npreload_app = true\n")
                server.signal(SIGHUP)
                try server.waitForLog("Reload complete: generation 1")
                #expect(!server.log.contains("Reload failed"))
                try waitUntil { try httpGet(port: server.port, "/STAGE").text == "two" }
                #expect(server.log.contains("Setting(s) changed on reload but need a restart: preload_app (it applies when the master starts)\n"))
                #expect(try Files.readString("/proc/\(server.pid)/status").contains("Umask:\t0027"))
                #expect(!server.log.contains("chdir ("))
            }
        }

        /// `--error-logfile -` is stderr, as in Gunicorn: with stdout thrown away the log still arrives.
        @Test func theErrorLogDashGoesToStderr() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let server = try ServerProcess(
                ["hello:application", "--error-logfile", "-", "-b", "unix:" + dir.file("s.sock")],
                launcher: ["/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/null"])
            defer { server.stop() }
            try server.waitUntilReady()
            #expect(server.log.contains("Listening at: unix:"))
        }
    }
}
