import AppLoader
import Configuration
import Glibc
import Platform
import Supervision

extension WorkerMain {
    /// `arbiter --check-startup`, in the process the master started for it: load the application,
    /// run its lifespan hooks once (as a worker of the configured class would, but without
    /// sockets), and say how each went. Exits 0, 3 (a hook failed) or 4 (the load failed).
    public static func checkStartup(environment: [String: String]) -> Int32 {
        let settings: Settings
        do {
            settings = try Invocation.workerSettings(environment[WorkerLaunch.settingsVariable] ?? "")
        } catch {
            Descriptor.writeAllIgnoringErrors(STDERR_FILENO, "arbiter: bad settings from the master: \(error)\n")
            return bootFailed
        }
        let logger: Logger
        do {
            logger = Logger(sink: try LogSink(path: settings.errorLogDestination), level: Logger.Level(name: settings.logLevel) ?? .info, format: settings.logFormat)
        } catch {
            Descriptor.writeAllIgnoringErrors(STDERR_FILENO, "arbiter: cannot open the error log: \(error)\n")
            return bootFailed
        }
        let loaded: LoadedApp
        do {
            loaded = try Loader.load(settings.app ?? "", appPaths: settings.appPath)
        } catch {
            logger.error("The application failed to load: \(error)")
            return appLoadFailed
        }
        // Asynchronous hooks run on Swift's global executor here: there is no event loop to host them.
        let host = Host(workerClass: settings.workerClass.rawValue, logger: logger,
                        offload: ThreadPool(size: settings.offloadThreads, name: "offload"))
        let app = loaded.table.pointee
        let started = Clock.monotonic()
        if let error = Lifespan.run({ done, callback in app.startup(app.ctx, host.raw, done, callback) }) {
            logger.error("startup() of \(loaded.name) failed: \(error)")
            return bootFailed
        }
        logger.info("startup() of \(loaded.name) succeeded in \(milliseconds(since: started)) ms")
        if let notice = SynchronousCodeNotice(app: loaded, poolSize: settings.offloadThreads), settings.workerClass == .async {
            logger.warning(notice.text)
        }
        let stopping = Clock.monotonic()
        if let error = Lifespan.run({ done, callback in app.shutdown(app.ctx, done, callback) }) {
            logger.error("shutdown() of \(loaded.name) failed: \(error)")
            return bootFailed
        }
        logger.info("shutdown() of \(loaded.name) succeeded in \(milliseconds(since: stopping)) ms")
        return 0
    }

    private static func milliseconds(since start: Double) -> Int { Int((Clock.monotonic() - start) * 1000) }
}
