import CArbiter
import Glibc
import Platform
import Synchronization

/// The async worker's executor: jobs (Swift task jobs from the application, through the host's C
/// `enqueue`) and closures (exchange calls made off the loop thread) run in order on the loop thread;
/// delayed jobs (`enqueue_after`: a task's sleep) wait in the loop's own timer queue, which the loop's
/// `epoll_wait` timeout serves.
/// Application code run on the loop — each job, and each request's start — is timed; one that holds
/// the loop longer than the threshold is reported, named after the request whose task it is (a
/// task's jobs are the task itself, so its pointer identifies it).
final class Loop: ConnectionOwner, @unchecked Sendable {
    struct Job {
        let job: UnsafeMutableRawPointer?
        let context: UnsafeMutableRawPointer?
        let run: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void
    }

    enum Work {
        case job(Job)
        case closure(() -> Void)
        /// A job to run at a deadline (seconds on the monotonic clock), sent from another thread.
        case timer(Job, Double)
    }

    let wake: WakeUp
    private let remote = Lock<[UnsafeWork]>([])
    /// Set by other threads after they add to `remote`; the loop takes `remote`'s lock only when it
    /// is set (most turns find nothing there).
    private let remoteAdded = Atomic<Bool>(false)
    private var local: [Work] = []
    /// The other buffer of `local`: the two alternate, so a turn allocates no queue.
    private var spare: [Work] = []
    /// Delayed jobs, earliest first.
    private var timers = TimerQueue<Job>()
    /// The most due timers one `runPending` takes; the rest wait for the next turn (with a zero
    /// `epoll_wait` timeout, since they are due), after that turn's I/O.
    private let dueTimersPerTurn: Int
    private let logger: Logger
    private let blockThreshold: Double
    private var owners = JobOwners<Exchange>()
    /// How many times a job blocked the loop past the threshold (for metrics).
    private(set) var blockedCount = 0

    private let heartbeat: Heartbeat
    /// The request whose label slot 0 of the heartbeat shows, by identity: `forget` clears it when
    /// the request ends, before its exchange can go.
    private var shown: ObjectIdentifier?

    init(wake: WakeUp, logger: Logger, blockThreshold: Double, heartbeat: Heartbeat, dueTimersPerTurn: Int) {
        precondition(dueTimersPerTurn > 0, "a turn must take due timers")
        self.dueTimersPerTurn = dueTimersPerTurn
        self.heartbeat = heartbeat
        self.wake = wake
        self.logger = logger
        self.blockThreshold = blockThreshold
    }

    /// The calling thread runs this loop (a thread-local tag: `pthread_self` is `const` in Glibc).
    var isCurrent: Bool { arbiter_thread_owner() == UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()) }

    /// Set once the loop has stopped for good (its worker is leaving): jobs that still arrive run
    /// on a thread of their own instead of waiting for a turn that never comes.
    private let finished = Lock(false)

    /// Called by the host's `enqueue`, from any thread.
    func enqueue(_ job: Job) {
        if isCurrent {
            local.append(.job(job))
        } else if finished.withLock({ $0 }) {
            let work = UnsafeWork(work: .job(job))
            startThread(name: "late-job") { if case .job(let job) = work.work { job.run(job.context, job.job) } }
        } else {
            postRemotely(.job(job))
        }
    }

    /// Called by the host's `enqueue_after`, from any thread: runs `job` on the loop once `delay`
    /// seconds have passed.
    func enqueue(_ job: Job, after delay: Double) {
        let deadline = Clock.monotonic() + max(0, delay)
        if isCurrent {
            timers.schedule(job, at: deadline)
        } else if finished.withLock({ $0 }) {
            Self.runLate([(deadline, job)])
        } else {
            postRemotely(.timer(job, deadline))
        }
    }

    /// When the earliest delayed job is due (seconds on the monotonic clock); nil without one.
    var nextDeadline: Double? { timers.nextDeadline }

    /// How many delayed jobs wait.
    var scheduledCount: Int { timers.count }

    /// The loop will not turn again.
    func finish() {
        finished.withLock { $0 = true }
        // Jobs that were queued meanwhile run the same way, and delayed jobs at their time.
        let stranded = remote.withLock { queue in
            defer { queue.removeAll() }
            return queue
        }
        var late = timers.drain().map { (deadline: $0.deadline, job: $0.element) }
        for work in stranded {
            switch work.work {
            case .job:
                startThread(name: "late-job") { if case .job(let job) = work.work { job.run(job.context, job.job) } }
            case .timer(let job, let deadline):
                late.append((deadline, job))
            case .closure:
                break  // exchange calls for connections that are gone
            }
        }
        if !late.isEmpty { Self.runLate(late.sorted { $0.deadline < $1.deadline }) }
    }

    /// Runs delayed jobs, in order, on a thread of their own that sleeps until each is due.
    private static func runLate(_ jobs: [(deadline: Double, job: Job)]) {
        let work = UnsafeTimers(jobs: jobs)
        startThread(name: "late-timer") {
            for (deadline, job) in work.jobs {
                while case let wait = deadline - Clock.monotonic(), wait > 0 { usleep(UInt32(min(wait, 1000) * 1_000_000)) }
                job.run(job.context, job.job)
            }
        }
    }

    /// Runs `body` on the loop thread soon (from any thread).
    func post(_ body: @escaping () -> Void) {
        if isCurrent {
            local.append(.closure(body))
        } else {
            postRemotely(.closure(body))
        }
    }

    /// From another thread: queues `work` and wakes the loop.
    private func postRemotely(_ work: Work) {
        remote.withLock { $0.append(UnsafeWork(work: work)) }
        remoteAdded.store(true, ordering: .releasing)
        wake.signal()
    }

    var hasPending: Bool { !local.isEmpty }

    /// Runs what is queued now (not what these runs enqueue, which waits for the next turn) and up
    /// to `dueTimersPerTurn` due timers, earliest first.
    func runPending() {
        var batch: [Work] = []
        swap(&batch, &spare)  // an empty buffer with capacity…
        swap(&batch, &local)  // …becomes `local`; the batch is what `local` held
        if remoteAdded.load(ordering: .relaxed) && remoteAdded.exchange(false, ordering: .acquiring) {
            let incoming = remote.withLock { queue in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            batch += incoming.map(\.work)
        }
        if !timers.isEmpty {
            let now = Clock.monotonic()
            for _ in 0..<dueTimersPerTurn {
                guard let job = timers.popDue(now: now) else { break }
                batch.append(.job(job))
            }
        }
        for work in batch {
            switch work {
            case .closure(let body):
                body()
            case .timer(let job, let deadline):
                timers.schedule(job, at: deadline)
            case .job(let job):
                // Looked up first: the job may end its request (and forget it) before it returns.
                let owner = job.job.flatMap { owners[$0] }
                runApplication(for: owner) { job.run(job.context, job.job) }
            }
        }
        batch.removeAll(keepingCapacity: true)
        spare = batch
    }

    static let unknownLabel = Array("a background task".utf8)

    /// Set while application code runs on the loop (`runApplication`): a request that code reaches
    /// on a connection starts once it returns, so one request's code never runs inside another's.
    private(set) var runningApplication = false

    /// Runs application code on the loop for `owner` (its request; nil: a background task): a job
    /// of a task, or the start of a request (`handle`, in which an asynchronous application's task
    /// runs until it first waits). While it runs, slot 0 of the heartbeat names the request, so a
    /// timeout can say what held the loop; one that holds the loop past the threshold is reported.
    @inline(__always)
    func runApplication(for owner: Exchange?, _ body: () -> Void) {
        // The turn's clock, restarted after any code that ran before in this turn: what the loop
        // did since takes microseconds, against a threshold of 0.1 s by default.
        let start = Clock.turn()
        let micros = UInt64(start * 1_000_000)
        // A background task's code is labelled each time it runs: the slot is cleared after it.
        let identity = owner.map(ObjectIdentifier.init)
        if identity == nil || identity != shown {
            shown = identity
            if let owner {
                let range = owner.labelRange
                owner.head.withBytes { heartbeat.begin(slot: 0, label: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[range])), at: micros) }
            } else {
                Self.unknownLabel.withUnsafeBytes { heartbeat.begin(slot: 0, label: $0, at: micros) }
            }
        } else {
            heartbeat.progress(slot: 0, at: micros)
        }
        runningApplication = true
        body()
        runningApplication = false
        // The code ended its request (`forget`), or was a background task's: the slot names
        // nothing until the next code runs (a request in flight keeps its name while it waits).
        if shown == nil { heartbeat.end(slot: 0) }
        // The code may have run long: the rest of the turn stamps with the time it ended.
        let elapsed = Clock.startTurn() - start
        if elapsed > blockThreshold { reportBlock(owner, elapsed) }
    }

    /// A request's token that is also its task's job (a Swift task is its own job): the jobs of
    /// that task, queued later by whatever resumes it (a read, a write, a timer), belong to the
    /// request. Any other token names no job and changes nothing.
    func attribute(_ token: UnsafeMutableRawPointer?, to exchange: Exchange) {
        guard let token, owners[token] !== exchange else { return }
        owners[token] = exchange
        exchange.jobs.append(token)
    }

    /// Forgets the jobs of an ended request.
    func forget(_ exchange: Exchange) {
        for pointer in exchange.jobs where owners[pointer] === exchange { owners[pointer] = nil }
        exchange.jobs.removeAll()
        // Its label leaves the loop's slot — now, or once the code running now returns
        // (`runApplication`): a worker that dies later must not be said to have been serving it.
        if shown == ObjectIdentifier(exchange) {
            shown = nil
            if !runningApplication { heartbeat.end(slot: 0) }
        }
    }

    private func reportBlock(_ owner: Exchange?, _ elapsed: Double) {
        blockedCount += 1
        WorkerCounters.add(WorkerCounters.Field.loopBlocks)
        WorkerCounters.add(WorkerCounters.Field.loopBlockedMicros, Int(elapsed * 1_000_000))
        let who = owner.map { "\($0.head.method) \($0.head.target)" } ?? "a background task"
        logger.warning(
            "Event loop blocked for \(Int(elapsed * 1000)) ms by \(who): synchronous work on the loop "
                + "stalls every request of this worker; make it async or run it with Runtime.offload "
                + "(\(blockedCount) time(s) in this worker)")
    }
}

/// Work moved across threads; the loop is its only consumer.
struct UnsafeWork: @unchecked Sendable {
    let work: Loop.Work
}

/// Delayed jobs handed to the thread that runs them after the loop has stopped (its only user).
struct UnsafeTimers: @unchecked Sendable {
    let jobs: [(deadline: Double, job: Loop.Job)]
}
