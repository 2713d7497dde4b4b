import Foundation
import Glibc
import Platform
import Testing
import TestSupport

/// `arbiter ctl` against a running master: what it reports, and changes answered when done.
extension Integration {
    @Suite struct Control {
        /// Runs `arbiter ctl --socket SOCKET ARGS…` (through `launcher`, e.g. setpriv); exit code and output.
        static func ctl(_ socket: String, _ arguments: [String], launcher: [String] = [], timeout: Double = 60) throws -> (code: Int32?, output: String) {
            let child = try ChildProcess(launcher + [Products.arbiter, "ctl", "--socket", socket] + arguments)
            let code = child.wait(timeout: timeout)
            return (code, child.output)
        }

        /// The reply of a `--json` command as an object.
        static func json(_ output: String) throws -> [String: Any] {
            let object = try JSONSerialization.jsonObject(with: Data(output.utf8))
            return try #require(object as? [String: Any], "not a JSON object: \(output)")
        }

        /// `reopen-logs` answers once every worker has reopened: a request right after the answer is
        /// logged to the new file, not to the one logrotate moved away.
        @Test(arguments: ["sync", "async"])
        func reopenLogsAnswersOnceTheWorkersReopened(worker: String) throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let socket = dir.file("ctl.sock")
            let access = dir.file("access.log")
            try withServer(["hello:application", "-k", worker, "-w", "2", "--control-socket", socket, "--access-logfile", access]) { server in
                #expect(try httpGet(port: server.port, "/").status == 200)
                try waitUntil { (try? Files.readString(access))?.contains("GET / ") == true }
                #expect(rename(access, access + ".1") == 0)
                let reply = try Self.ctl(socket, ["reopen-logs"])
                #expect(reply.code == 0, "\(reply.output)")
                #expect(reply.output.contains("reopened by the master and its 2 worker(s)"), "\(reply.output)")
                for _ in 0..<4 { #expect(try httpGet(port: server.port, "/info").status == 200) }
                try waitUntil { (try? Files.readString(access))?.contains("GET /info ") == true }
                #expect(try Files.readString(access + ".1").contains("GET /info ") == false,
                        "a worker logged to the moved file after reopen-logs answered")
            }
        }

        @Test(arguments: ["sync", "async"])
        func statusAndWorkersShowAnInFlightRequest(worker: String) throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let socket = dir.file("ctl.sock")
            // A blocking sleep holds a request thread; an asynchronous one holds no thread at all.
            let app = worker == "sync" ? "hellosync:application" : "hello:application"
            try withServer([app, "-k", worker, "--threads", "2", "--control-socket", socket]) { server in
                var st = stat()
                #expect(lstat(socket, &st) == 0)
                #expect(st.st_mode & 0o777 == 0o600, "the control socket is mode 0600")
                #expect(st.st_mode & S_IFMT == S_IFSOCK)

                let status = try Self.ctl(socket, ["status"])
                #expect(status.code == 0)
                #expect(status.output.contains("master pid:   \(server.pid)"))
                let statusJSON = try Self.json(try Self.ctl(socket, ["status", "--json"]).output)
                #expect(statusJSON["master_pid"] as? Int == Int(server.pid))
                #expect(statusJSON["generation"] as? Int == 0)
                #expect((statusJSON["workers"] as? [String: Any])?["wanted"] as? Int == 1)
                #expect((statusJSON["listeners"] as? [String])?.count == 1)

                let port = server.port
                TestSupport.Thread.start { _ = try? httpGet(port: port, "/sleep?seconds=20", timeout: 25) }
                var request: [String: Any]?
                try waitUntil {
                    let reply = try Self.json(try Self.ctl(socket, ["workers", "--json"]).output)
                    let workers = reply["workers"] as? [[String: Any]] ?? []
                    request = (workers.first?["in_flight"] as? [[String: Any]])?.first
                    return request != nil
                }
                #expect(request?["method"] as? String == "GET")
                #expect(request?["path"] as? String == "/sleep?seconds=20")
                #expect((request?["elapsed_seconds"] as? Double ?? -1) >= 0)
                let workers = try Self.ctl(socket, ["workers"])
                #expect(workers.code == 0)
                #expect(workers.output.contains("GET /sleep?seconds=20 ("))
                #expect(workers.output.contains(String(server.workerPids[0])))
            }
        }

        @Test func reloadAnswersWithTheNewGenerationOrTheRollbackReason() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let socket = dir.file("ctl.sock")
            try dir.copy(Products.directory + "/libhello.so", to: "libapp.so")
            try withServer([dir.file("libapp.so") + ":application", "-w", "2", "--control-socket", socket]) { server in
                let done = try Self.ctl(socket, ["reload"])
                #expect(done.code == 0)
                #expect(done.output == "reloaded: generation 1 serving with 2 worker(s)\n")
                #expect(server.log.contains("Reload complete: generation 1"), "answered once the reload was done")

                try dir.copy(Products.directory + "/libfixtures.so", to: "libapp.so")  // no `application` entry point
                let failed = try Self.ctl(socket, ["reload", "--json"])
                #expect(failed.code == 1)
                let reply = try Self.json(failed.output)
                #expect(reply["ok"] as? Bool == false)
                #expect((reply["reason"] as? String ?? "").contains("exited with code 4 before it was ready"))
                #expect(reply["generation"] as? Int == 1)
                #expect(try httpGet(port: server.port, "/").status == 200)
            }
        }

        @Test func scaleAnswersOnceTheWorkersServeOrHaveLeft() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let socket = dir.file("ctl.sock")
            try withServer(["hello:application", "-k", "async", "--control-socket", socket]) { server in
                let up = try Self.ctl(socket, ["scale", "+1"])
                #expect(up.code == 0)
                #expect(up.output == "2 worker(s) serving\n")
                #expect(server.log.occurrences(of: "Booting worker") == 2)
                #expect(server.workerPids.count == 2)
                let down = try Self.ctl(socket, ["scale", "-1", "--json"])
                #expect(down.code == 0)
                #expect(try Self.json(down.output)["workers"] as? Int == 1)
                #expect(server.log.contains("Worker retired"), "answered after the extra worker left")
                #expect(server.workerPids.count == 1)
                let refused = try Self.ctl(socket, ["scale", "0"])
                #expect(refused.code == 1)
                #expect(refused.output.contains("scale refused"))
            }
        }

        @Test func upgradeAnswersOnceTheNewMasterServesAndHandsItTheSocket() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let socket = dir.file("ctl.sock")
            let server = try ServerProcess(["hello:application", "--control-socket", socket])
            defer { server.stop() }
            try server.waitUntilReady()
            let upgrade = try Self.ctl(socket, ["upgrade", "--json"])
            #expect(upgrade.code == 0, "\(upgrade.output)")
            let reply = try Self.json(upgrade.output)
            let successor = Int32(try #require(reply["new_master_pid"] as? Int))
            defer { killTree(successor) }
            #expect(reply["old_master_pid"] as? Int == Int(server.pid))
            #expect(server.log.occurrences(of: "Ready:") == 2, "answered once the new master served")
            // The socket path now leads to the new master; the old one leaving does not remove it.
            #expect(try Self.json(try Self.ctl(socket, ["status", "--json"]).output)["master_pid"] as? Int == Int(successor))
            server.signal(SIGWINCH)
            try server.waitForLog("Worker retired")
            server.signal(SIGQUIT)
            #expect(server.waitForExit() == 0)
            #expect(Files.exists(socket))
            #expect(try Self.json(try Self.ctl(socket, ["status", "--json"]).output)["master_pid"] as? Int == Int(successor))
            #expect(try httpGet(port: server.port, "/").status == 200)
        }

        @Test func stopAnswersAsTheMasterExits() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let socket = dir.file("ctl.sock")
            let server = try ServerProcess(["hello:application", "--control-socket", socket])
            defer { server.stop() }
            try server.waitUntilReady()
            let config = try Self.json(try Self.ctl(socket, ["config", "--json"]).output)
            #expect((config["settings"] as? [String: Any])?["control_socket"] as? String == socket)
            // A wrong command line asks nothing: EX_USAGE, not "unreachable".
            let bogus = try Self.ctl(socket, ["bogus"])
            #expect(bogus.code == 64)
            #expect(bogus.output.contains("unknown command 'bogus'"))
            let huge = try Self.ctl(socket, ["scale", "1000000"])
            #expect(huge.code == 64)
            #expect(huge.output.contains("from 1 to 1024"))
            let stop = try Self.ctl(socket, ["stop"])
            #expect(stop.code == 0)
            #expect(stop.output == "stopped (exit code 0)\n")
            #expect(server.waitForExit() == 0)
            #expect(!Files.exists(socket), "the master removes its socket")
            let gone = try Self.ctl(socket, ["status"])
            #expect(gone.code == 2)
        }

        /// The client as user nobody (the socket's mode would already refuse it: it is opened up
        /// here so that the SO_PEERCRED check is what answers).
        static let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

        static var canRunAsNobody: Bool {
            guard geteuid() == 0, Files.exists(asNobody[0]), let child = try? ChildProcess(asNobody + [Products.arbiter, "--version"]) else {
                return false
            }
            return child.wait(timeout: 30) == 0
        }

        @Test(.enabled(if: canRunAsNobody, "needs root, setpriv, and a build directory user nobody can read"))
        func aPeerWithAnotherUidIsRefused() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            chmod(dir.path, 0o755)
            let socket = dir.file("ctl.sock")
            try withServer(["hello:application", "--control-socket", socket]) { server in
                let denied = try Self.ctl(socket, ["status"], launcher: Self.asNobody)
                #expect(denied.code == 2, "mode 0600 keeps other users out: \(denied.output)")
                chmod(socket, 0o666)
                let refused = try Self.ctl(socket, ["stop"], launcher: Self.asNobody)
                #expect(refused.code == 1)
                #expect(refused.output.contains("permission denied: uid 65534 is neither the master's user"))
                #expect(!server.hasExited)
                #expect(try Self.ctl(socket, ["status"]).code == 0, "the master's own user is served")
            }
        }

        @Test func aSilentOrFloodingClientDoesNotStallTheMaster() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let socket = dir.file("ctl.sock")
            try withServer(["hello:application", "--control-socket", socket]) { server in
                // One client connects and sends nothing; another sends an endless line.
                let silent = try UnixSocket.connect(path: socket)
                defer { Descriptor.close(silent) }
                let flood = try UnixSocket.connect(path: socket)
                defer { Descriptor.close(flood) }
                let junk = [UInt8](repeating: UInt8(ascii: "a"), count: 4096)
                _ = junk.withUnsafeBytes { write(flood, $0.baseAddress, $0.count) }
                let status = try Self.ctl(socket, ["status"], timeout: 20)
                #expect(status.code == 0)
                #expect(try httpGet(port: server.port, "/").status == 200)
                var reply = [UInt8](repeating: 0, count: 256)
                let n = reply.withUnsafeMutableBytes { read(flood, $0.baseAddress, $0.count) }
                #expect(n > 0 && String(decoding: reply[0..<max(n, 0)], as: UTF8.self).hasPrefix("error\nrequest longer than"))
            }
        }
    }
}
