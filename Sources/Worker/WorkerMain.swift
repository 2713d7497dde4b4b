import AppLoader
import ArbiterABI
import CArbiter
import Configuration
import Glibc
import HTTP1
import Platform
import Supervision

/// Everything a worker class needs, set up once in the worker process.
final class WorkerContext: @unchecked Sendable {
    let settings: Settings
    let logger: Logger
    let accessLog: AccessLog?
    let app: LoadedApp
    let listeners: [(fd: Int32, name: SocketName?)]
    /// Each listener's address (in `listeners`' order), shared by the connections it accepts.
    let listenerNames: [ListenerName]
    /// Whether a listener's connections need `TCP_NODELAY` set one by one (in `listeners`' order):
    /// not when the listener has it, since Linux gives every socket accepted from a listener the
    /// listener's `TCP_NODELAY`, and not on a Unix socket.
    let noDelayPerConnection: [Bool]
    /// The last peer accepted. Read and written by the accepting thread only (the loop thread).
    var peers = PeerCache()
    let control: ControlChannel
    let limits: Limits
    let heartbeat: Heartbeat
    /// Peers whose forwarding headers are believed.
    let forwardedTrust: TrustList
    /// Peers that must start with a PROXY protocol header (when `proxyProtocol` is not off).
    let proxyTrust: TrustList
    let proxyProtocol: ProxyProtocol.Version
    /// The shared scoreboard and this worker's slot on it (nil when the master has none).
    let scoreboard: (page: Scoreboard, index: Int)?
    /// Requests after which this worker asks to be recycled (`max_requests` plus jitter), or nil.
    let requestLimit: Int?
    /// The HTTP/1 connection rules' settings as connections share them: for a peer that owes a
    /// PROXY protocol header (nil when none does), and for every other.
    let owingProxyHeader: ConnectionStateMachine.SharedConfiguration?
    let owingNothing: ConnectionStateMachine.SharedConfiguration
    /// TLS, when configured: set once at boot, before the event loop starts.
    var tls: WorkerTLS?

    init(settings: Settings, logger: Logger, accessLog: AccessLog?, app: LoadedApp, listeners: [(fd: Int32, name: SocketName?)],
         control: ControlChannel, limits: Limits, heartbeat: Heartbeat, forwardedTrust: TrustList, proxyTrust: TrustList,
         proxyProtocol: ProxyProtocol.Version, scoreboard: (page: Scoreboard, index: Int)?, requestLimit: Int?) {
        self.settings = settings
        self.logger = logger
        self.accessLog = accessLog
        self.app = app
        self.listeners = listeners
        listenerNames = listeners.map { ListenerName($0.name) }
        noDelayPerConnection = listeners.map { !($0.name?.isUnix ?? false) && !Descriptor.setNoDelay($0.fd) }
        self.control = control
        self.limits = limits
        self.heartbeat = heartbeat
        self.forwardedTrust = forwardedTrust
        self.proxyTrust = proxyTrust
        self.proxyProtocol = proxyProtocol
        self.scoreboard = scoreboard
        self.requestLimit = requestLimit
        let configuration = ConnectionStateMachine.Configuration(
            limits: limits, keepAlive: settings.keepalive, headerTimeout: settings.headerTimeout, bodyTimeout: settings.bodyTimeout,
            proxyProtocol: proxyProtocol, keepResponseHeaders: accessLog?.namesResponseHeaders ?? false)
        owingProxyHeader = proxyProtocol == .off ? nil : ConnectionStateMachine.SharedConfiguration(configuration)
        var plain = configuration
        plain.proxyProtocol = .off
        owingNothing = ConnectionStateMachine.SharedConfiguration(plain)
    }
}

/// The worker process's entry point.
public enum WorkerMain {
    /// Signals a worker handles: TERM stops gracefully, INT and QUIT at once, USR1 reopens logs.
    static let signals = [SIGTERM, SIGINT, SIGQUIT, SIGUSR1]

    /// The reserved exit codes of the master↔worker contract, under the names the worker uses.
    static let bootFailed = WorkerExit.bootFailed.code
    static let appLoadFailed = WorkerExit.appLoadFailed.code

    public static func run(environment: [String: String]) -> Int32 {
        SignalPipe.ignore(SIGPIPE)
        let settings: Settings
        do {
            settings = try Invocation.workerSettings(environment[WorkerLaunch.settingsVariable] ?? "")
        } catch {
            Descriptor.writeAllIgnoringErrors(STDERR_FILENO, "arbiter worker: bad settings from the master: \(error)\n")
            return bootFailed
        }
        ProcessControl.setTitle("arbiter: worker [\(settings.displayName)]")
        let control = ControlChannel(fd: WorkerLaunch.controlFD)
        // Keys and certificates are read before dropping privileges (they are often root's only).
        let tls = Result { () throws(WorkerTLS.Failure) in try WorkerTLS.make(settings: settings, environment: environment, control: control) }
        if let problem = Credentials.switchTo(user: settings.user, group: settings.group) {
            Descriptor.writeAllIgnoringErrors(STDERR_FILENO, "arbiter worker: \(problem)\n")
            return bootFailed
        }
        let logger: Logger
        var accessLog: AccessLog?
        do {
            logger = Logger(sink: try LogSink(path: settings.errorLogDestination), level: Logger.Level(name: settings.logLevel) ?? .info, format: settings.logFormat)
            if let path = settings.accessLog {
                accessLog = AccessLog(
                    format: settings.accessLogFormat, sink: try LogSink(path: path), style: settings.logFormat,
                    slot: environment[WorkerLaunch.slotVariable].flatMap { Int($0) } ?? 0)
            }
        } catch {
            Descriptor.writeAllIgnoringErrors(STDERR_FILENO, "arbiter worker: cannot open a log file: \(error)\n")
            return bootFailed
        }
        if case .failure(let failure) = tls {
            logger.error("Worker cannot serve TLS: \(failure.message)")
            return bootFailed
        }
        let app: LoadedApp
        do {
            app = try Loader.load(settings.app ?? "", appPaths: settings.appPath)
        } catch {
            logger.error("Worker failed to load the application: \(error)")
            return appLoadFailed
        }
        let count = Int32(environment[WorkerLaunch.listenerCountVariable].flatMap { Int32($0) } ?? 0)
        let listeners = (0..<count).map { i -> (fd: Int32, name: SocketName?) in
            let fd = WorkerLaunch.firstListenerFD + i
            return (fd, SocketName.local(fd))
        }
        let limits = Limits(
            requestLine: settings.limitRequestLine, fields: settings.limitRequestFields,
            fieldSize: settings.limitRequestFieldSize, body: Int64(settings.limitRequestBody),
            underscoreHeaders: {
                switch settings.headerMap {
                case .drop: .drop
                case .refuse: .refuse
                case .dangerous: .allow
                }
            }())
        let heartbeat: Heartbeat
        do {
            let size = environment[WorkerLaunch.heartbeatSizeVariable].flatMap { Int($0) } ?? Heartbeat.size(slots: 1)
            heartbeat = try Heartbeat.map(fd: WorkerLaunch.heartbeatFD, size: size)
        } catch {
            logger.critical("Worker cannot map its heartbeat page: \(error)")
            return bootFailed
        }
        Self.installCounters(environment)
        let requestLimit = settings.maxRequests > 0
            ? settings.maxRequests + (settings.maxRequestsJitter > 0 ? Int.random(in: 0...settings.maxRequestsJitter) : 0)
            : nil
        let context = WorkerContext(
            settings: settings, logger: logger, accessLog: accessLog, app: app, listeners: listeners,
            control: control, limits: limits, heartbeat: heartbeat,
            forwardedTrust: (try? TrustList(parsing: settings.forwardedAllowIPs)) ?? TrustList.none,
            proxyTrust: (try? TrustList(parsing: settings.proxyAllowIPs)) ?? TrustList.none,
            proxyProtocol: ProxyProtocol.Version(rawValue: settings.proxyProtocol.rawValue) ?? .off,
            scoreboard: Self.scoreboard(environment),
            requestLimit: requestLimit)
        context.tls = try? tls.get()
        switch settings.workerClass {
        case .sync:
            return SyncWorker(context: context).run()
        case .async:
            return AsyncWorker(context: context).run()
        }
    }
}

extension WorkerMain {
    static func scoreboard(_ environment: [String: String]) -> (page: Scoreboard, index: Int)? {
        guard let index = environment[WorkerLaunch.scoreboardIndexVariable].flatMap({ Int($0) }), index >= 0,
              let page = try? Scoreboard.map(fd: WorkerLaunch.scoreboardFD)
        else { return nil }
        return (page, index)
    }
}

extension WorkerMain {
    /// Maps the counters page the master made for this worker and counts into it (stripe 1 is the
    /// calling thread's: it runs the event loop).
    static func installCounters(_ environment: [String: String]) {
        guard let text = environment[WorkerLaunch.countersVariable] else { return }
        let parts = text.split(separator: ":")
        guard parts.count == 2, let fd = Int32(parts[0]), let size = Int(parts[1]),
              let counters = try? WorkerCounters.map(fd: fd, size: size)
        else { return }
        Descriptor.close(fd)
        counters.install()
        WorkerCounters.adopt(stripe: 1)
    }
}

extension Descriptor {
    static func writeAllIgnoringErrors(_ fd: Int32, _ text: String) {
        try? writeAll(fd, text)
    }
}

/// The worker's end of its control socket: `WorkerMessage`s out, `MasterMessage`s in; end-of-file
/// in means the master is gone.
///
/// `send` may be called from any thread (one short write per message); `reader` belongs to the
/// thread that runs the worker's event loop.
final class ControlChannel: @unchecked Sendable {
    let fd: Int32
    var reader = ControlReader<MasterMessage>()

    init(fd: Int32) {
        self.fd = fd
    }

    func send(_ message: WorkerMessage) {
        message.encoded.withUnsafeBytes { _ = try? Descriptor.writeAll(fd, $0) }
    }
}

extension TrustList {
    /// Trusts nobody (settings are validated before a worker starts, so this is a fallback only).
    static var none: TrustList { try! TrustList(parsing: "") }
}

/// `--user` / `--group`: the worker drops to them before it loads the application.
enum Credentials {
    static func switchTo(user: String?, group: String?) -> String? {
        let identity: WorkerIdentity
        switch WorkerIdentity.resolve(user: user, group: group) {
        case .success(let resolved?): identity = resolved
        case .success(nil): return nil
        case .failure(let problem): return problem.description
        }
        if group != nil && setgroups(0, nil) != 0 && getuid() == 0 { return "setgroups: \(SystemError("setgroups"))" }
        if setgid(identity.gid) != 0 { return "setgid(\(identity.gid)): \(SystemError("setgid"))" }
        if user != nil && setuid(identity.uid) != 0 { return "setuid(\(identity.uid)): \(SystemError("setuid"))" }
        return nil
    }
}
