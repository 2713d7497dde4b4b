import AppLoader
import CArbiter
import Configuration
import Glibc
import Platform

/// The master process: binds, spawns workers by re-executing its own binary, and runs the state
/// machine's actions. Single-threaded and Glibc-only (no Dispatch, no tasks): see DESIGN.md §1.
public final class Master {
    private let settings: Settings
    private let logger: Logger
    private var listeners: [Listener]
    private var machine: MasterStateMachine
    private let signals: SignalPipe
    private var controls: [Int32: (fd: Int32, buffer: [UInt8])] = [:]
    private let baseEnvironment: [String]

    init(settings: Settings, logger: Logger, listeners: [Listener], signals: SignalPipe) {
        self.settings = settings
        self.logger = logger
        self.listeners = listeners
        self.signals = signals
        machine = MasterStateMachine(config: .init(workers: settings.workers, gracefulTimeout: settings.gracefulTimeout))
        baseEnvironment = Environment.all().filter { entry in
            !entry.hasPrefix("ARBITER_WORKER") && !entry.hasPrefix("LISTEN_") && !entry.hasPrefix("NOTIFY_SOCKET=")
        }
    }

    func run() -> Int32 {
        perform(machine.start())
        var fds: [pollfd] = []
        while true {
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: signals.readFD, events: Int16(POLLIN), revents: 0))
            let pids = Array(controls.keys)
            for pid in pids { fds.append(pollfd(fd: controls[pid]!.fd, events: Int16(POLLIN), revents: 0)) }
            let timeout: Int32
            if let deadline = machine.nextDeadline {
                timeout = Int32(max(0, min(deadline - Clock.monotonic(), 3600)) * 1000) + 1
            } else {
                timeout = -1
            }
            let n = poll(&fds, nfds_t(fds.count), timeout)
            if n < 0 && errno != EINTR {
                logger.critical("poll failed: \(SystemError("poll"))")
                return 1
            }
            if fds[0].revents != 0 {
                for signo in signals.drain() {
                    if signo == SIGCHLD { reap() } else { perform(machine.handle(.signal(signo), now: Clock.monotonic())) }
                }
            }
            for (index, pid) in pids.enumerated() where fds[index + 1].revents != 0 {
                readControl(pid)
            }
            perform(machine.handle(.tick, now: Clock.monotonic()))
        }
    }

    private func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { return }
            if let control = controls.removeValue(forKey: pid) { Descriptor.close(control.fd) }
            let exit: MasterStateMachine.ExitStatus =
                arbiter_wifexited(status) != 0 ? .code(arbiter_wexitstatus(status)) : .signal(arbiter_wtermsig(status))
            perform(machine.handle(.exited(pid: pid, status: exit), now: Clock.monotonic()))
        }
    }

    /// Lines from a worker: `ready`.
    private func readControl(_ pid: Int32) {
        guard var control = controls[pid] else { return }
        var chunk = [UInt8](repeating: 0, count: 4096)
        let n = chunk.withUnsafeMutableBytes { read(control.fd, $0.baseAddress, $0.count) }
        if n <= 0 {
            // The worker closed its end; its exit is reported through SIGCHLD.
            Descriptor.close(control.fd)
            controls[pid] = nil
            return
        }
        control.buffer.append(contentsOf: chunk[0..<n])
        while let newline = control.buffer.firstIndex(of: 10) {
            let line = String(decoding: control.buffer[..<newline], as: UTF8.self)
            control.buffer.removeSubrange(...newline)
            if line == "ready" { perform(machine.handle(.ready(pid: pid), now: Clock.monotonic())) }
        }
        controls[pid] = control
    }

    private func perform(_ actions: [MasterStateMachine.Action]) {
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
            case .closeListeners:
                closeListeners()
            case .reopenLogs:
                try? logger.sink.reopen()
            case .log(let level, let message):
                logger.log(level, message)
            case .exit(let code):
                closeListeners()
                exit(code)
            }
        }
    }

    private func closeListeners() {
        for listener in listeners {
            Descriptor.close(listener.fd)
            if case .unix(let path) = listener.address { unlink(path) }
        }
        listeners.removeAll()
    }

    private func spawnWorker(slot: Int) throws -> Int32 {
        var pair: [Int32] = [0, 0]
        try syscall("socketpair") {
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
        }
        defer { Descriptor.close(pair[1]) }
        var descriptors: [(from: Int32, to: Int32)] = [(pair[1], WorkerLaunch.controlFD)]
        for (index, listener) in listeners.enumerated() {
            descriptors.append((listener.fd, WorkerLaunch.firstListenerFD + Int32(index)))
        }
        let environment = baseEnvironment + [
            "\(WorkerLaunch.slotVariable)=\(slot)",
            "\(WorkerLaunch.listenerCountVariable)=\(listeners.count)",
            "\(WorkerLaunch.settingsVariable)=\(ConfigFile.render(settings))",
        ]
        do {
            let pid = try ProcessControl.spawn(
                path: "/proc/self/exe", arguments: ["arbiter: worker [\(settings.displayName)]"],
                environment: environment, descriptors: descriptors)
            try Descriptor.setNonBlocking(pair[0])
            controls[pid] = (pair[0], [])
            return pid
        } catch {
            Descriptor.close(pair[0])
            throw error
        }
    }
}
