/// A read of a counters page: every field of a stripe, summed over the stripes (see
/// `WorkerCounters.Field` for what each index counts). Plain values, for the master's totals.
public struct CounterValues: Sendable, Equatable {
    public var values = [UInt64](repeating: 0, count: WorkerCounters.Field.stripeFields)

    public init() {}

    public subscript(field: Int32) -> UInt64 {
        get { values[Int(field)] }
        set { values[Int(field)] = newValue }
    }

    public subscript(index: Int) -> UInt64 {
        get { values[index] }
        set { values[index] = newValue }
    }

    /// Adds another read field by field (a worker's final counts folded into the totals).
    public static func += (lhs: inout CounterValues, rhs: CounterValues) {
        for i in 0..<lhs.values.count { lhs.values[i] &+= rhs.values[i] }
    }

    public static func + (lhs: CounterValues, rhs: CounterValues) -> CounterValues {
        var sum = lhs
        sum += rhs
        return sum
    }

    /// `a − b`, never below zero (a gauge from two counters read a moment apart).
    public func difference(_ a: Int32, _ b: Int32) -> UInt64 {
        self[a] >= self[b] ? self[a] - self[b] : 0
    }

    /// Requests in flight, open connections, pool threads busy and jobs queued.
    public var requestsInFlight: UInt64 { difference(WorkerCounters.Field.requestsStarted, WorkerCounters.Field.requestsCompleted) }
    public var connectionsOpen: UInt64 { difference(WorkerCounters.Field.connectionsAccepted, WorkerCounters.Field.connectionsClosed) }
    public var offloadBusy: UInt64 { difference(WorkerCounters.Field.offloadStarted, WorkerCounters.Field.offloadFinished) }
    public var offloadQueued: UInt64 { difference(WorkerCounters.Field.offloadSubmitted, WorkerCounters.Field.offloadStarted) }
}
