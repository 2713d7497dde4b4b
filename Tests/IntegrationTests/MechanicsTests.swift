import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    @Suite struct Mechanics {
        @Test func hupAppliesChangedBinds() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let first = dir.file("first.sock")
            let second = dir.file("second.sock")
            try dir.write("app.conf", "bind = unix:\(first)\n")
            let server = try ServerProcess(["-c", dir.file("app.conf"), "hello:application"], bindListener: false)
            defer { server.stop() }
            try server.waitUntilReady()
            #expect(try HTTPConnection(unixPath: first).request("GET", "/").status == 200)
            try dir.write("app.conf", "bind = unix:\(second)\n")
            server.signal(SIGHUP)
            try server.waitForLog("Reload complete: generation 1")
            #expect(try HTTPConnection(unixPath: second).request("GET", "/").status == 200)
            try server.waitForLog("No longer listening at: unix:\(first)")
            #expect(!Files.exists(first))
        }

        /// Workers drop to `--user`/`--group` and still write log files in a directory only root may
        /// write to: the master creates them and gives them to that user, at start and at USR1 (after
        /// a rotation re-created them as root), as Gunicorn does.
        @Test func workersDropToTheConfiguredUser() throws {
            guard getuid() == 0 else { return }  // only root can switch users
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            chmod(dir.path, 0o755)
            let access = dir.file("access.log")
            try withServer(["hello:application", "--user", "nobody", "--group", "nogroup",
                            "--access-logfile", access]) { server in
                let status = try Files.readString("/proc/\(server.workerPids[0])/status")
                let uid = status.split(separator: "\n").first { $0.hasPrefix("Uid:") }
                #expect(uid?.split(separator: "\t").dropFirst().first == "65534")
                #expect(try httpGet(port: server.port, "/").status == 200)
                var info = stat()
                #expect(stat(access, &info) == 0 && info.st_uid == 65534 && info.st_gid == 65534)
                try waitUntil { (try? Files.readString(access))?.contains("\"GET / HTTP/1.1\" 200") == true }
                // A rotation: the file moves away, USR1 re-creates it for the workers.
                #expect(rename(access, access + ".1") == 0)
                server.signal(SIGUSR1)
                try waitUntil { Files.exists(access) }
                try waitUntil {
                    _ = try? httpGet(port: server.port, "/rotated")
                    return (try? Files.readString(access))?.contains("GET /rotated") == true
                }
                #expect(stat(access, &info) == 0 && info.st_uid == 65534)
            }
        }

        @Test func daemonDetachesAndKeepsServing() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let pidfile = dir.file("d.pid")
            let launcher = try ServerProcess(["hello:application", "-D", "-p", pidfile])
            defer { launcher.stop() }
            #expect(launcher.waitForExit() == 0)
            try waitUntil { Files.exists(pidfile) }
            let daemon = try #require(Int32((try Files.readString(pidfile)).split(separator: "\n").first ?? ""))
            defer { killTree(daemon) }
            #expect(daemon != launcher.pid)
            try waitUntil { ProcessTree.children(of: daemon).count == 1 }
            let response = try httpGet(port: launcher.port, "/", timeout: 30)
            #expect(response.status == 200)
            kill(daemon, SIGTERM)
            try waitUntil { kill(daemon, 0) != 0 }
            #expect(!Files.exists(pidfile))
        }

        @Test func printConfigShowsTheResolvedSettings() throws {
            let server = try ServerProcess(["hello:application", "-w", "3", "--print-config"], environment: ["ARBITER_CMD_ARGS": "--threads 7"])
            defer { server.stop() }
            #expect(server.waitForExit() == 0)
            #expect(server.log.contains("workers = 3\n"))
            #expect(server.log.contains("threads = 7\n"))
            #expect(server.log.contains("app = hello:application\n"))
        }
    }
}

extension Integration {
    @Suite struct Bodies {
        @Test(arguments: ["sync", "async"])
        func fileBodiesAreSentWithTheirLength(worker: String) throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let content = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
            try dir.write("blob", content)
            try withServer(["fixtures:file_server", "-k", worker, "-e", "FIXTURE_FILE=\(dir.file("blob"))"]) { server in
                let c = try HTTPConnection(port: server.port)
                let response = try c.request("GET", "/blob")
                #expect(response.status == 200)
                #expect(response.header("Content-Length") == "200000")
                #expect(response.body == content)
                let missing = try c.request("GET", "/missing")
                #expect(missing.status == 500)
                try server.waitForLog("cannot open /nonexistent/file")
            }
        }
    }

    @Suite struct Journal {
        @Test func journalLinesCarryPrioritiesAndNoTimestamps() throws {
            let server = try ServerProcess(["hello:application"], journal: true)
            defer { server.stop() }
            try server.waitUntilReady()
            let lines = server.log.split(separator: "\n").filter { !$0.isEmpty }
            #expect(lines.contains("<6>[\(server.pid)] Starting arbiter 0.1.0"))
            #expect(lines.allSatisfy { $0.hasPrefix("<") }, "\(lines)")
            #expect(!server.log.contains("] [INFO] "))
        }
    }
}
