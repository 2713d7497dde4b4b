/// Exit codes a worker reserves to tell the master that starting it again is pointless
/// (Gunicorn's codes). The master stops with the same code; any other exit is a crash or a
/// normal end, and the slot is refilled.
public enum WorkerExit: Int32, Sendable, CaseIterable {
    /// The worker could not set itself up (settings, credentials, logs, sockets, application startup).
    case bootFailed = 3
    /// The application could not be loaded (no such library, entry point or ABI version).
    case appLoadFailed = 4

    /// The process exit code.
    public var code: Int32 { rawValue }

    /// The reserved meaning of `code`, if it has one.
    public init?(code: Int32) { self.init(rawValue: code) }

    /// For the master's log: `Worker failed to boot`.
    public var summary: String {
        switch self {
        case .bootFailed: "Worker failed to boot"
        case .appLoadFailed: "App failed to load"
        }
    }
}
