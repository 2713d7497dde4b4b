import HTTP1
import Platform

extension WorkerContext {
    /// Counts a completed request on the calling thread's stripe of the counters page (the master
    /// serves them as metrics): by method, status and duration. Called where every request passes
    /// (`ConnectionServer.requestCompleted`).
    @inline(__always)
    static func count(_ summary: ConnectionStateMachine.RequestSummary) {
        guard WorkerCounters.isActive else { return }
        let range = summary.head.methodRange
        let seconds = Clock.monotonic() - summary.startedAt
        summary.head.withBytes { bytes in
            WorkerCounters.requestCompleted(
                method: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: bytes[range])), status: summary.status, seconds: seconds)
        }
    }
}
