import AppLoader
import Configuration
import Glibc
import Platform
import Supervision
import TLS

/// `arbiter …` as a master: resolve settings, answer the informational options, or serve.
public enum ArbiterMain {
    public static let version = "0.1.0"

    /// The binary this master was started from (resolved at start: a USR2 upgrade runs what is at
    /// that path now).
    nonisolated(unsafe) static var executablePath: String?

    public static func run(arguments: [String], environment: [String: String]) -> Int32 {
        let invocation: Invocation
        do {
            invocation = try Invocation.resolve(arguments: arguments, environment: environment)
        } catch {
            return fail("\(error)")
        }
        var settings = invocation.settings
        switch invocation.action {
        case .help:
            print(Reference.usage(), terminator: "")
            return 0
        case .version:
            print("arbiter \(version)")
            return 0
        case .settingsReference:
            print(Reference.markdown(), terminator: "")
            return 0
        case .printConfig:
            print(ConfigFile.render(settings), terminator: "")
            return 0
        case .checkConfig, .checkStartup, .run:
            break
        }
        guard let app = settings.app else {
            return fail("no application given (usage: arbiter [OPTIONS] MODULE:SYMBOL; see arbiter --help)")
        }
        do {
            _ = try AppSpec(parsing: app)
        } catch {
            return fail("invalid application: \(error)")
        }
        let binds: [BindAddress]
        do {
            binds = try settings.allBinds.map { (text) throws(BindAddress.ParseError) in try BindAddress.parse(text) }
        } catch {
            return fail("bind: \(error)")
        }
        // A reload and an upgrade re-read the config file after chdir: keep its path absolute.
        let launchDirectory = Files.currentDirectory()
        let arguments = Invocation.anchoringConfigPath(arguments, environment: environment, directory: launchDirectory)
        Master.launchDirectory = launchDirectory
        if let directory = settings.chdir {
            guard chdir(directory) == 0 else { return fail("chdir: cannot change to '\(directory)': \(SystemError("chdir"))") }
            settings.chdir = Files.currentDirectory()
        }
        // Workers resolve relative paths against the directory the master ran in.
        settings.appPath = settings.appPath.map { Files.absolute($0) }
        settings = settings.anchoringTLSPaths()
        let tlsFiles: TLSFiles?
        switch Master.loadTLS(settings, environment: environment) {
        case .success(let files): tlsFiles = files
        case .failure(let problem): return fail(problem.description)
        }
        if let text = settings.umask {
            guard let mask = mode_t(text.hasPrefix("0o") ? String(text.dropFirst(2)) : text, radix: 8), mask <= 0o777 else {
                return fail("umask = '\(text)': not an octal file mode mask (e.g. 027)")
            }
            umask(mask)
        }
        for entry in settings.rawEnv {
            let equals = entry.firstIndex(of: "=")!
            setenv(String(entry[..<equals]), String(entry[entry.index(after: equals)...]), 1)
        }
        let logger: Logger
        do {
            logger = Logger(sink: try LogSink(path: settings.errorLogDestination), level: Logger.Level(name: settings.logLevel) ?? .info, format: settings.logFormat)
        } catch {
            return fail("error log: \(error)")
        }
        // Also for --check-config: a log file the workers cannot open would stop them at boot.
        if let problem = LogFiles.prepare(
            settings.workerLogFiles, user: settings.user, group: settings.group, create: invocation.action != .checkConfig) {
            return fail(problem)
        }
        for warning in settings.startupWarnings { logger.warning(warning) }
        if environment["GUNICORN_CMD_ARGS"] != nil && environment["ARBITER_CMD_ARGS"] == nil {
            logger.warning("GUNICORN_CMD_ARGS is set and ignored: arbiter reads its extra flags from ARBITER_CMD_ARGS")
        }
        if invocation.action == .checkStartup { return StartupCheck.run(settings: settings, logger: logger) }
        if invocation.action == .checkConfig || settings.preloadApp {
            do {
                let loaded = try Loader.load(app, appPaths: settings.appPath)
                if invocation.action == .checkConfig {
                    print("arbiter: configuration OK; \(app) loads from \(loaded.path)")
                    return 0
                }
                logger.info("Preloaded application \(loaded.name) from \(loaded.path)")
            } catch {
                logger.error("\(WorkerExit.appLoadFailed.summary): \(error)")
                return WorkerExit.appLoadFailed.code
            }
        }
        executablePath = ProcessControl.executablePath()
        if settings.daemon {
            if let error = Daemon.detach() { return fail("daemon: \(error)") }
        }
        var pidfile: PidFile?
        if let path = settings.pidfile {
            do { pidfile = try PidFile(path: path) } catch { return fail("\(error)") }
        }
        let code = serve(settings: settings, tlsFiles: tlsFiles, binds: binds, logger: logger, pidfile: pidfile,
                         invocation: (arguments, environment))
        pidfile?.remove()
        return code
    }

    private static func serve(
        settings: Settings, tlsFiles: TLSFiles?, binds: [BindAddress], logger: Logger, pidfile: PidFile?,
        invocation: (arguments: [String], environment: [String: String])
    ) -> Int32 {
        SignalPipe.ignore(SIGPIPE)
        let signals: SignalPipe
        do {
            signals = try SignalPipe(signals: MasterSignal.all.map(\.number) + [SIGCHLD])
        } catch {
            logger.critical("Cannot install signal handlers: \(error)")
            return 1
        }
        logger.info("Starting arbiter \(version)")
        var listeners: [Listener] = []
        let inherited = inheritedListeners(invocation.environment[WorkerLaunch.inheritedListenersVariable])
        // Sockets from systemd (activation, or passed on by an upgrading master) replace `bind`.
        var activated = SystemdSockets.fromEnvironment(invocation.environment)
        SystemdSockets.clearEnvironment()
        for (key, fd) in inherited where key.hasPrefix("systemd:") { activated.append((fd, String(key.dropFirst(8)))) }
        for (fd, name) in activated.sorted(by: { $0.fd < $1.fd }) {
            do {
                let listener = try Listener.adopt(fd: fd, as: .fd(fd), fromSystemd: true)
                listeners.append(Listener(fd: fd, address: .fd(fd), name: name, fromSystemd: true))
                logger.info("Listening at: \(settings.shown(listener)) (\(ProcessControl.pid)), socket '\(name)' from systemd")
            } catch {
                logger.error("Cannot use the socket systemd passed as descriptor \(fd): \(error)")
                return 1
            }
        }
        if !activated.isEmpty, !settings.bind.isEmpty {
            logger.info("Socket activation: using systemd's socket(s); bind is ignored")
        }
        for address in binds where activated.isEmpty {
            do {
                let listener = try inherited[address.description].map { try Listener.adopt(fd: $0, as: address) }
                    ?? bindRetryingWhileInUse(address, backlog: Int32(settings.backlog), logger: logger)
                listeners.append(listener)
                logger.info("Listening at: \(settings.shown(listener)) (\(ProcessControl.pid))")
            } catch {
                logger.error("Cannot listen at \(address): \(error)" + (address.bareNumberHint.map { " (\($0))" } ?? ""))
                listeners.forEach { Descriptor.close($0.fd) }
                return 1
            }
        }
        let metricsListener: Listener?
        do {
            metricsListener = try bindMetrics(settings, inherited: inherited, logger: logger)
        } catch {
            logger.error("Cannot serve metrics at \(settings.metricsBind ?? ""): \(error)")
            listeners.forEach { Descriptor.close($0.fd) }
            return 1
        }
        for (address, fd) in inherited where !address.hasPrefix("systemd:") && !address.hasPrefix(Telemetry.inheritedPrefix)
            && !binds.contains(where: { $0.description == address }) {
            Descriptor.close(fd)  // a listener the previous master had and this configuration drops
        }
        unsetenv(WorkerLaunch.inheritedListenersVariable)
        logger.info("Using worker: \(settings.workerClass.rawValue)")
        ProcessControl.setTitle("arbiter: master [\(settings.displayName)]")
        let master = Master(
            settings: settings, logger: logger, listeners: listeners, signals: signals, invocation: invocation, pidfile: pidfile)
        master.tlsFiles = tlsFiles
        do {
            try master.startTelemetry(metricsListener: metricsListener)
        } catch {
            logger.error("\(error)")
            listeners.forEach { Descriptor.close($0.fd) }
            return 1
        }
        guard master.startControl() else {
            listeners.forEach { Descriptor.close($0.fd) }
            return 1
        }
        return master.run()
    }

    /// `BIND=FD;…` from an upgrading master.
    static func inheritedListeners(_ text: String?) -> [String: Int32] {
        var out: [String: Int32] = [:]
        for entry in (text ?? "").split(separator: ";") {
            guard let equals = entry.lastIndex(of: "="), let fd = Int32(entry[entry.index(after: equals)...]) else { continue }
            out[String(entry[..<equals])] = fd
        }
        return out
    }

    /// Binds `address`; while another process still holds it (a server being restarted that has
    /// not exited yet), tries again each second, five times in all, as Gunicorn does.
    static func bindRetryingWhileInUse(_ address: BindAddress, backlog: Int32, logger: Logger, attempts: Int = 5) throws -> Listener {
        for attempt in 1... {
            do {
                return try Listener.bind(address, backlog: backlog)
            } catch let error as SystemError where error.errno == EADDRINUSE && attempt < attempts {
                logger.error("Connection in use: \(address); retrying in 1 second (attempt \(attempt) of \(attempts))")
                sleep(1)
            }
        }
        preconditionFailure("unreachable: the last attempt returns or throws")
    }

    private static func fail(_ message: String) -> Int32 {
        Descriptor.writeAllIgnoring(STDERR_FILENO, "arbiter: error: \(message)\n")
        return 1
    }
}

/// `--daemon`: detach from the terminal (the master has no threads yet, so fork is safe here).
enum Daemon {
    static func detach() -> String? {
        switch fork() {
        case -1: return "fork: \(SystemError("fork"))"
        case 0: break
        default: _exit(0)
        }
        if setsid() < 0 { return "setsid: \(SystemError("setsid"))" }
        switch fork() {
        case -1: return "fork: \(SystemError("fork"))"
        case 0: break
        default: _exit(0)
        }
        let null = open("/dev/null", O_RDWR)
        if null >= 0 {
            dup2(null, STDIN_FILENO)
            dup2(null, STDOUT_FILENO)
            dup2(null, STDERR_FILENO)
            if null > 2 { close(null) }
        }
        return nil
    }
}

extension Descriptor {
    static func writeAllIgnoring(_ fd: Int32, _ text: String) {
        try? writeAll(fd, text)
    }
}
