import Platform

/// Everything a scrape reports, read by the master from its own state and the workers' shared
/// pages (nothing is asked of a worker). Plain values: rendering it is a pure function.
struct MetricsSnapshot {
    struct Worker {
        let slot: Int
        let pid: Int32
        let generation: Int
        let counters: CounterValues
        /// Proportional set size, if /proc could be read.
        let pssBytes: Int?
    }

    struct ListenQueue {
        let listener: String
        /// Connections the kernel completed that no worker accepted yet (`tcpi_unacked`).
        let queued: UInt32
        /// The queue's length limit (`tcpi_sacked` on a listening socket).
        let limit: UInt32
    }

    /// Counts of every worker that ever ran under this master (exited ones folded in) and of the
    /// master itself: these only grow.
    var totals = CounterValues()
    /// Counts of the workers running now (for gauges: in flight, open connections, pool).
    var live = CounterValues()
    var workers: [Worker] = []
    var statistics = MasterStateMachine.Statistics()
    var workersWanted = 0
    var ready = false
    var generation = 0
    var listenQueues: [ListenQueue] = []
    /// When the master started (seconds since the epoch).
    var startTime = 0.0
}

/// The master's running totals: the final counts of every worker that exited, so that totals
/// never go backwards when workers come and go.
struct CounterTotals {
    private(set) var folded = CounterValues()

    /// A worker exited: its last counts join the totals (read after it died, so they are final).
    mutating func fold(_ final: CounterValues) {
        folded += final
    }

    /// The totals now: what exited workers counted, plus the running workers' and the master's own.
    func totals(live: [CounterValues], master: CounterValues) -> CounterValues {
        var sum = folded + master
        for values in live { sum += values }
        return sum
    }
}
