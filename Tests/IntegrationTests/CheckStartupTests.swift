import Testing
import TestSupport

extension Integration {
    /// `--check-startup`: the lifespan hooks run once in a worker-like process, and the outcome is
    /// the exit code and the log.
    @Suite struct CheckStartup {
        @Test(arguments: ["sync", "async"])
        func hooksThatSucceedExitZero(worker: String) throws {
            let server = try ServerProcess(["hello:application", "-k", worker, "--check-startup"])
            defer { server.stop() }
            #expect(server.waitForExit() == 0)
            #expect(server.log.contains("startup() of Router succeeded in"))
            #expect(server.log.contains("shutdown() of Router succeeded in"))
            #expect(server.log.contains("arbiter: startup OK; hello:application ran startup() and shutdown() once"))
            #expect(!server.log.contains("Booting worker"))
        }

        @Test func aFailingStartupExitsThreeAndSaysWhy() throws {
            let server = try ServerProcess(["fixtures:failing_startup", "--check-startup"])
            defer { server.stop() }
            #expect(server.waitForExit() == 3)
            #expect(server.log.contains("startup() of FailingStartup failed: "))
        }

        @Test func anAppThatDoesNotLoadExitsFour() throws {
            let server = try ServerProcess(["fixtures:nope", "--check-startup"])
            defer { server.stop() }
            #expect(server.waitForExit() == 4)
            #expect(server.log.contains("has no entry point 'nope'"))
        }

        @Test func anUnknownAccessLogAtomIsWarnedAboutAtStart() throws {
            try withServer(["hello:application", "--access-logfile", "-", "--access-logformat", "%(h)s %(bogus)s"]) { server in
                #expect(server.log.contains("access_log_format: unknown atom(s) %(bogus)s will print '-'"))
            }
        }
    }
}
