import AppLoader
import CArbiter
import Configuration
import Glibc
import Platform
import Supervision
import TLS

/// The master process: binds, spawns workers by re-executing its own binary, and runs the state
/// machine's actions. Single-threaded and Glibc-only (no Dispatch, no tasks): see DESIGN.md §1.
final class Master {
    struct Worker {
        /// The master's end of the control socket.
        let fd: Int32
        var reader = ControlReader<WorkerMessage>()
        let heartbeat: Heartbeat
        /// The heartbeat page's slots as the master made it (the worker could overwrite the count).
        let heartbeatSlots: Int
        let kind: Settings.WorkerClass
        let scoreIndex: Int
        /// Its counters page (read for metrics; folded into the totals when it exits), when anything
        /// reads counters (`Telemetry.isCounting`).
        let counters: WorkerCounters?
    }

    /// How the master was started, to re-read the configuration (HUP) or re-execute (USR2).
    let invocation: (arguments: [String], environment: [String: String])
    var settings: Settings
    let logger: Logger
    var listeners: [Listener]
    var machine: MasterStateMachine
    let signals: SignalPipe
    var workers: [Int32: Worker] = [:]
    var baseEnvironment: [String]
    /// The configuration and listeners to return to if a reload fails.
    var previous: (settings: Settings, listeners: [Listener], tlsFiles: TLSFiles?)?
    /// The bytes of the TLS files as the master last read and checked them (at start, or by the
    /// reload that made `settings`); every worker it starts gets them.
    var tlsFiles: TLSFiles?
    /// A new master started by USR2, while it boots or runs.
    var successor: Int32?
    /// `--reload`: the files being watched.
    var reloadWatch: ReloadWatch?
    var pidfile: PidFile?
    /// Shared by all workers: their connection counts, for taking turns at accepting.
    let scoreboard: (page: Scoreboard, fd: Int32)?
    let notifier: SystemdNotifier?
    /// Ping systemd's watchdog this often (seconds), while the workers are healthy.
    let watchdogInterval: Double?
    private var nextWatchdog = 0.0
    /// This master was started by a USR2 upgrade: it tells systemd it is the main process now.
    let isSuccessor: Bool
    /// The TLS session-ticket keys shared by all workers (nil without TLS): see Master+TLS.swift.
    var ticketKeys: TicketKeySchedule?
    private var nextMemoryCheck = 0.0
    private var nextHeartbeatCheck = 0.0
    /// `--control-socket`: `arbiter ctl`'s socket and its clients (Master+Control.swift).
    var control: ControlServer?
    /// After USR2: the pipe on which the new master says it serves.
    var successorReady: Int32?
    /// Started by USR2: the pipe on which to tell the old master once this one serves.
    var predecessorReady: Int32?
    /// The new master started by USR2 serves: it is systemd's main process now, and this one no
    /// longer reports (its `STATUS=` would otherwise stand over the new master's).
    var successorServes = false
    /// Metrics, health checks and statsd.
    let telemetry = Telemetry()

    init(settings: Settings, logger: Logger, listeners: [Listener], signals: SignalPipe,
         invocation: (arguments: [String], environment: [String: String]), pidfile: PidFile?) {
        self.settings = settings
        self.logger = logger
        self.listeners = listeners
        self.signals = signals
        self.invocation = invocation
        self.pidfile = pidfile
        scoreboard = try? Scoreboard.create()
        notifier = SystemdNotifier.fromEnvironment(invocation.environment)
        watchdogInterval = SystemdWatchdog.interval(invocation.environment)
        isSuccessor = invocation.environment[WorkerLaunch.inheritedListenersVariable] != nil
        var config = MasterStateMachine.Config(workers: settings.workers, gracefulTimeout: settings.gracefulTimeout)
        config.shutdownDelay = settings.shutdownDelay
        config.bootTimeout = settings.timeout
        machine = MasterStateMachine(config: config)
        baseEnvironment = Master.workerEnvironment()
    }

    /// The environment workers inherit: the master's, minus what belongs to the master alone.
    static func workerEnvironment() -> [String] {
        Environment.all().filter { entry in
            !entry.hasPrefix("ARBITER_WORKER") && !entry.hasPrefix("\(WorkerLaunch.inheritedListenersVariable)=")
                && !entry.hasPrefix("LISTEN_") && !entry.hasPrefix("NOTIFY_SOCKET=") && !entry.hasPrefix("WATCHDOG_")
                && !entry.hasPrefix("\(upgradeReadyVariable)=")
        }
    }

    func run() -> Int32 {
        prepareTicketKeys()
        perform(machine.start())
        var fds: [pollfd] = []
        while true {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0))
            let pids = Array(workers.keys)
            for pid in pids { fds.append(pollfd(fd: workers[pid]!.fd, events: Int16(POLLIN), revents: 0)) }
            let watchFD = reloadWatchDescriptor()
            if let watchFD { fds.append(pollfd(fd: watchFD, events: Int16(POLLIN), revents: 0)) }
            let controlStart = fds.count
            appendControlPollDescriptors(to: &fds)
            let metricsStart = fds.count
            appendMetricsDescriptors(to: &fds)
            let now = Clock.monotonic()
            var deadlines = [machine.nextDeadline, telemetry.nextDeadline].compactMap { $0 }
            if settings.timeout > 0 { deadlines.append(nextHeartbeatCheck) }
            if settings.maxWorkerMemory > 0 { deadlines.append(nextMemoryCheck) }
            if watchdogInterval != nil { deadlines.append(nextWatchdog) }
            if let settle = reloadWatch?.deadline { deadlines.append(settle) }
            if let rotation = ticketKeys?.deadline { deadlines.append(rotation) }
            if let control = control?.nextDeadline { deadlines.append(control) }
            let timeout = deadlines.min().map { Int32(max(0, min($0 - now, 3600)) * 1000) + 1 } ?? -1
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n < 0 && errno != EINTR {
                logger.critical("poll failed: \(SystemError("poll"))")
                return 1
            }
            if fds[0].revents != 0 {
                for signo in signals.drain() { handle(signal: signo) }
            }
            for (index, pid) in pids.enumerated() where fds[index + 1].revents != 0 {
                readControl(pid)
            }
            serviceReloadWatch(readable: watchFD != nil && fds[pids.count + 1].revents != 0)
            serviceControl(fds[controlStart..<metricsStart])
            serviceTelemetry(fds[metricsStart...])
            checkHeartbeats()
            checkMemory()
            pingWatchdog()
            rotateTicketKeysIfDue()
            perform(machine.handle(.tick, now: Clock.monotonic()))
            controlProgress()
        }
    }

    private func handle(signal signo: Int32) {
        if signo == SIGCHLD { return reap() }
        switch MasterSignal.named(signo)?.action {
        case .reload: reload()
        case .upgrade: upgrade()
        default: perform(machine.handle(.signal(signo), now: Clock.monotonic()))
        }
    }

    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            if pid == successor {
                successorExited(status: status)
                continue
            }
            var serving: [String] = []
            if let worker = workers.removeValue(forKey: pid) {
                // What it was doing when it died, from the page it can no longer write to.
                let slots = min(worker.heartbeat.slots, worker.heartbeatSlots)
                // (An event-loop worker's slot 0, its current job, is usually one of its requests too.)
                for label in (0..<slots).compactMap({ worker.heartbeat.read(slot: $0)?.label }) where !serving.contains(label) {
                    serving.append(label)
                }
                foldCounters(of: worker)
                worker.counters?.unmap()
                Descriptor.close(worker.fd)
                worker.heartbeat.unmap()
                scoreboard?.page.clear(worker.scoreIndex)
            }
            let exit: MasterStateMachine.ExitStatus =
                arbiter_wifexited(status) != 0 ? .code(arbiter_wexitstatus(status)) : .signal(arbiter_wtermsig(status))
            perform(machine.handle(.exited(pid: pid, status: exit, serving: serving), now: Clock.monotonic()))
        }
    }

    /// Messages from a worker (`WorkerMessage`).
    private func readControl(_ pid: Int32) {
        guard var worker = workers[pid] else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { read(worker.fd, $0.baseAddress, $0.count) }
        if n <= 0 { return }  // closed: its exit is reported through SIGCHLD
        let messages = worker.reader.feed(chunk[0..<n])
        for line in worker.reader.takeRejected() {
            logger.warning("Worker (pid: \(pid)) sent an unknown control message: \(line)")
        }
        workers[pid] = worker
        for message in messages {
            switch message {
            case .ready:
                perform(machine.handle(.ready(pid: pid), now: Clock.monotonic()))
            case .retire(let reason):
                perform(machine.handle(.retire(pid: pid, reason: reason), now: Clock.monotonic()))
            case .logsReopened:
                workerReopenedLogs(pid)
            }
        }
    }

    /// Writes `message` to a worker's control socket; a worker that is gone or not reading misses it
    /// (its exit is reported through SIGCHLD).
    private func send(_ message: MasterMessage, to pid: Int32) {
        guard let worker = workers[pid] else { return }
        message.encoded.withUnsafeBytes { _ = try? Descriptor.writeAll(worker.fd, $0) }
    }

    /// Finds stuck workers from their heartbeat pages (at most four times per `timeout`).
    private func checkHeartbeats() {
        let now = Clock.monotonic()
        guard settings.timeout > 0, now >= nextHeartbeatCheck else { return }
        nextHeartbeatCheck = now + min(1, settings.timeout / 4)
        let limit = UInt64(settings.timeout * 1_000_000)
        let micros = Heartbeat.now
        for (pid, worker) in workers.sorted(by: { $0.key < $1.key }) {
            if let stuck = Self.stuckDescription(worker.heartbeat, now: micros, limit: limit) {
                perform(machine.handle(.stuck(pid: pid, description: stuck), now: now))
            }
        }
    }

    static func stuckDescription(_ heartbeat: Heartbeat, now: UInt64, limit: UInt64) -> String? {
        let beat = heartbeat.lastBeat
        guard beat > 0 else { return nil }  // still booting
        func seconds(_ micros: UInt64) -> String { String(Double(micros / 100_000) / 10) }
        if now > beat, now - beat > limit {
            var text = "event loop silent for \(seconds(now - beat)) s"
            if let job = heartbeat.read(slot: 0), heartbeat.kind == .eventLoop {
                text += ", blocked in \(job.label) for \(seconds(now - job.progress)) s"
            }
            return text
        }
        guard heartbeat.kind == .requestThreads else { return nil }
        for slot in 0..<heartbeat.slots {
            if let state = heartbeat.read(slot: slot), now > state.progress, now - state.progress > limit {
                return "\(state.label) made no progress for \(seconds(now - state.progress)) s "
                    + "(running \(seconds(now - state.busySince)) s, request thread \(slot))"
            }
        }
        return nil
    }

    /// `WATCHDOG=1` every half watchdog period, only while every worker serves.
    private func pingWatchdog() {
        guard let interval = watchdogInterval, let notifier, !successorServes else { return }
        let now = Clock.monotonic()
        guard now >= nextWatchdog else { return }
        nextWatchdog = now + interval
        if machine.isHealthy { notifier.send("WATCHDOG=1") }
    }

    /// Tells systemd (when it started us) what state the service is in.
    private func notify(_ notification: MasterStateMachine.Notification) {
        guard let notifier, !successorServes else { return }
        switch notification {
        case .ready(let count, let generation):
            var message = "READY=1\nSTATUS=Serving: \(count) worker(s), generation \(generation)"
            if isSuccessor { message = "MAINPID=\(ProcessControl.pid)\n" + message }
            notifier.send(message)
        case .reloading(let generation):
            notifier.send("RELOADING=1\nMONOTONIC_USEC=\(Clock.monotonicMicroseconds())\nSTATUS=Reloading: starting generation \(generation)")
        case .stopping:
            // After an upgrade the new master is the service: this one leaves quietly.
            if successor == nil { notifier.send("STOPPING=1\nSTATUS=Stopping") }
        case .status(let text):
            notifier.send("STATUS=\(text)")
        }
    }

    /// Recycles workers whose proportional memory is over `max_worker_memory` (every 5 s).
    private func checkMemory() {
        let now = Clock.monotonic()
        guard settings.maxWorkerMemory > 0, now >= nextMemoryCheck else { return }
        nextMemoryCheck = now + 5
        for pid in workers.keys.sorted() {
            guard let pss = Memory.proportionalKiB(pid), pss > settings.maxWorkerMemory * 1024 else { continue }
            let reason = "memory: PSS \(pss / 1024) MiB is over max_worker_memory \(settings.maxWorkerMemory) MiB"
            perform(machine.handle(.retire(pid: pid, reason: reason), now: now))
        }
    }

    func perform(_ actions: [MasterStateMachine.Action]) {
        for action in actions {
            switch action {
            case .spawn(let slot):
                do {
                    let pid = try spawnWorker(slot: slot)
                    perform(machine.handle(.spawned(slot: slot, pid: pid), now: Clock.monotonic()))
                } catch {
                    perform(machine.handle(.spawnFailed(slot: slot, reason: "\(error)"), now: Clock.monotonic()))
                }
            case .kill(let pid, let signo):
                kill(pid, signo)
            case .send(let pid, let message):
                send(message, to: pid)
            case .closeListeners:
                closeListeners()
            case .reopenLogs:
                try? logger.sink.reopen()
                // Before the workers reopen: a file logrotate re-created as root becomes theirs.
                if let problem = LogFiles.prepare(settings.workerLogFiles, user: settings.user, group: settings.group) {
                    logger.error("Reopening log files: \(problem)")
                }
            case .reloadSucceeded(let generation):
                reloadSucceeded()
                reloadFinished(.success(generation))
            case .reloadFailed(_, let reason):
                reloadFailed()
                reloadFinished(.failure(ReloadRolledBack(description: reason)))
            case .notify(let notification):
                if case .ready = notification { tellPredecessorReady() }
                notify(notification)
            case .log(let level, let message):
                logger.log(level, message)
            case .exit(let code):
                closeControl(exitCode: code)
                closeListeners()
                telemetry.close(keepingPath: successor != nil)
                pidfile?.remove()
                exit(code)
            }
        }
    }

    func closeListeners() {
        for listener in listeners { close(listener) }
        listeners.removeAll()
    }

    /// Closes a listener; a unix socket file is removed unless a successor master serves it now.
    func close(_ listener: Listener) {
        Descriptor.close(listener.fd)
        if case .unix(let path) = listener.address, successor == nil, listener.ownsPath { unlink(path) }
    }

    private func spawnWorker(slot: Int) throws -> Int32 {
        var pair: [Int32] = [0, 0]
        try syscall("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
        }
        defer { Descriptor.close(pair[1]) }
        let slots = settings.workerClass == .sync ? settings.threads : 1 + Heartbeat.eventLoopRequestSlots
        let (heartbeat, heartbeatFD) = try Heartbeat.create(slots: slots)
        defer { Descriptor.close(heartbeatFD) }
        let counters: (page: WorkerCounters, fd: Int32)?
        do {
            counters = try makeCounters()
        } catch {
            heartbeat.unmap()
            throw error
        }
        defer { if let counters { Descriptor.close(counters.fd) } }
        var descriptors: [(from: Int32, to: Int32)] = [(pair[1], WorkerLaunch.controlFD), (heartbeatFD, WorkerLaunch.heartbeatFD)]
        // The lowest free scoreboard slot (a worker's slot number is shared during a reload).
        let used = Set(workers.values.map(\.scoreIndex))
        let scoreIndex = (0..<Scoreboard.slots).first { !used.contains($0) } ?? 0
        if let scoreboard {
            descriptors.append((scoreboard.fd, WorkerLaunch.scoreboardFD))
            scoreboard.page.clear(scoreIndex)
            scoreboard.page.setHighWater(max(scoreboard.page.highWater, scoreIndex + 1))
        }
        for (index, listener) in listeners.enumerated() {
            descriptors.append((listener.fd, WorkerLaunch.firstListenerFD + Int32(index)))
        }
        var environment = baseEnvironment + [
            "\(WorkerLaunch.slotVariable)=\(slot)",
            "\(WorkerLaunch.listenerCountVariable)=\(listeners.count)",
            "\(WorkerLaunch.heartbeatSizeVariable)=\(heartbeat.size)",
            "\(WorkerLaunch.scoreboardIndexVariable)=\(scoreboard == nil ? -1 : scoreIndex)",
            "\(WorkerLaunch.settingsVariable)=\(ConfigFile.render(settings))",
            "\(WorkerLaunch.plainListenersVariable)=\(plainListenerPositions())",
        ]
        if let counters {
            // The counters page follows the listeners.
            let target = WorkerLaunch.firstListenerFD + Int32(listeners.count)
            descriptors.append((counters.fd, target))
            environment.append("\(WorkerLaunch.countersVariable)=\(target):\(counters.page.size)")
        }
        do {
            let pid = try ProcessControl.spawn(
                path: "/proc/self/exe", arguments: ["arbiter: worker [\(settings.displayName)]"],
                environment: environment, descriptors: descriptors)
            try Descriptor.setNonBlocking(pair[0])
            workers[pid] = Worker(
                fd: pair[0], heartbeat: heartbeat, heartbeatSlots: slots, kind: settings.workerClass, scoreIndex: scoreIndex,
                counters: counters?.page)
            sendTLSFiles(to: pid)
            sendTicketKeys(to: pid)
            return pid
        } catch {
            Descriptor.close(pair[0])
            heartbeat.unmap()
            counters?.page.unmap()
            throw error
        }
    }
}

/// Memory of a process as the kernel accounts it.
enum Memory {
    /// Proportional set size (shared pages divided among their users), from /proc/PID/smaps_rollup.
    static func proportionalKiB(_ pid: Int32) -> Int? {
        guard let text = try? Files.readString("/proc/\(pid)/smaps_rollup") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("Pss:") {
            return line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }
}
