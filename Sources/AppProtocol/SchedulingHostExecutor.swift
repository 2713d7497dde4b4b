@_spi(ExperimentalScheduling) import _Concurrency
import ArbiterABI

/// The worker's event loop with its timers (the host's `enqueue_after`): a `SchedulingExecutor`.
///
/// `Task.sleep` makes a job that wakes the sleeping task, and asks the executor the task runs on
/// (its serial executor, else its preferred task executor) to run that job after the delay when
/// that executor can schedule; otherwise the job goes to Swift's global executor, which on Linux
/// takes a Dispatch timer (heap objects per sleep) and a timer thread whose wake-up then crosses
/// back to the loop through its queue (a lock and an eventfd write). Through this conformance a
/// sleep is one entry in the loop's timer queue, served by the loop's own `epoll_wait` timeout.
///
/// The runtime finds the conformance dynamically, so the server decides it at startup: without
/// `enqueue_after` (an older server) `Runtime` installs a plain `HostExecutor`.
/// Immutable after `init`; the host's functions may be called from any thread.
final class SchedulingHostExecutor: HostExecutor, SchedulingExecutor, @unchecked Sendable {
    private let enqueueAfter: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, RunJob?, UInt64) -> Void

    override init(_ host: arbiter_host) {
        enqueueAfter = host.enqueue_after!
        super.init(host)
    }

    func enqueue<C: Clock>(_ job: consuming ExecutorJob, after delay: C.Duration, tolerance: C.Duration?, clock: C) {
        guard let delay = delay as? Duration else {
            return Self.elsewhere(job, after: delay, tolerance: tolerance, clock: clock)
        }
        enqueueAfter(context, Self.pointer(job), Unmanaged.passUnretained(self).toOpaque(), Self.runDelayed, Self.nanoseconds(delay))
    }

    /// Runs a delayed job on the loop thread as Swift's generic executor would run it.
    ///
    /// The jobs that reach `enqueue(_:after:)` are the wake-up tasks `Task.sleep` makes: tasks with
    /// no executor preference, whose code runs on the generic executor. Run on this task executor,
    /// such a task's first step is to switch to the generic executor: a hop to a Dispatch thread
    /// (a futex wake), which then resumes the sleeping task by enqueueing it back onto this loop from
    /// another thread (a lock and an eventfd write). Run as the generic executor, it resumes the
    /// sleeping task right here, onto the loop's own queue. A job that prefers this executor still
    /// comes back to it: its first switch enqueues it here.
    static let runDelayed: RunJob = { _, job in
        unsafeBitCast(job!, to: UnownedJob.self).runSynchronously(on: genericExecutor)
    }

    /// Swift's generic executor, as the runtime represents it: no identity and no implementation
    /// (`SerialExecutorRef::generic()`); `UnownedSerialExecutor` has no public way to name it.
    private static let genericExecutor = unsafeBitCast((0 as UInt, 0 as UInt), to: UnownedSerialExecutor.self)

    func enqueue<C: Clock>(_ job: consuming ExecutorJob, at instant: C.Instant, tolerance: C.Duration?, clock: C) {
        enqueue(job, after: clock.now.duration(to: instant), tolerance: tolerance, clock: clock)
    }

    /// A delay in whole nanoseconds, at least 0 (a deadline already past is due now), at most
    /// `UInt64.max`.
    static func nanoseconds(_ delay: Duration) -> UInt64 {
        let (seconds, attoseconds) = delay.components
        guard seconds >= 0 else { return 0 }
        let (whole, overflow) = UInt64(seconds).multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return UInt64.max }
        let (total, overflowAdding) = whole.addingReportingOverflow(UInt64(max(0, attoseconds) / 1_000_000_000))
        return overflowAdding ? UInt64.max : total
    }

    /// A clock whose durations are not `Duration` cannot be turned into the loop's time: its jobs
    /// go where they would go without this executor, to the global executor's own timers (which
    /// Swift's global executor on Linux has); on one without timers the job runs now.
    private static func elsewhere<C: Clock>(_ job: consuming ExecutorJob, after delay: C.Duration, tolerance: C.Duration?, clock: C) {
        if let global = globalConcurrentExecutor as? any SchedulingExecutor {
            global.enqueue(job, after: delay, tolerance: tolerance, clock: clock)
        } else {
            globalConcurrentExecutor.enqueue(job)
        }
    }
}
