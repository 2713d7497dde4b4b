import CArbiter
import Configuration
import Glibc
import Platform
import Supervision

/// `arbiter --check-startup`: runs the application's `startup()` and `shutdown()` once, in a fresh
/// process like a worker's (the master itself never runs application code), and reports.
enum StartupCheck {
    static func run(settings: Settings, logger: Logger) -> Int32 {
        let environment = Master.workerEnvironment() + [
            "\(WorkerLaunch.startupCheckVariable)=1",
            "\(WorkerLaunch.settingsVariable)=\(ConfigFile.render(settings))",
        ]
        let pid: pid_t
        do {
            pid = try ProcessControl.spawn(
                path: "/proc/self/exe", arguments: ["arbiter: startup check [\(settings.displayName)]"],
                environment: environment, descriptors: [(STDOUT_FILENO, STDOUT_FILENO), (STDERR_FILENO, STDERR_FILENO)])
        } catch {
            logger.error("Cannot start the startup check: \(error)")
            return 1
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let app = settings.app ?? ""
        guard arbiter_wifexited(status) != 0 else {
            logger.error("Startup check of \(app) \(ProcessControl.describe(status: status))")
            return 3
        }
        let code = arbiter_wexitstatus(status)
        if code == 0 { print("arbiter: startup OK; \(app) ran startup() and shutdown() once") }
        return code
    }
}
