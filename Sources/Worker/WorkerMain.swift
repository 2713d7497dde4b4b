import AppLoader
import ArbiterABI
import CArbiter
import Configuration
import Glibc
import HTTP1
import Platform

/// Everything a worker class needs, set up once in the worker process.
struct WorkerContext {
    let settings: Settings
    let logger: Logger
    let accessLog: AccessLog?
    let app: LoadedApp
    let listeners: [(fd: Int32, name: SocketName?)]
    let control: ControlChannel
    let limits: Limits
}

/// The worker process's entry point.
public enum WorkerMain {
    /// Exit codes the master treats specially (Gunicorn's).
    public static let bootFailed: Int32 = 3
    public static let appLoadFailed: Int32 = 4

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
        let logger: Logger
        var accessLog: AccessLog?
        do {
            logger = Logger(sink: try LogSink(path: settings.errorLog), level: Logger.Level(name: settings.logLevel) ?? .info)
            if let path = settings.accessLog {
                accessLog = AccessLog(format: settings.accessLogFormat, sink: try LogSink(path: path))
            }
        } catch {
            Descriptor.writeAllIgnoringErrors(STDERR_FILENO, "arbiter worker: cannot open a log file: \(error)\n")
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
        let context = WorkerContext(
            settings: settings, logger: logger, accessLog: accessLog, app: app, listeners: listeners,
            control: ControlChannel(fd: WorkerLaunch.controlFD), limits: limits)
        switch settings.workerClass {
        case .sync:
            return SyncWorker(context: context).run()
        case .async:
            return AsyncWorker(context: context).run()
        }
    }
}

extension Descriptor {
    static func writeAllIgnoringErrors(_ fd: Int32, _ text: String) {
        try? writeAll(fd, text)
    }
}

/// The worker's line to the master: status lines out; end-of-file in means the master is gone.
struct ControlChannel {
    let fd: Int32

    func send(_ line: String) {
        Descriptor.writeAllIgnoringErrors(fd, line + "\n")
    }
}
