/// What the master tells a worker. End-of-file on the socket is not a message: it means the
/// master is gone.
public enum MasterMessage: ControlMessage {
    /// Reopen the error and access logs (the master got USR1, e.g. from logrotate): `reopen-logs`.
    case reopenLogs

    public var line: String {
        switch self {
        case .reopenLogs: "reopen-logs"
        }
    }

    public init?(line: String) {
        switch line {
        case "reopen-logs": self = .reopenLogs
        default: return nil
        }
    }
}
