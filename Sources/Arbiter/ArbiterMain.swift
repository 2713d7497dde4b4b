import AppLoader
import Configuration
import Glibc
import Platform

/// `arbiter …` as a master: resolve settings, answer the informational options, or serve.
public enum ArbiterMain {
    public static let version = "0.1.0"

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
        case .checkConfig, .run:
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
            binds = try settings.bind.map { (text) throws(BindAddress.ParseError) in try BindAddress.parse(text) }
        } catch {
            return fail("bind: \(error)")
        }
        if let directory = settings.chdir {
            guard chdir(directory) == 0 else { return fail("chdir: cannot change to '\(directory)': \(SystemError("chdir"))") }
            settings.chdir = Files.currentDirectory()
        }
        // Workers resolve relative paths against the directory the master ran in.
        settings.appPath = settings.appPath.map { Files.absolute($0) }
        let logger: Logger
        do {
            logger = Logger(sink: try LogSink(path: settings.errorLog), level: Logger.Level(name: settings.logLevel) ?? .info)
        } catch {
            return fail("error log: \(error)")
        }
        if invocation.action == .checkConfig || settings.preloadApp {
            do {
                let loaded = try Loader.load(app, appPaths: settings.appPath)
                if invocation.action == .checkConfig {
                    print("arbiter: configuration OK; \(app) loads from \(loaded.path)")
                    return 0
                }
                logger.info("Preloaded application \(loaded.name) from \(loaded.path)")
            } catch {
                logger.error("App failed to load: \(error)")
                return 4
            }
        }
        return serve(settings: settings, binds: binds, logger: logger)
    }

    private static func serve(settings: Settings, binds: [BindAddress], logger: Logger) -> Int32 {
        SignalPipe.ignore(SIGPIPE)
        let signals: SignalPipe
        do {
            signals = try SignalPipe(signals: [SIGTERM, SIGINT, SIGQUIT, SIGCHLD, SIGHUP, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH])
        } catch {
            logger.critical("Cannot install signal handlers: \(error)")
            return 1
        }
        logger.info("Starting arbiter \(version)")
        var listeners: [Listener] = []
        for address in binds {
            do {
                let listener = try Listener.bind(address, backlog: Int32(settings.backlog))
                listeners.append(listener)
                logger.info("Listening at: \(listener.name) (\(ProcessControl.pid))")
            } catch {
                logger.error("Cannot listen at \(address): \(error)")
                listeners.forEach { Descriptor.close($0.fd) }
                return 1
            }
        }
        logger.info("Using worker: \(settings.workerClass.rawValue)")
        ProcessControl.setTitle("arbiter: master [\(settings.displayName)]")
        return Master(settings: settings, logger: logger, listeners: listeners, signals: signals).run()
    }

    private static func fail(_ message: String) -> Int32 {
        Descriptor.writeAllIgnoring(STDERR_FILENO, "arbiter: error: \(message)\n")
        return 1
    }
}

extension Descriptor {
    static func writeAllIgnoring(_ fd: Int32, _ text: String) {
        try? writeAll(fd, text)
    }
}
