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
        case tick
    }

    public enum Action: Sendable, Equatable {
        case spawn(slot: Int)
        case kill(pid: Int32, signal: Int32)
        case closeListeners
        case reopenLogs
        case log(Logger.Level, String)
        case exit(Int32)
    }

    struct WorkerState: Sendable, Equatable {
        let slot: Int
        let spawnedAt: Double
        var ready = false
        var signalled: Int32?
    }

    enum Phase: Sendable, Equatable {
        case running
        case stopping(deadline: Double, exitCode: Int32, killed: Bool)
    }

    public private(set) var config: Config
    private(set) var phase = Phase.running
    private(set) var workers: [Int32: WorkerState] = [:]
    /// Slots waiting to be (re)spawned at a time (backoff after quick deaths).
    private(set) var pendingSpawns: [Int: Double] = [:]
    /// Consecutive deaths of each slot's worker soon after it started.
    private var quickDeaths: [Int: Int] = [:]
    private var announcedReady = false

    public init(config: Config) {
        self.config = config
    }

    /// A worker that dies sooner than this after starting counts towards backoff.
    static let quickDeath = 1.0

    public var workerCount: Int { workers.count }
    public var isStopping: Bool { if case .stopping = phase { true } else { false } }

    public mutating func start() -> [Action] {
        (0..<config.workers).map { .spawn(slot: $0) }
    }

    public mutating func handle(_ event: Event, now: Double) -> [Action] {
        switch event {
        case .spawned(let slot, let pid):
            workers[pid] = WorkerState(slot: slot, spawnedAt: now)
            return [.log(.info, "Booting worker with pid: \(pid) (slot \(slot))")]
        case .spawnFailed(let slot, let reason):
            return [.log(.error, "Cannot start a worker for slot \(slot): \(reason)")] + stop(graceful: true, exitCode: 1, now: now)
        case .ready(let pid):
            guard workers[pid] != nil else { return [] }
            workers[pid]!.ready = true
            quickDeaths[workers[pid]!.slot] = nil
            if !announcedReady, case .running = phase, workers.values.filter(\.ready).count >= config.workers {
                announcedReady = true
                return [.log(.info, "Ready: \(config.workers) worker(s) serving")]
            }
            return []
        case .exited(let pid, let status):
            return exited(pid: pid, status: status, now: now)
        case .signal(let signo):
            return signal(signo, now: now)
        case .tick:
            return tick(now: now)
        }
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
            return [.log(.info, "Handling signal: ttin; workers: \(config.workers)")] + fillSlots(now: now)
        case SIGTTOU:
            guard case .running = phase else { return [] }
            guard config.workers > 1 else { return [.log(.info, "Handling signal: ttou; already at 1 worker")] }
            config.workers -= 1
            return [.log(.info, "Handling signal: ttou; workers: \(config.workers)")] + retireExtraSlots()
        case SIGUSR1:
            return [.log(.info, "Handling signal: usr1; reopening log files"), .reopenLogs]
                + workers.keys.sorted().map { .kill(pid: $0, signal: SIGUSR1) }
        default:
            return [.log(.warning, "Ignoring signal \(Signal.name(signo))")]
        }
    }

    private mutating func exited(pid: Int32, status: ExitStatus, now: Double) -> [Action] {
        guard let worker = workers.removeValue(forKey: pid) else { return [] }
        var actions: [Action] = []
        let how: String
        switch status {
        case .code(let code): how = "exited with code \(code)"
        case .signal(let signo): how = "was killed by \(Signal.name(signo))"
        }
        if case .stopping = phase {
            actions.append(.log(.info, "Worker exiting (pid: \(pid))"))
            if workers.isEmpty { actions += finishStopping() }
            return actions
        }
        if worker.signalled != nil {
            return [.log(.info, "Worker retired (pid: \(pid), slot \(worker.slot))")]
        }
        if case .code(let code) = status, code == 3 || code == 4 {
            let why = code == 3 ? "Worker failed to boot" : "App failed to load"
            actions.append(.log(.error, "\(why) (pid: \(pid) \(how)); stopping the master with exit code \(code)"))
            return actions + stop(graceful: true, exitCode: code, now: now)
        }
        let level: Logger.Level = status == .code(0) ? .info : .error
        actions.append(.log(level, "Worker (pid: \(pid), slot \(worker.slot)) \(how)"))
        if worker.slot < config.workers {
            if now - worker.spawnedAt < Self.quickDeath && !worker.ready {
                let deaths = (quickDeaths[worker.slot] ?? 0) + 1
                quickDeaths[worker.slot] = deaths
                let delay = min(0.1 * pow(2, Double(deaths - 1)), 10)
                if deaths > 1 {
                    actions.append(.log(.warning, "Worker in slot \(worker.slot) keeps dying right after boot (\(deaths) times); restarting in \(formatted(delay)) s"))
                    pendingSpawns[worker.slot] = now + delay
                    return actions
                }
            }
            actions.append(.spawn(slot: worker.slot))
        }
        return actions
    }

    private mutating func tick(now: Double) -> [Action] {
        var actions: [Action] = []
        if case .running = phase {
            for (slot, at) in pendingSpawns.sorted(by: { $0.key < $1.key }) where at <= now {
                pendingSpawns[slot] = nil
                actions.append(.spawn(slot: slot))
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

    /// When the loop must wake for `tick`, if ever.
    public var nextDeadline: Double? {
        var deadlines = Array(pendingSpawns.values)
        if case .stopping(let deadline, _, let killed) = phase, !killed { deadlines.append(deadline) }
        return deadlines.min()
    }

    private mutating func stop(graceful: Bool, exitCode: Int32, now: Double) -> [Action] {
        if case .stopping(let deadline, let code, let killed) = phase {
            // A quick stop overrides a graceful one in progress; the first exit code stands.
            guard !graceful else { return [] }
            phase = .stopping(deadline: min(deadline, now + config.quickTimeout), exitCode: code, killed: killed)
            return workers.keys.sorted().map { .kill(pid: $0, signal: SIGQUIT) }
        }
        let timeout = graceful ? config.gracefulTimeout : config.quickTimeout
        phase = .stopping(deadline: now + timeout, exitCode: exitCode, killed: false)
        pendingSpawns.removeAll()
        var actions: [Action] = [.closeListeners]
        let signo = graceful ? SIGTERM : SIGQUIT
        for pid in workers.keys.sorted() {
            workers[pid]!.signalled = signo
            actions.append(.kill(pid: pid, signal: signo))
        }
        if workers.isEmpty { actions += finishStopping() }
        return actions
    }

    private func finishStopping() -> [Action] {
        guard case .stopping(_, let code, _) = phase else { return [] }
        return [.log(.info, "Shutting down: Master"), .exit(code)]
    }

    private mutating func fillSlots(now: Double) -> [Action] {
        let used = Set(workers.values.filter { $0.signalled == nil }.map(\.slot)).union(pendingSpawns.keys)
        return (0..<config.workers).filter { !used.contains($0) }.map { .spawn(slot: $0) }
    }

    /// TTOU: the worker in the highest slot leaves gracefully.
    private mutating func retireExtraSlots() -> [Action] {
        var actions: [Action] = []
        for slot in pendingSpawns.keys where slot >= config.workers { pendingSpawns[slot] = nil }
        for (pid, worker) in workers.sorted(by: { $0.key < $1.key }) where worker.slot >= config.workers && worker.signalled == nil {
            workers[pid]!.signalled = SIGTERM
            actions.append(.kill(pid: pid, signal: SIGTERM))
        }
        return actions
    }

    private func formatted(_ seconds: Double) -> String {
        String(Double(Int(seconds * 10)) / 10)
    }
}
