import Glibc
import Platform
import Supervision

/// The master's policy as a pure value: events in, actions out. The I/O loop (`Master`) performs
/// the actions; tests drive this with a manual clock and no processes.
public struct MasterStateMachine: Sendable {
    public struct Config: Sendable, Equatable {
        public var workers: Int
        public var gracefulTimeout: Double
        /// How long a quick stop (INT/QUIT) waits before KILL.
        public var quickTimeout: Double = 2
        /// On TERM, how long to report not-ready and keep serving before the graceful stop begins.
        public var shutdownDelay: Double = 0
        /// How long a worker may take to become ready before it is killed (`timeout`, as
        /// Gunicorn's covers boot); 0: no limit.
        public var bootTimeout: Double = 0

        public init(workers: Int, gracefulTimeout: Double) {
            self.workers = workers
            self.gracefulTimeout = gracefulTimeout
        }
    }

    public enum ExitStatus: Sendable, Hashable {
        case code(Int32)
        case signal(Int32)
    }

    public enum Event: Sendable, Equatable {
        case signal(Int32)
        case spawned(slot: Int, pid: Int32)
        case spawnFailed(slot: Int, reason: String)
        /// A worker ended; `serving` names the requests its heartbeat page showed in flight
        /// (`GET /path`), for the log.
        case exited(pid: Int32, status: ExitStatus, serving: [String] = [])
        case ready(pid: Int32)
        /// HUP, after the loop re-read the configuration: start a new generation of `workers`.
        case reload(Config)
        /// A worker asks to be replaced (max requests, memory): after its replacement is ready.
        case retire(pid: Int32, reason: String)
        /// A worker's heartbeat says it is stuck (loop silent, or a request without progress).
        case stuck(pid: Int32, description: String)
        case tick
    }

    public enum Action: Sendable, Equatable {
        case spawn(slot: Int)
        case kill(pid: Int32, signal: Int32)
        /// Write a message to a worker's control socket.
        case send(pid: Int32, MasterMessage)
        case closeListeners
        case reopenLogs
        /// Every worker of the new generation is ready: the reload is done.
        case reloadSucceeded(generation: Int)
        /// The new generation failed (`reason` says how): spawn with the previous configuration again.
        case reloadFailed(generation: Int, reason: String)
        /// Tell the service manager (systemd) about the state.
        case notify(Notification)
        case log(Logger.Level, String)
        case exit(Int32)
    }

    public enum Notification: Sendable, Equatable {
        /// Every worker of the current generation serves.
        case ready(workers: Int, generation: Int)
        case reloading(generation: Int)
        case stopping
        case status(String)
    }

    struct WorkerState: Sendable, Equatable {
        let slot: Int
        let generation: Int
        let spawnedAt: Double
        var ready = false
        /// When it reported ready (a worker that served long enough clears its slot's backoff).
        var readyAt: Double?
        /// Sent TERM to leave (retired, reloaded away, stopping): not replaced when it exits.
        var retiring = false
        /// When `tick` first saw it retiring: it is killed `gracefulTimeout` later.
        var retiringSince: Double?
        /// Killed for a timeout.
        var timedOut = false
    }

    enum Phase: Sendable, Equatable {
        case running
        case stopping(deadline: Double, exitCode: Int32, killed: Bool)
    }

    /// A HUP in progress.
    struct Reload: Sendable, Equatable {
        let generation: Int
        let previous: Config
        let previousGeneration: Int
    }

    /// A max-requests/memory recycling in progress: one worker at a time.
    struct Recycling: Sendable, Equatable {
        let old: Int32
        var replacement: Int32?
    }

    public internal(set) var config: Config
    var phase = Phase.running
    var workers: [Int32: WorkerState] = [:]
    /// The generation new workers belong to.
    public internal(set) var generation = 0
    /// The highest generation ever started: a reload after a rollback gets a fresh number.
    var newestGeneration = 0
    var reload: Reload?
    var recycling: Recycling?
    var recycleQueue: [(pid: Int32, reason: String)] = []
    /// Slots waiting to be (re)spawned at a time (backoff after failures).
    var pendingSpawns: [Int: Double] = [:]
    /// Consecutive failures (deaths at boot, crashes) of each slot's workers: see `backoff`.
    var failures: [Int: Int] = [:]
    var announcedReady = false
    /// The slot the next `spawned` event belongs to when several spawns share a slot.
    var spawningGeneration: [Int: Int] = [:]
    /// Worker starts by cause, exits by status, reloads (for metrics).
    public internal(set) var statistics = Statistics()
    /// TERM arrived with a shutdown delay: the graceful stop begins then (readiness is off meanwhile).
    var stopAfterDelay: Double?

    public init(config: Config) {
        self.config = config
    }

    public var workerCount: Int { workers.count }
    /// Stopping, or waiting out the shutdown delay before it.
    public var isStopping: Bool {
        if case .stopping = phase { return true }
        return stopAfterDelay != nil
    }
    public var isReloading: Bool { reload != nil }

    public mutating func start() -> [Action] {
        (0..<config.workers).map { spawn($0, .boot) }
    }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        switch event {
        case .spawned(let slot, let pid):
            workers[pid] = WorkerState(slot: slot, generation: generation, spawnedAt: now)
            if let recycling, recycling.replacement == nil, workers[recycling.old]?.slot == slot {
                self.recycling?.replacement = pid
            }
            return [.log(.info, "Booting worker with pid: \(pid) (slot \(slot), generation \(generation))")]
        case .spawnFailed(let slot, let reason):
            return [.log(.error, "Cannot start a worker for slot \(slot): \(reason)")] + stop(graceful: true, exitCode: 1, now: now)
        case .ready(let pid):
            return ready(pid: pid, now: now)
        case .exited(let pid, let status, let serving):
            return exited(pid: pid, status: status, serving: serving, now: now)
        case .signal(let signo):
            return signal(signo, now: now)
        case .reload(let config):
            return startReload(config, now: now)
        case .retire(let pid, let reason):
            return requestRecycling(pid: pid, reason: reason, now: now)
        case .stuck(let pid, let description):
            return stuck(pid: pid, description: description, now: now)
        case .tick:
            return tick(now: now)
        }
    }

    private mutating func ready(pid: Int32, now: Double) -> [Action] {
        // One killed for not being ready in time may still say so before it dies: ignored.
        guard let worker = workers[pid], !worker.timedOut else { return [] }
        workers[pid]!.ready = true
        workers[pid]!.readyAt = now
        var actions: [Action] = []
        if let reload, worker.generation == reload.generation {
            actions += reloadProgress(readySlot: worker.slot)
        }
        if let recycling, recycling.replacement == pid {
            actions += retire(recycling.old, because: "its replacement (pid: \(pid)) is ready")
        }
        if !announcedReady, case .running = phase, reload == nil,
           workers.values.filter({ $0.ready && !$0.retiring }).count >= config.workers
        {
            announcedReady = true
            actions.append(.log(.info, "Ready: \(config.workers) worker(s) serving"))
            actions.append(.notify(.ready(workers: config.workers, generation: generation)))
        }
        return actions
    }

    /// What `MasterSignal.all` says the signal does (HUP and USR2 reach the machine as `reload`
    /// and through the loop: they need I/O first).
    private mutating func signal(_ signo: Int32, now: Double) -> [Action] {
        guard let signal = MasterSignal.named(signo) else {
            return [.log(.warning, "Ignoring signal \(Signal.name(signo))")]
        }
        let handling = "Handling signal: \(signal.name.lowercased())"
        switch signal.action {
        case .gracefulStop:
            return [.log(.info, handling)] + gracefulStop(now: now)
        case .quickStop:
            return [.log(.info, handling)] + stop(graceful: false, exitCode: 0, now: now)
        case .addWorker:
            guard case .running = phase else { return [] }
            config.workers += 1
            return [.log(.info, "\(handling); workers: \(config.workers)"), .notify(.status(serving))] + fillSlots(.scale)
        case .removeWorker:
            guard case .running = phase else { return [] }
            guard config.workers > 1 else { return [.log(.info, "\(handling); already at 1 worker")] }
            config.workers -= 1
            return [.log(.info, "\(handling); workers: \(config.workers)"), .notify(.status(serving))] + retireExtraSlots()
        case .stopWorkers:
            guard case .running = phase else { return [] }
            config.workers = 0
            pendingSpawns.removeAll()
            reload = nil
            return [.log(.info, "\(handling); stopping all workers gracefully (HUP starts them again)"),
                    .notify(.status("Workers stopped (WINCH); HUP starts them again"))]
                + workers.keys.sorted().flatMap { retire($0, because: "SIGWINCH") }
        case .reopenLogs:
            return [.log(.info, "\(handling); reopening log files"), .reopenLogs]
                + workers.keys.sorted().map { .send(pid: $0, .reopenLogs) }
        case .reload, .upgrade:
            return [.log(.warning, "Ignoring signal \(Signal.name(signo)): the master's loop handles it")]
        }
    }

    private mutating func exited(pid: Int32, status: ExitStatus, serving: [String], now: Double) -> [Action] {
        guard let worker = workers.removeValue(forKey: pid) else { return [] }
        statistics.exits[status, default: 0] += 1
        var how: String
        switch status {
        case .code(let code): how = "exited with code \(code)"
        case .signal(let signo): how = "was killed by \(Signal.name(signo))"
        }
        if !serving.isEmpty { how += " while serving \(serving.joined(separator: ", "))" }
        let name = "Worker (pid: \(pid), slot \(worker.slot))"
        if case .stopping = phase {
            // The master alone says a worker ended (the worker does not log its own exit).
            let line: Action = status == .code(0) ? .log(.info, "\(name) exited") : .log(.warning, "\(name) \(how)")
            return [line] + (workers.isEmpty ? finishStopping() : [])
        }
        var actions: [Action] = []
        if let recycling, recycling.old == pid {
            self.recycling = nil
            if !worker.retiring, let replacement = recycling.replacement, workers[replacement] != nil {
                // It left before its replacement was ready: the replacement takes the slot.
                return actions + [.log(.info, "\(name) \(how) while being recycled")] + nextRecycling()
            }
            actions += nextRecycling()
        }
        if let recycling, recycling.replacement == pid, !worker.ready {
            // The replacement died before it was ready: the old worker (which no longer takes
            // requests) leaves too, and the slot is refilled the usual way, with backoff.
            self.recycling = nil
            actions += retire(recycling.old, because: "its replacement failed to start")
        }
        if worker.retiring {
            let end = status == .code(0) ? "" : "; it \(how)"
            return actions + [.log(.info, "Worker retired (pid: \(pid), slot \(worker.slot))\(end)")]
        }
        if let reload, worker.generation == reload.generation, !worker.ready {
            return actions + rollback(reason: "new worker (pid: \(pid)) \(how) before it was ready")
        }
        if case .code(let code) = status, let reserved = WorkerExit(code: code) {
            // At the first boot the application cannot run at all: stop rather than respawn in a
            // loop. Once the server has served (a replacement loading a library changed on disk,
            // a `startup()` failing once), the others serve on and the slot is retried with
            // backoff, so that fixing the files is enough.
            guard announcedReady else {
                actions.append(.log(.error, "\(reserved.summary) (pid: \(pid) \(how)); stopping the master with exit code \(code)"))
                return actions + stop(graceful: true, exitCode: code, now: now)
            }
            actions.append(.log(.error, "\(reserved.summary) (pid: \(pid) \(how)); the master serves on and retries the slot"))
        } else {
            let level: Logger.Level = status == .code(0) ? .info : .error
            actions.append(.log(level, "\(name) \(how)"))
        }
        guard worker.slot < config.workers, worker.generation == generation else { return actions }
        let cause: Statistics.StartCause = worker.timedOut ? .timeout : .crash
        if let wait = backoff(after: worker, status: status, now: now) {
            actions.append(.log(.warning, wait.reason))
            pendingSpawns[worker.slot] = now + wait.delay
            statistics.pendingCauses[worker.slot] = cause
            return actions
        }
        return actions + [spawn(worker.slot, cause)]
    }

    private mutating func stuck(pid: Int32, description: String, now: Double) -> [Action] {
        guard let worker = workers[pid], !worker.timedOut else { return [] }
        workers[pid]!.timedOut = true
        // KILL, not ABRT: Swift's runtime catches ABRT to print a backtrace and the worker would
        // then carry on and answer the request it timed out on.
        return [
            .log(.critical, "WORKER TIMEOUT (pid: \(pid), slot \(worker.slot)): \(description); killing it (SIGKILL)"),
            .kill(pid: pid, signal: SIGKILL),
        ]
    }

    private mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        if case .running = phase {
            for (slot, at) in pendingSpawns.sorted(by: { $0.key < $1.key }) where at <= now {
                pendingSpawns[slot] = nil
                actions.append(spawn(slot, statistics.pendingCauses.removeValue(forKey: slot) ?? .crash))
            }
            actions += enforceDeadlines(now: now)
        }
        actions += shutdownDelayElapsed(now: now)
        if case .stopping(let deadline, let code, let killed) = phase, !killed, now >= deadline {
            phase = .stopping(deadline: deadline, exitCode: code, killed: true)
            if !workers.isEmpty {
                actions.append(.log(.warning, "Graceful timeout: killing \(workers.count) worker(s) still running"))
                actions += workers.keys.sorted().map { .kill(pid: $0, signal: SIGKILL) }
            }
        }
        return actions
    }

    /// Kills a worker that did not become ready within `bootTimeout` (a `startup()` that hangs
    /// would otherwise hold a reload forever), and one still running `gracefulTimeout` after it
    /// was asked to leave (a stream or long poll would otherwise keep old code alive after every
    /// HUP, TTOU or recycling). A graceful stop has its own deadline.
    private mutating func enforceDeadlines(now: Double) -> [Action] {
        var actions: [Action] = []
        for (pid, worker) in workers.sorted(by: { $0.key < $1.key }) where !worker.timedOut {
            let name = "Worker (pid: \(pid), slot \(worker.slot))"
            if worker.retiring {
                guard let since = worker.retiringSince else {
                    workers[pid]!.retiringSince = now
                    continue
                }
                guard now - since >= config.gracefulTimeout else { continue }
                workers[pid]!.timedOut = true
                actions += [
                    .log(.warning, "\(name) still running \(formatted(now - since)) s after it was asked to leave (graceful_timeout); killing it (SIGKILL)"),
                    .kill(pid: pid, signal: SIGKILL),
                ]
            } else if !worker.ready, config.bootTimeout > 0, now - worker.spawnedAt >= config.bootTimeout {
                workers[pid]!.timedOut = true
                actions += [
                    .log(.error, "\(name) not ready \(formatted(now - worker.spawnedAt)) s after it started (timeout); killing it (SIGKILL)"),
                    .kill(pid: pid, signal: SIGKILL),
                ]
            }
        }
        return actions
    }

    /// `Serving: 4 workers, generation 2`.
    var serving: String { "Serving: \(config.workers) worker(s), generation \(generation)" }

    /// Every slot has a ready worker and none is being killed for a timeout (for the watchdog).
    public var isHealthy: Bool {
        guard case .running = phase, workers.values.allSatisfy({ !$0.timedOut }) else { return false }
        return workers.values.filter { $0.ready && !$0.retiring }.count >= config.workers
    }

    /// When the loop must wake for `tick`, if ever.
    public var nextDeadline: Double? {
        var deadlines = Array(pendingSpawns.values)
        if case .running = phase {
            for worker in workers.values where !worker.timedOut {
                if worker.retiring {
                    // Stamped at the next tick, then due after the graceful timeout.
                    deadlines.append(worker.retiringSince.map { $0 + config.gracefulTimeout } ?? 0)
                } else if !worker.ready, config.bootTimeout > 0 {
                    deadlines.append(worker.spawnedAt + config.bootTimeout)
                }
            }
        }
        if case .stopping(let deadline, _, let killed) = phase, !killed { deadlines.append(deadline) }
        if let stopAfterDelay { deadlines.append(stopAfterDelay) }
        return deadlines.min()
    }

    /// TERMs a worker that should leave; it is not replaced when it exits.
    mutating func retire(_ pid: Int32, because reason: String) -> [Action] {
        guard let worker = workers[pid], !worker.retiring else { return [] }
        workers[pid]!.retiring = true
        return [.log(.info, "Retiring worker (pid: \(pid), slot \(worker.slot)): \(reason)"), .kill(pid: pid, signal: SIGTERM)]
    }

    func formatted(_ seconds: Double) -> String {
        String(Double(Int(seconds * 10)) / 10)
    }
}
