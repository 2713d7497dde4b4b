import Glibc

/// One signal the master handles: the single table behind the master's signal handling, the
/// signal part of `arbiter --help` and the README's signal table (a test keeps the README in step).
public struct MasterSignal: Sendable, Equatable {
    /// What the master does on the signal.
    public enum Action: Sendable, Equatable {
        /// Close the listeners and let workers finish their requests.
        case gracefulStop
        /// Workers exit at once.
        case quickStop
        /// Re-read the configuration and start a new generation.
        case reload
        /// Start a new master from the binary on disk.
        case upgrade
        /// Stop all workers gracefully and keep the master.
        case stopWorkers
        /// One worker more.
        case addWorker
        /// One worker less.
        case removeWorker
        /// Reopen the log files, the workers' too.
        case reopenLogs
    }

    public let number: Int32
    /// The name without `SIG`: `TERM`.
    public let name: String
    public let action: Action
    /// One line on what the signal does.
    public let doc: String

    /// Every signal the master handles, in the order documentation lists them. SIGCHLD is not
    /// here: it is the master's own business (reaping), not an operator's command.
    public static let all: [MasterSignal] = [
        MasterSignal(number: SIGTERM, name: "TERM", action: .gracefulStop, doc: """
            graceful stop (after `--shutdown-delay`, if set, of serving on with `/readyz` at 503): close the \
            listeners; workers finish in-flight requests (up to \
            `--graceful-timeout`, then KILL); idle keep-alive connections get one more request, answered \
            with `Connection: close`
            """),
        MasterSignal(number: SIGINT, name: "INT", action: .quickStop, doc: "quick stop: workers exit at once (KILL after 2 s)"),
        MasterSignal(number: SIGQUIT, name: "QUIT", action: .quickStop, doc: "quick stop: workers exit at once (KILL after 2 s)"),
        MasterSignal(number: SIGHUP, name: "HUP", action: .reload, doc: """
            reload: re-read the configuration (binds included), start a new generation of workers with \
            the new code and settings, and retire each old worker only after its replacement is ready (an \
            old worker still busy `--graceful-timeout` later is killed). If the new generation fails to \
            boot, or is not ready within `--timeout`, the old one keeps serving and the log says why
            """),
        MasterSignal(number: SIGUSR2, name: "USR2", action: .upgrade, doc: """
            upgrade: start a new master from the binary on disk, handing over the listening sockets (the \
            pidfile becomes `FILE.oldbin`); if the new master fails, this one keeps serving
            """),
        MasterSignal(number: SIGWINCH, name: "WINCH", action: .stopWorkers, doc: """
            stop all workers gracefully, keep the master (after USR2; `HUP` starts them again)
            """),
        MasterSignal(number: SIGTTIN, name: "TTIN", action: .addWorker, doc: "one worker more"),
        MasterSignal(number: SIGTTOU, name: "TTOU", action: .removeWorker, doc: """
            one worker less (never below 1); the one leaving finishes its requests
            """),
        MasterSignal(number: SIGUSR1, name: "USR1", action: .reopenLogs, doc: "reopen log files (master and workers), for logrotate"),
    ]

    /// The entry for a signal number, if the master handles it.
    public static func named(_ number: Int32) -> MasterSignal? {
        all.first { $0.number == number }
    }
}
