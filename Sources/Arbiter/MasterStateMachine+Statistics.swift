extension MasterStateMachine {
    /// What the master did with its workers, counted for metrics: starts by cause, exits by status,
    /// reloads by outcome. Counts only grow.
    public struct Statistics: Sendable, Equatable {
        /// Why a worker was started.
        public enum StartCause: String, Sendable, CaseIterable {
            /// The first generation, at start.
            case boot
            /// Its predecessor in the slot died (a signal, or an exit it did not ask for).
            case crash
            /// Its predecessor was killed for a timeout.
            case timeout
            /// Its predecessor reached `max_requests`.
            case maxRequests = "max_requests"
            /// Its predecessor was over `max_worker_memory`.
            case memory
            /// A reload (HUP), or a slot refilled after a reload rolled back.
            case reload
            /// TTIN added a slot.
            case scale

            /// The cause of a recycling, from the reason the retire event gave.
            init(recyclingReason: String) {
                self = recyclingReason.hasPrefix("memory") ? .memory : .maxRequests
            }
        }

        public internal(set) var starts: [StartCause: Int] = [:]
        public internal(set) var exits: [ExitStatus: Int] = [:]
        public internal(set) var reloadsDone = 0
        public internal(set) var reloadsRolledBack = 0
        /// The cause of each respawn that waits for its backoff.
        var pendingCauses: [Int: StartCause] = [:]

        public init() {}
    }

    /// A spawn action, counted under its cause.
    mutating func spawn(_ slot: Int, _ cause: Statistics.StartCause) -> Action {
        statistics.starts[cause, default: 0] += 1
        return .spawn(slot: slot)
    }
}
