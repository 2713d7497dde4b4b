import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    @Suite struct Loading {
        @Test func aMissingAppExitsFourAndSaysWhereItLooked() throws {
            let server = try ServerProcess(["nosuchapp:application"])
            defer { server.stop() }
            #expect(server.waitForExit() == 4)
            #expect(server.log.contains("application 'nosuchapp:application' not found; searched:"))
            #expect(server.log.contains("/.build/debug/libnosuchapp.so"))
        }

        @Test func preloadFailsFastInTheMaster() throws {
            let server = try ServerProcess(["nosuchapp:application", "--preload"])
            defer { server.stop() }
            #expect(server.waitForExit() == 4)
            #expect(!server.log.contains("Booting worker"))
        }

        @Test func aMissingSymbolListsTheEntryPoints() throws {
            let server = try ServerProcess(["fixtures:nope"])
            defer { server.stop() }
            #expect(server.waitForExit() == 4)
            #expect(server.log.contains("has no entry point 'nope'; it exports: adapted, environment, failing_startup, file_server, future_abi, gated_startup, layered, logged_sleeper"))
        }

        @Test func anABIMismatchIsRefused() throws {
            let server = try ServerProcess(["fixtures:future_abi"])
            defer { server.stop() }
            #expect(server.waitForExit() == 4)
            #expect(server.log.contains("was built for arbiter ABI version 2, but this arbiter speaks version 1"))
        }

        /// A library copy cut short would crash the system loader (SIGBUS, in every worker, again
        /// and again): it is refused with exit 4 and says so.
        @Test func aTruncatedLibraryExitsFour() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let whole = try Files.read(Products.directory + "/libhello.so")
            try dir.write("libcut.so", Array(whole.prefix(3000)))
            let server = try ServerProcess(["cut:application", "--app-path", dir.path])
            defer { server.stop() }
            #expect(server.waitForExit() == 4)
            #expect(server.log.contains("libcut.so"))
            #expect(server.log.contains("truncated"))
        }

        @Test func aFlagMissingItsValueDoesNotTakeTheNextOption() throws {
            let server = try ServerProcess(["hello:application", "--pid", "--check-config"])
            defer { server.stop() }
            #expect(server.waitForExit() == 1)
            #expect(server.log.contains("--pid needs a value, and the next argument is the option --check-config"))
        }

        @Test func aFailingStartupStopsTheMasterWithCodeThree() throws {
            let server = try ServerProcess(["fixtures:failing_startup", "-w", "2"])
            defer { server.stop() }
            #expect(server.waitForExit() == 3)
            #expect(server.log.contains("application startup failed: database unreachable (fixture)"))
            #expect(server.log.contains("stopping the master with exit code 3"))
            #expect(server.log.occurrences(of: "Booting worker") <= 2, "no respawn loop")
        }

        @Test func aBadConfigExitsOneNamingFileAndLine() throws {
            let path = "/tmp/arbiter-test-\(getpid()).conf"
            try Descriptor.writeAll(try syscall("open") { open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }, "workers = 2\nthreads = lots\n")
            defer { unlink(path) }
            let server = try ServerProcess(["-c", path, "hello:application"])
            defer { server.stop() }
            #expect(server.waitForExit() == 1)
            #expect(server.log.contains("arbiter: error: \(path):2: threads = 'lots': not a whole number"))
        }

        @Test func aBadFlagExitsOne() throws {
            let server = try ServerProcess(["hello:application", "--workers", "many"])
            defer { server.stop() }
            #expect(server.waitForExit() == 1)
            #expect(server.log.contains("workers = 'many': not a whole number"))
        }

        @Test func bindErrorsSayWhatIsWrong() throws {
            let unopened = try ServerProcess(["hello:application", "-b", "fd://200"])
            defer { unopened.stop() }
            #expect(unopened.waitForExit() == 1)
            #expect(unopened.log.contains("Cannot listen at fd://200: descriptor 200 is not open in this process"))
            let unresolved = try ServerProcess(["hello:application", "-b", "no-such-host.invalid:8000"])
            defer { unresolved.stop() }
            #expect(unresolved.waitForExit() == 1)
            #expect(unresolved.log.contains("cannot resolve host 'no-such-host.invalid'"))
            #expect(!unresolved.log.contains("errno"))
            // A bare number is a host (0.0.70.184), as in Gunicorn: the error says how to name a port.
            let number = try ServerProcess(["hello:application", "-b", "18104"])
            defer { number.stop() }
            #expect(number.waitForExit() == 1)
            #expect(number.log.contains("'18104' is read as a host, not a port; to listen on port 18104 write ':18104'"))
        }

        /// A port another process still holds (a server being restarted) is tried again each
        /// second, five times, as Gunicorn does; once it is free, the server starts.
        @Test func aPortInUseIsRetried() throws {
            let holder = try TestListener.make()
            let server = try ServerProcess(["hello:application", "-b", "127.0.0.1:\(holder.port)"], bindListener: false)
            defer { server.stop() }
            try server.waitForLog("Connection in use: 127.0.0.1:\(holder.port); retrying in 1 second (attempt 1 of 5)")
            Descriptor.close(holder.fd)
            try server.waitUntilReady()
            #expect(try httpGet(port: holder.port, "/").status == 200)
        }

        @Test func checkConfigRefusesALogFileThatCannotBeOpened() throws {
            let server = try ServerProcess(["hello:application", "--access-logfile", "/nonexistent-dir/a.log", "--check-config"])
            defer { server.stop() }
            #expect(server.waitForExit() == 1)
            #expect(server.log.contains("cannot create log file /nonexistent-dir/a.log"))
        }

        @Test func checkConfigLoadsTheApp() throws {
            let server = try ServerProcess(["hello:application", "--check-config"])
            defer { server.stop() }
            #expect(server.waitForExit() == 0)
            #expect(server.log.contains("configuration OK; hello:application loads from"))
        }

        /// sync middleware → async middleware → sync application: the inner synchronous part runs on
        /// the thread the outer one holds, so even a single pool thread is enough.
        @Test(arguments: ["sync", "async"])
        func middlewareOfBothKindsComposes(worker: String) throws {
            try withServer(["fixtures:layered", "-k", worker, "--threads", "1"]) { server in
                let response = try httpGet(port: server.port, "/")
                #expect(response.status == 200)
                #expect(response.header("X-Middleware") == "tag")
                #expect(response.header("X-Async-Middleware") == "tag")
            }
        }

        /// The app lives in its own SwiftPM package that depends on this one by path.
        @Test func anAppFromASeparatePackageLoadsAndServes() throws {
            let fixture = Products.packageRoot + "/Tests/Fixtures/ExternalApp"
            var build = try ChildProcess(["/usr/bin/env", "swift", "build", "--package-path", fixture])
            var status = build.wait(timeout: 900)
            if status != 0 {
                // A build left by an older checkout can miss files added to AppProtocol since:
                // SwiftPM keeps the dependency's source list. Build once more from scratch.
                _ = try ChildProcess(["/bin/rm", "-rf", fixture + "/.build"]).wait(timeout: 60)
                build = try ChildProcess(["/usr/bin/env", "swift", "build", "--package-path", fixture])
                status = build.wait(timeout: 900)
            }
            #expect(status == 0, "building the external package failed:\n\(build.output)")
            guard status == 0 else { return }
            try withServer(["external:application", "--app-path", fixture + "/.build/debug"]) { server in
                let response = try httpGet(port: server.port, "/shop")
                #expect(response.status == 200)
                #expect(response.text == "Hello from a separate package: GET /shop")
            }
        }
    }
}
