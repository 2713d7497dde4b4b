import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    @Suite struct Systemd {
        @Test func notificationsAcrossStartReloadAndStop() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let notify = try NotifySocket(path: dir.file("notify"))
            let server = try ServerProcess(["hello:application", "-w", "2"], environment: ["NOTIFY_SOCKET": notify.path])
            defer { server.stop() }
            let ready = try notify.receive(until: "READY=1")
            // READY=1 only once every worker serves: a request succeeds right away.
            #expect(ready.count == 1, "nothing before READY=1: \(ready)")
            #expect(try server.waitForLog("Booting worker", count: 2).occurrences(of: "Booting worker") == 2)
            #expect(try httpGet(port: server.port, "/").status == 200)
            #expect(ready[0].contains("STATUS=Serving: 2 worker(s), generation 0"))

            server.signal(SIGHUP)
            let reloading = try notify.receive(until: "RELOADING=1")
            #expect(reloading.last!.contains("MONOTONIC_USEC="))
            let reloaded = try notify.receive(until: "READY=1")
            #expect(reloaded.last!.contains("generation 1"))
            try server.waitForLog("Reload complete: generation 1")

            server.signal(SIGTERM)
            _ = try notify.receive(until: "STOPPING=1")
            #expect(server.waitForExit() == 0)
        }

        @Test func theWatchdogIsPingedWhileWorkersServe() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let notify = try NotifySocket(path: dir.file("notify"))
            try withServer(["hello:application"], environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"]) { _ in
                let messages = try notify.receive(until: "WATCHDOG=1", timeout: 10)
                #expect(messages.contains { $0.hasPrefix("READY=1") })
                _ = try notify.receive(until: "WATCHDOG=1", timeout: 10)
            }
        }

        /// systemd-socket-activate (Debian package `systemd`) binds and passes LISTEN_FDS.
        @Test(.enabled(if: Requirement.commands("systemd-socket-activate"), "needs systemd-socket-activate (Debian: systemd)"))
        func socketActivationServesOnTheInheritedSocket() throws {
            let activate = "/usr/bin/systemd-socket-activate"
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let socketPath = dir.file("http.sock")
            let server = try ServerProcess(
                ["hello:application", "-w", "2"], launcher: [activate, "-l", socketPath, "--fdname=http"])
            defer { server.stop() }
            // The launcher starts arbiter on the first connection, as systemd does.
            try waitUntil { Files.exists(socketPath) }
            let response = try HTTPConnection(unixPath: socketPath, timeout: 60).request("GET", "/")
            try server.waitUntilReady()
            #expect(server.log.contains("socket 'http' from systemd"))
            #expect(response.status == 200)
            #expect(response.text == "Hello, World!")
            // A reload keeps systemd's socket; stopping does not remove the file systemd owns.
            server.signal(SIGHUP)
            try server.waitForLog("Reload complete: generation 1")
            #expect(try HTTPConnection(unixPath: socketPath).request("GET", "/").status == 200)
            server.signal(SIGTERM)
            #expect(server.waitForExit() == 0)
            #expect(Files.exists(socketPath))
        }
    }
}
