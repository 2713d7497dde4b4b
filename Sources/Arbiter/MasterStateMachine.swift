import Glibc
import Platform

/// The master's policy as a pure value: events in, actions out. The I/O loop (`Master`) performs
/// the actions; tests drive this with a manual clock and no processes.
public struct MasterStateMachine: Sendable {
    public struct Config: Sendable, Equatable {
        public var workers: Int
        public var gracefulTimeout: Double
        /// How long a quick stop (INT/QUIT) waits before KILL.
        public var quickTimeout: Double = 2
        /// How long a worker sent SIGABRT for a timeout gets before SIGKILL.
        public var abortTimeout: Double = 2

        public init(workers: Int, gracefulTimeout: Double) {
            self.workers = workers
            self.gracefulTimeout = gracefulTimeout
        }
    }

    public enum ExitStatus: Sendable, Equatable {
        case code(Int32)
        case signal(Int32)
    }

    public enum Event: Sendable, Equatable {
        case signal(Int32)
        case spawned(slot: Int, pid: Int32)
        case spawnFailed(slot: Int, reason: String)
        case exited(pid: Int32, status: ExitStatus)
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
        case closeListeners
        case reopenLogs
        /// Every worker of the new generation is ready: the reload is done.
        case reloadSucceeded(generation: Int)
        /// The new generation failed: spawn with the previous configuration again.
        case reloadFailed(generation: Int)
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
        /// Sent TERM to leave (retired, reloaded away, stopping): not replaced when it exits.
        var retiring = false
        /// Sent ABRT for a timeout; KILL follows at this time.
        var killAt: Double?
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
    /// Slots waiting to be (re)spawned at a time (backoff after quick deaths).
    var pendingSpawns: [Int: Double] = [:]
    /// Consecutive deaths of each slot's worker soon after it started.
    var quickDeaths: [Int: Int] = [:]
    var announcedReady = false
    /// The slot the next `spawned` event belongs to when several spawns share a slot.
    var spawningGeneration: [Int: Int] = [:]

    public init(config: Config) {
        self.config = config
    }

    /// A worker that dies sooner than this after starting counts towards backoff.
    static let quickDeath = 1.0

    public var workerCount: Int { workers.count }
    public var isStopping: Bool { if case .stopping = phase { true } else { false } }
    public var isReloading: Bool { reload != nil }

    public mutating func start() -> [Action] {
        (0..<config.workers).map { .spawn(slot: $0) }
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
        case .exited(let pid, let status):
            return exited(pid: pid, status: status, now: now)
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
        guard let worker = workers[pid] else { return [] }
        workers[pid]!.ready = true
        quickDeaths[worker.slot] = nil
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

    private mutating func signal(_ signo: Int32, now: Double) -> [Action] {
        switch signo {
        case SIGTERM:
            return [.log(.info, "Handling signal: term")] + stop(graceful: true, exitCode: 0, now: now)
        case SIGINT, SIGQUIT:
            return [.log(.info, "Handling signal: \(signo == SIGINT ? "int" : "quit")")] + stop(graceful: false, exitCode: 0, now: now)
        case SIGTTIN:
            guard case .running = phase else { return [] }
            config.workers += 1
            return [.log(.info, "Handling signal: ttin; workers: \(config.workers)"), .notify(.status(serving))] + fillSlots()
        case SIGTTOU:
            guard case .running = phase else { return [] }
            guard config.workers > 1 else { return [.log(.info, "Handling signal: ttou; already at 1 worker")] }
            config.workers -= 1
            return [.log(.info, "Handling signal: ttou; workers: \(config.workers)"), .notify(.status(serving))] + retireExtraSlots()
        case SIGWINCH:
            guard case .running = phase else { return [] }
            config.workers = 0
            pendingSpawns.removeAll()
            reload = nil
            return [.log(.info, "Handling signal: winch; stopping all workers gracefully (HUP starts them again)"),
                    .notify(.status("Workers stopped (WINCH); HUP starts them again"))]
                + workers.keys.sorted().flatMap { retire($0, because: "SIGWINCH") }
        case SIGUSR1:
            return [.log(.info, "Handling signal: usr1; reopening log files"), .reopenLogs]
                + workers.keys.sorted().map { .kill(pid: $0, signal: SIGUSR1) }
        default:
            return [.log(.warning, "Ignoring signal \(Signal.name(signo))")]
        }
    }

    private mutating func exited(pid: Int32, status: ExitStatus, now: Double) -> [Action] {
        guard let worker = workers.removeValue(forKey: pid) else { return [] }
        let how: String
        switch status {
        case .code(let code): how = "exited with code \(code)"
        case .signal(let signo): how = "was killed by \(Signal.name(signo))"
        }
        if case .stopping = phase {
            return [.log(.info, "Worker exiting (pid: \(pid))")] + (workers.isEmpty ? finishStopping() : [])
        }
        var actions: [Action] = []
        if let recycling, recycling.old == pid {
            self.recycling = nil
            if !worker.retiring, let replacement = recycling.replacement, workers[replacement] != nil {
                // It left before its replacement was ready: the replacement takes the slot.
                return actions + [.log(.info, "Worker (pid: \(pid), slot \(worker.slot)) \(how) while being recycled")]
                    + nextRecycling()
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
            return actions + [.log(.info, "Worker retired (pid: \(pid), slot \(worker.slot))")]
        }
        if let reload, worker.generation == reload.generation, !worker.ready {
            return actions + rollback(reason: "new worker (pid: \(pid)) \(how) before it was ready")
        }
        if case .code(let code) = status, code == 3 || code == 4 {
            let why = code == 3 ? "Worker failed to boot" : "App failed to load"
            actions.append(.log(.error, "\(why) (pid: \(pid) \(how)); stopping the master with exit code \(code)"))
            return actions + stop(graceful: true, exitCode: code, now: now)
        }
        let level: Logger.Level = status == .code(0) ? .info : .error
        actions.append(.log(level, "Worker (pid: \(pid), slot \(worker.slot)) \(how)"))
        guard worker.slot < config.workers, worker.generation == generation else { return actions }
        if now - worker.spawnedAt < Self.quickDeath && !worker.ready {
            let deaths = (quickDeaths[worker.slot] ?? 0) + 1
            quickDeaths[worker.slot] = deaths
            if deaths > 1 {
                let delay = min(0.1 * pow(2, Double(deaths - 1)), 10)
                actions.append(.log(.warning, "Worker in slot \(worker.slot) keeps dying right after boot (\(deaths) times); restarting in \(formatted(delay)) s"))
                pendingSpawns[worker.slot] = now + delay
                return actions
            }
        }
        return actions + [.spawn(slot: worker.slot)]
    }

    private mutating func stuck(pid: Int32, description: String, now: Double) -> [Action] {
        guard let worker = workers[pid], worker.killAt == nil else { return [] }
        workers[pid]!.killAt = now + config.abortTimeout
        return [
            .log(.critical, "WORKER TIMEOUT (pid: \(pid), slot \(worker.slot)): \(description); sending SIGABRT"),
            .kill(pid: pid, signal: SIGABRT),
        ]
    }

    private mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        if case .running = phase {
            for (slot, at) in pendingSpawns.sorted(by: { $0.key < $1.key }) where at <= now {
                pendingSpawns[slot] = nil
                actions.append(.spawn(slot: slot))
            }
        }
        for (pid, worker) in workers.sorted(by: { $0.key < $1.key }) {
            if let killAt = worker.killAt, killAt <= now {
                workers[pid]!.killAt = .infinity
                actions.append(.kill(pid: pid, signal: SIGKILL))
            }
        }
        if case .stopping(let deadline, let code, let killed) = phase, !killed, now >= deadline {
            phase = .stopping(deadline: deadline, exitCode: code, killed: true)
            if !workers.isEmpty {
                actions.append(.log(.warning, "Graceful timeout: killing \(workers.count) worker(s) still running"))
                actions += workers.keys.sorted().map { .kill(pid: $0, signal: SIGKILL) }
            }
        }
        return actions
    }

    /// `Serving: 4 workers, generation 2`.
    var serving: String { "Serving: \(config.workers) worker(s), generation \(generation)" }

    /// Every slot has a ready worker and none is being killed for a timeout (for the watchdog).
    public var isHealthy: Bool {
        guard case .running = phase, workers.values.allSatisfy({ $0.killAt == nil }) else { return false }
        return workers.values.filter { $0.ready && !$0.retiring }.count >= config.workers
    }

    /// When the loop must wake for `tick`, if ever.
    public var nextDeadline: Double? {
        var deadlines = Array(pendingSpawns.values)
        deadlines += workers.values.compactMap(\.killAt).filter { $0.isFinite }
        if case .stopping(let deadline, _, let killed) = phase, !killed { deadlines.append(deadline) }
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
