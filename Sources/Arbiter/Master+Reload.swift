import Configuration
import Glibc
import Platform
import Supervision
import TLS

extension Master {
    /// HUP: re-read the configuration, bind what is new, and start a new generation with it. The
    /// state machine retires old workers as their replacements become ready, or rolls back.
    /// Returns why no reload started, or nil when one did.
    @discardableResult
    func reload(by origin: String = "Handling signal: hup") -> String? {
        logger.info(origin)
        guard !machine.isStopping else { return "the master is stopping" }
        guard !machine.isReloading else {
            logger.warning("Reload ignored: the previous reload is still starting")
            return "the previous reload is still starting"
        }
        var new: Settings
        let requested: Settings
        do {
            requested = try Invocation.resolve(arguments: invocation.arguments, environment: invocation.environment).settings
            new = requested
            new.chdir = settings.chdir
            new.appPath = new.appPath.map { Files.absolute($0) }
            new = new.anchoringTLSPaths()
        } catch {
            logger.error("Reload failed: \(error); keeping the current configuration")
            return "\(error)"
        }
        // New certificates and keys are checked before any worker starts with them: a bad one
        // keeps the running generation serving with the files it loaded.
        let newTLSFiles: TLSFiles?
        switch Self.loadTLS(new, environment: invocation.environment) {
        case .success(let files):
            newTLSFiles = files
        case .failure(let problem):
            logger.error("Reload failed: \(problem); keeping the current configuration")
            return problem.description
        }
        // Log files the new workers open after dropping privileges, as at start.
        if let problem = LogFiles.prepare(new.workerLogFiles, user: new.user, group: new.group) {
            logger.error("Reload failed: \(problem); keeping the current configuration")
            return problem
        }
        // Socket activation: systemd owns the sockets and `bind` does not apply.
        let systemd = listeners.contains(where: \.fromSystemd)
        let bound = systemd ? .success(listeners) : bindForReload(new)
        guard case .success(let newListeners) = bound else {
            if case .failure(let problem) = bound { return problem.description }
            return nil
        }
        previous = (settings, listeners, tlsFiles)
        tlsFiles = newTLSFiles
        applyReloadedSettings(from: settings, requested: requested)
        settings = new
        listeners = newListeners
        baseEnvironment = Master.workerEnvironment()
        prepareTicketKeys()
        var config = MasterStateMachine.Config(workers: new.workers, gracefulTimeout: new.gracefulTimeout)
        config.quickTimeout = machine.config.quickTimeout
        config.shutdownDelay = new.shutdownDelay
        config.bootTimeout = new.timeout
        perform(machine.handle(.reload(config), now: Clock.monotonic()))
        return nil
    }

    /// A listener a reload could not bind.
    struct BindProblem: Error, CustomStringConvertible {
        let description: String
    }

    /// The listeners `new.bind` names: kept where already open, bound where new; the problem (and
    /// a log line) when one cannot be bound.
    private func bindForReload(_ new: Settings) -> Result<[Listener], BindProblem> {
        var result: [Listener] = []
        for text in new.allBinds {
            guard let address = try? BindAddress.parse(text) else { continue }
            if let existing = listeners.first(where: { $0.address == address }) {
                result.append(existing)
                continue
            }
            do {
                let listener = try Listener.bind(address, backlog: Int32(new.backlog))
                logger.info("Listening at: \(new.shown(listener)) (\(ProcessControl.pid))")
                result.append(listener)
            } catch {
                logger.error("Reload failed: cannot listen at \(address): \(error); keeping the current configuration")
                for listener in result where !listeners.contains(listener) { close(listener) }
                return .failure(BindProblem(description: "cannot listen at \(address): \(error)"))
            }
        }
        return .success(result)
    }

    /// The new generation serves: listeners it no longer uses are closed.
    func reloadSucceeded() {
        guard let previous else { return }
        for listener in previous.listeners where !listeners.contains(listener) {
            logger.info("No longer listening at: \(listener.name)")
            close(listener)
        }
        self.previous = nil
    }

    /// The new generation failed: back to the previous configuration and listeners.
    func reloadFailed() {
        guard let previous else { return }
        for listener in listeners where !previous.listeners.contains(listener) { close(listener) }
        applyProcessSettings(from: settings, to: previous.settings)
        settings = previous.settings
        listeners = previous.listeners
        tlsFiles = previous.tlsFiles
        self.previous = nil
    }

    /// USR2: start a new master from the binary on disk, handing it the listening sockets. This
    /// master serves on until told to stop (WINCH stops its workers, then QUIT or TERM).
    /// Returns why no new master started, or nil when one did.
    @discardableResult
    func upgrade(by origin: String = "Handling signal: usr2") -> String? {
        logger.info(origin)
        // A stop asked for earlier wins: a new master would serve on after this one stopped.
        guard !machine.isStopping else {
            logger.warning("Upgrade ignored: the master is stopping")
            return "the master is stopping"
        }
        guard successor == nil else {
            logger.warning("Upgrade ignored: a new master (pid: \(successor!)) is already running")
            return "a new master (pid: \(successor!)) is already running"
        }
        guard let path = ArbiterMain.executablePath else {
            logger.error("Upgrade failed: the path of the arbiter binary is unknown")
            return "the path of the arbiter binary is unknown"
        }
        pidfile?.moveToOldBin()
        var descriptors: [(from: Int32, to: Int32)] = []
        var inherited: [String] = []
        for (index, listener) in listeners.enumerated() {
            let fd = WorkerLaunch.firstInheritedListenerFD + Int32(index)
            descriptors.append((listener.fd, fd))
            inherited.append("\(listener.fromSystemd ? "systemd:" + listener.name : listener.address.description)=\(fd)")
        }
        if let metrics = telemetry.server?.listener {
            // The new master serves metrics on the same socket (alone once it serves: `appendMetricsDescriptors`).
            let fd = WorkerLaunch.firstInheritedListenerFD + Int32(descriptors.count)
            descriptors.append((metrics.fd, fd))
            inherited.append("\(Telemetry.inheritedPrefix)\(metrics.address.description)=\(fd)")
        }
        // The successor keeps talking to systemd (NOTIFY_SOCKET, watchdog); listeners come by name.
        let keep = Environment.all().filter { $0.hasPrefix("NOTIFY_SOCKET=") || $0.hasPrefix("WATCHDOG_USEC=") }
        var environment = Master.workerEnvironment() + keep
            + ["\(WorkerLaunch.inheritedListenersVariable)=\(inherited.joined(separator: ";"))"]
        // The new master says on this pipe when it serves (for `arbiter ctl upgrade`).
        let readyPipe = successorReadyPipe(at: WorkerLaunch.firstInheritedListenerFD + Int32(descriptors.count))
        if let readyPipe {
            descriptors.append((readyPipe.write, readyPipe.target))
            environment.append("\(Master.upgradeReadyVariable)=\(readyPipe.target)")
        }
        defer { if let readyPipe { Descriptor.close(readyPipe.write) } }
        do {
            let pid = try ProcessControl.spawn(
                path: path, arguments: ["arbiter"] + invocation.arguments, environment: environment, descriptors: descriptors)
            successor = pid
            successorReady = readyPipe?.read
            logger.info("Upgrading: started a new master (pid: \(pid)) from \(path); send WINCH then QUIT to this master (pid: \(ProcessControl.pid)) once it serves")
            return nil
        } catch {
            if let readyPipe { Descriptor.close(readyPipe.read) }
            logger.error("Upgrade failed: cannot start \(path): \(error)")
            pidfile?.restoreFromOldBin()
            return "cannot start \(path): \(error)"
        }
    }

    /// The new master exited: this one goes on serving (and restores its pidfile).
    func successorExited(status: Int32) {
        logger.error("New master (pid: \(successor ?? 0)) \(ProcessControl.describe(status: status)); this master (pid: \(ProcessControl.pid)) keeps serving")
        upgradeFinished(.failure(UpgradeFailed(description: "the new master (pid: \(successor ?? 0)) \(ProcessControl.describe(status: status))")))
        successorServes = false
        successor = nil
        pidfile?.restoreFromOldBin()
        if machine.config.workers == 0 {
            logger.info("Its workers were stopped (WINCH): send HUP to start them again")
        }
    }
}

/// The pidfile: written atomically, refused when it names a live process, removed only if ours.
final class PidFile {
    let path: String
    private var current: String

    struct Taken: Error, CustomStringConvertible {
        let path: String
        let pid: Int32
        var description: String { "pidfile \(path) names a running process (pid \(pid)); is arbiter already running?" }
    }

    init(path: String) throws {
        self.path = Files.absolute(path)
        current = self.path
        if let text = try? Files.readString(self.path),
           let pid = Int32(text.split(separator: "\n").first.map(String.init) ?? ""), pid > 0, pid != getpid(),
           kill(pid, 0) == 0 || errno == EPERM
        {
            throw Taken(path: self.path, pid: pid)
        }
        try write()
    }

    private func write() throws {
        let temporary = "\(path).\(getpid()).tmp"
        let fd = try syscall("open(\(temporary))") { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644) }
        defer { Descriptor.close(fd) }
        try Descriptor.writeAll(fd, "\(getpid())\n")
        try syscall("rename(\(temporary))") { rename(temporary, path) }
    }

    /// True if the file at `where` still names this process.
    private func isOurs(_ location: String) -> Bool {
        guard let text = try? Files.readString(location) else { return false }
        return Int32(text.split(separator: "\n").first.map(String.init) ?? "") == getpid()
    }

    func moveToOldBin() {
        guard current == path, isOurs(path) else { return }
        if rename(path, path + ".oldbin") == 0 { current = path + ".oldbin" }
    }

    func restoreFromOldBin() {
        guard current != path, isOurs(current) else { return }
        if rename(current, path) == 0 { current = path }
    }

    func remove() {
        if isOurs(current) { unlink(current) }
    }
}
