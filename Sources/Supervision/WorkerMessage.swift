/// What a worker tells its master.
public enum WorkerMessage: ControlMessage {
    /// The application started and the worker accepts connections: `ready`.
    case ready
    /// Replace me (after the replacement is ready), e.g. `max_requests` reached: `retire REASON`.
    case retire(reason: String)

    public var line: String {
        switch self {
        case .ready: "ready"
        case .retire(let reason): "retire " + Self.oneLine(reason)
        }
    }

    public init?(line: String) {
        if line == "ready" {
            self = .ready
        } else if line.hasPrefix("retire ") {
            self = .retire(reason: String(line.dropFirst("retire ".count)))
        } else {
            return nil
        }
    }
}
