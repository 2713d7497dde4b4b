/// What a worker tells its master.
public enum WorkerMessage: ControlMessage {
    /// The application started and the worker accepts connections: `ready`.
    case ready
    /// Replace me (after the replacement is ready), e.g. `max_requests` reached: `retire REASON`.
    case retire(reason: String)
    /// The worker reopened its log files, as the master asked: `logs-reopened`.
    case logsReopened

    public var line: String {
        switch self {
        case .ready: "ready"
        case .retire(let reason): "retire " + Self.oneLine(reason)
        case .logsReopened: "logs-reopened"
        }
    }

    public init?(line: String) {
        if line == "ready" {
            self = .ready
        } else if line == "logs-reopened" {
            self = .logsReopened
        } else if line.hasPrefix("retire ") {
            self = .retire(reason: String(line.dropFirst("retire ".count)))
        } else {
            return nil
        }
    }
}
