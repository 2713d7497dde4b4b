import CArbiter
import Configuration
import Glibc
import Platform
import Supervision

extension Master {
    /// Names the descriptor of the pipe on which a master started by USR2 tells its predecessor
    /// that it serves.
    static let upgradeReadyVariable = "ARBITER_UPGRADE_READY_FD"

    /// A reload that ended with the previous generation serving.
    struct ReloadRolledBack: Error, CustomStringConvertible {
        let description: String
    }

    /// An upgrade whose new master did not come to serve.
    struct UpgradeFailed: Error, CustomStringConvertible {
        let description: String
    }

    /// Before the loop starts: opens `--control-socket`, and takes the pipe to the previous master
    /// when USR2 started this one. False (after a log line) when the socket cannot be made.
    func startControl() -> Bool {
        if let text = invocation.environment[Master.upgradeReadyVariable], let fd = Int32(text), fd > 2 {
            try? Descriptor.setCloseOnExec(fd)
            predecessorReady = fd
        }
        unsetenv(Master.upgradeReadyVariable)
        guard let path = settings.controlSocket else { return true }
        do {
            control = try ControlServer(path: Files.absolute(path), replacingLive: isSuccessor)
            logger.info("Control socket at: \(Files.absolute(path)) (arbiter ctl --socket \(Files.absolute(path)))")
            return true
        } catch {
            logger.error("Cannot open the control socket: \(error)")
            return false
        }
    }

    /// A pipe for a new master to report readiness on; `target` is its descriptor in the new master.
    func successorReadyPipe(at target: Int32) -> (read: Int32, write: Int32, target: Int32)? {
        var fds: [Int32] = [0, 0]
        guard arbiter_pipe2(&fds, O_CLOEXEC) == 0 else { return nil }
        try? Descriptor.setNonBlocking(fds[0])
        return (fds[0], fds[1], target)
    }

    /// This master (started by USR2) serves: tell the previous one, once.
    func tellPredecessorReady() {
        guard let fd = predecessorReady else { return }
        predecessorReady = nil
        try? Descriptor.writeAll(fd, "ready \(ProcessControl.pid)\n")
        Descriptor.close(fd)
    }

    func appendControlPollDescriptors(to fds: inout [pollfd]) {
        fds.append(pollfd(fd: successorReady ?? -1, events: Int16(POLLIN), revents: 0))
        control?.appendPollDescriptors(to: &fds)
    }

    func serviceControl(_ revents: ArraySlice<pollfd>) {
        if let first = revents.first, first.revents != 0 { readSuccessorReady() }
        guard let control else { return }
        let now = Clock.monotonic()
        for (client, request) in control.service(revents.dropFirst(), now: now) {
            switch request {
            case .success(let command): execute(command, for: client)
            case .failure(let problem): control.reply(client, ok: false, text: problem.description, json: nil)
            }
        }
        control.expire(now: now)
    }

    /// A worker confirmed `reopen-logs`.
    func workerReopenedLogs(_ pid: Int32) {
        guard let control else { return }
        for client in control.waiting(where: { if case .reopenLogs = $0 { true } else { false } }) {
            guard case .reopenLogs(var pending, let until) = client.waiting else { continue }
            pending.remove(pid)
            client.waiting = .reopenLogs(pending: pending, until: until)
        }
        answerReopenLogs()
    }

    /// Answers `reopen-logs` clients whose workers all confirmed (or exited), or whose wait is over.
    func answerReopenLogs() {
        guard let control else { return }
        let now = Clock.monotonic()
        for client in control.waiting(where: { if case .reopenLogs = $0 { true } else { false } }) {
            guard case .reopenLogs(let asked, let until) = client.waiting else { continue }
            let pending = asked.filter { workers[$0] != nil }  // a worker that exited has nothing to reopen
            if pending.isEmpty {
                control.reply(client, ok: true, text: "log files reopened by the master and its \(workers.count) worker(s)",
                              json: .object([("ok", .bool(true)), ("workers", .integer(workers.count))]))
            } else if now >= until {
                let pids = pending.sorted().map(String.init).joined(separator: ", ")
                control.reply(client, ok: false, text: "the master reopened its logs; worker(s) \(pids) did not confirm within 5 s", json: nil)
            } else {
                client.waiting = .reopenLogs(pending: pending, until: until)
            }
        }
    }

    /// After each loop turn: answer `scale` clients whose worker count has settled.
    func controlProgress() {
        guard let control else { return }
        answerReopenLogs()
        for client in control.waiting(where: { if case .scale = $0 { true } else { false } }) {
            guard case .scale(let target) = client.waiting else { continue }
            if machine.hasSettled(workers: target) {
                let text = "\(target) worker(s) serving"
                control.reply(client, ok: true, text: text, json: .object([("ok", .bool(true)), ("workers", .integer(target))]))
            } else if machine.config.workers != target || machine.isStopping {
                let reason = machine.isStopping ? "the master is stopping" : "the worker count was changed to \(machine.config.workers) meanwhile"
                control.reply(client, ok: false, text: reason, json: nil)
            }
        }
        control.sweep()
    }

    private func readSuccessorReady() {
        guard let fd = successorReady else { return }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
        Descriptor.close(fd)
        successorReady = nil
        // End of file without a word: the new master exited first (reported through SIGCHLD).
        guard n > 0, let pid = successor else { return }
        successorServes = true
        logger.info("New master (pid: \(pid)) is serving; stop this master (pid: \(ProcessControl.pid)) with WINCH, then QUIT or TERM")
        upgradeFinished(.success(pid))
    }

    func upgradeFinished(_ result: Result<Int32, UpgradeFailed>) {
        guard let control else { return }
        for client in control.waiting(where: { $0 == .upgrade }) {
            switch result {
            case .success(let pid):
                control.reply(client, ok: true, text: "new master (pid: \(pid)) serves; this master (pid: \(ProcessControl.pid)) serves on until stopped (WINCH, then QUIT or TERM)",
                              json: .object([("ok", .bool(true)), ("new_master_pid", .integer(Int(pid))), ("old_master_pid", .integer(Int(ProcessControl.pid)))]))
            case .failure(let problem):
                control.reply(client, ok: false, text: "upgrade failed: \(problem)", json: nil)
            }
        }
    }

    func reloadFinished(_ result: Result<Int, ReloadRolledBack>) {
        guard let control else { return }
        switch result {
        case .success: control.reloadsDone += 1
        case .failure: control.reloadsRolledBack += 1
        }
        for client in control.waiting(where: { $0 == .reload }) {
            switch result {
            case .success(let generation):
                control.reply(client, ok: true, text: "reloaded: generation \(generation) serving with \(machine.config.workers) worker(s)",
                              json: .object([("ok", .bool(true)), ("generation", .integer(generation)), ("workers", .integer(machine.config.workers))]))
            case .failure(let problem):
                control.reply(client, ok: false, text: "reload rolled back: \(problem); generation \(machine.generation) serves on",
                              json: .object([("ok", .bool(false)), ("error", .string("reload rolled back")), ("reason", .string(problem.description)),
                                             ("generation", .integer(machine.generation))]))
            }
        }
    }

    /// The master exits: clients waiting for the stop hear so, others that it is gone.
    func closeControl(exitCode: Int32) {
        guard let control else { return }
        for client in control.clients where client.fd >= 0 && !client.replied {
            if client.waiting == .stop {
                control.reply(client, ok: true, text: "stopped (exit code \(exitCode))",
                              json: .object([("ok", .bool(true)), ("exit_code", .integer(Int(exitCode)))]))
            } else {
                control.reply(client, ok: false, text: "the master exited (code \(exitCode))", json: nil)
            }
        }
        control.close()
        self.control = nil
    }

    /// Carries out one request; changes answer later, when they are done.
    private func execute(_ command: ControlCommand, for client: ControlServer.Client) {
        guard let control else { return }
        func refuse(_ reason: String) { control.reply(client, ok: false, text: reason, json: nil) }
        switch command.verb {
        case .status:
            let reply = statusReply()
            control.reply(client, ok: true, text: reply.text, json: reply.json)
        case .workers:
            let reply = workersReply()
            control.reply(client, ok: true, text: reply.text, json: reply.json)
        case .config:
            let reply = configReply()
            control.reply(client, ok: true, text: reply.text, json: reply.json)
        case .reload:
            if let reason = reload(by: "Reload requested (arbiter ctl)") { return refuse("reload not started: \(reason)") }
            client.waiting = .reload
        case .upgrade:
            if let reason = upgrade(by: "Upgrade requested (arbiter ctl)") { return refuse("upgrade not started: \(reason)") }
            client.waiting = .upgrade
        case .scale(let target):
            let count = target.resolve(from: machine.config.workers)
            switch machine.scale(to: count, now: Clock.monotonic()) {
            case .failure(let refused): return refuse("scale refused: \(refused.reason)")
            case .success(let actions):
                client.waiting = .scale(workers: count)
                perform(actions)
            }
        case .reopenLogs:
            // Answered once every worker confirms (`logs-reopened`), or after 5 s naming those that did not.
            let asked = Set(workers.keys)
            perform(machine.handle(.signal(SIGUSR1), now: Clock.monotonic()))
            client.waiting = .reopenLogs(pending: asked, until: Clock.monotonic() + 5)
            answerReopenLogs()
        case .stop(let quick):
            if machine.isStopping && !quick { client.waiting = .stop; return }
            client.waiting = .stop
            perform(machine.handle(.signal(quick ? SIGQUIT : SIGTERM), now: Clock.monotonic()))
        }
    }
}
