import Glibc
import Testing
import TestSupport

/// WebSockets in both worker classes, checked by an independent client (the `websockets` package
/// from PyPI, and raw frames for what a well-behaved client never sends): Tests/Fixtures/websocket_probe.py.
extension Integration {
    @Suite(.enabled(if: Requirement.pythonModule("websockets"), "needs Python's websockets package (pip install websockets)"))
    struct WebSocketTests {
        static let classes: [(worker: String, app: String)] = [("async", "hello"), ("sync", "hellosync")]
        /// Also the other two pairings: an async application's tasks on the sync worker, and
        /// synchronous handlers on the async worker's pool.
        static let pairings = classes + [("sync", "hello"), ("async", "hellosync")]

        /// Runs one check of the probe against `server`; its output and the server's log explain a failure.
        func probe(_ check: String, _ arguments: [String] = [], on server: ServerProcess, timeout: Double = 120) throws {
            let script = Products.packageRoot + "/Tests/Fixtures/websocket_probe.py"
            let child = try ChildProcess(["/usr/bin/env", "python3", script, check, String(server.port)] + arguments)
            let status = child.wait(timeout: timeout)
            if status != 0 {
                throw TestFailure("websocket_probe.py \(check) \(arguments.joined(separator: " ")) exited \(status.map(String.init) ?? "by timeout"):\n"
                    + "\(child.output)\nserver log:\n\(server.log)")
            }
        }

        @Test(arguments: pairings)
        func echoFragmentsHandshakesAndPings(worker: String, app: String) throws {
            try withServer(["\(app):application", "-k", worker, "--threads", "4", "--ws-ping-interval", "0.5", "--ws-ping-timeout", "1"]) { server in
                try probe("echo", on: server)
                try probe("fragments", on: server)
                try probe("handshakes", on: server)
                try probe("server-pings", on: server)
            }
        }

        @Test(arguments: classes)
        func violationsFailWithTheirCloseCodes(worker: String, app: String) throws {
            try withServer(["\(app):application", "-k", worker, "--threads", "4", "--ws-max-size", "65536"]) { server in
                try probe("violations", ["65536"], on: server)
                try probe("inflate-limit", ["65536"], on: server)
            }
        }

        @Test func thousandSocketsOnOneAsyncWorker() throws {
            let server = try ServerProcess(["hello:application", "-k", "async", "--worker-connections", "1200"], fileLimit: 4096)
            defer { server.stop() }
            try server.waitUntilReady()
            try probe("many", ["1000"], on: server)
        }

        /// HUP with 200 open sockets: each gets 1001, clients that never answer are dropped after
        /// `--ws-close-timeout`, the reload completes, and new sockets reach the new generation.
        @Test(arguments: classes)
        func reloadClosesSocketsWithGoingAway(worker: String, app: String) throws {
            let server = try ServerProcess(
                ["\(app):application", "-k", worker, "-w", "2", "--threads", "220", "--ws-close-timeout", "2"], fileLimit: 4096)
            defer { server.stop() }
            try server.waitUntilReady()
            try probe("reload", ["200", String(server.pid), "6"], on: server)
            try server.waitForLog("Reload complete", timeout: 30)
        }

        @Test func chatExample() throws {
            try withServer(["chat:application", "-k", "async"]) { server in
                try probe("chat", on: server)
            }
        }

        /// TERM: every socket gets 1001 and the server exits within the close timeout.
        @Test(arguments: classes)
        func stopClosesSocketsWithGoingAway(worker: String, app: String) throws {
            let server = try ServerProcess(["\(app):application", "-k", worker, "--threads", "20", "--ws-close-timeout", "2"])
            defer { server.stop() }
            try server.waitUntilReady()
            try probe("going-away", ["10", String(server.pid), "TERM", "6"], on: server)
            #expect(server.waitForExit(timeout: 30) == 0, "\(server.log)")
        }

        /// `--max-requests`: the worker that reached it closes its sockets with 1001, and its
        /// replacement serves new ones.
        @Test(arguments: classes)
        func recyclingClosesSocketsWithGoingAway(worker: String, app: String) throws {
            try withServer(["\(app):application", "-k", worker, "--threads", "20", "--max-requests", "5", "--ws-close-timeout", "2"]) { server in
                try probe("going-away", ["5", String(server.pid), "recycle", "10"], on: server)
                try probe("fragments", on: server)
            }
        }

        /// A synchronous WebSocket holds a request thread: the boot log says so, with the limit.
        @Test func syncWorkerAnnouncesThreadPerSocket() throws {
            try withServer(["hellosync:application", "-k", "sync", "--threads", "3"]) { server in
                #expect(server.log.contains("WebSocket"), "\(server.log)")
            }
        }
    }
}
