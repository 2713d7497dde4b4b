import Configuration
import Glibc
import Platform

extension Master {
    /// The directory arbiter started in, before `chdir` (set once at start, on the master's only
    /// thread): relative paths in the configuration are relative to it.
    nonisolated(unsafe) static var launchDirectory = "/"

    /// HUP: applies what lives in the master process itself (the environment `raw_env` sets, the
    /// process title, the umask, the listen queue length), and names each changed setting that only a restart applies. Everything else
    /// reaches the new workers through their settings; `bind` is handled by the reload itself.
    func applyReloadedSettings(from old: Settings, requested new: Settings) {
        applyProcessSettings(from: old, to: new)
        for warning in new.startupWarnings { logger.warning(warning) }
        let changed = Self.settingsNeedingRestart(old: old, new: new)
        if !changed.isEmpty {
            logger.warning("Setting(s) changed on reload but need a restart: \(changed.joined(separator: "; "))")
        }
    }

    /// Moves the master's environment, title, umask and backlog from `old` to `new` (also back, on
    /// a rollback).
    func applyProcessSettings(from old: Settings, to new: Settings) {
        let before = Self.environment(old.rawEnv)
        let after = Self.environment(new.rawEnv)
        for key in before.keys where after[key] == nil { unsetenv(key) }
        for (key, value) in after where before[key] != value { setenv(key, value, 1) }
        if old.displayName != new.displayName { ProcessControl.setTitle("arbiter: master [\(new.displayName)]") }
        // Workers inherit the master's mask.
        if old.umask != new.umask, let mask = new.fileModeMask { umask(mode_t(mask)) }
        // Listening sockets take a new queue length by listening again (systemd's keep theirs).
        if old.backlog != new.backlog {
            for listener in listeners where !listener.fromSystemd { listen(listener.fd, Int32(new.backlog)) }
        }
        baseEnvironment = Master.workerEnvironment()
    }

    /// `KEY=VALUE` entries as a dictionary (validated by the registry: each has a `=`).
    static func environment(_ entries: [String]) -> [String: String] {
        var out: [String: String] = [:]
        for entry in entries {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            out[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return out
    }

    /// Settings only read when the master starts, each with what it keeps meanwhile.
    static func settingsNeedingRestart(old: Settings, new: Settings) -> [String] {
        var out: [String] = []
        func check<T: Equatable>(_ name: String, _ keyPath: KeyPath<Settings, T>, _ consequence: String) {
            if old[keyPath: keyPath] != new[keyPath: keyPath] { out.append("\(name) (\(consequence))") }
        }
        let oldDirectory = canonical(old.chdir ?? launchDirectory)
        let newDirectory = canonical(new.chdir.map { Files.absolute($0, base: launchDirectory) } ?? launchDirectory)
        if oldDirectory != newDirectory { out.append("chdir (the master and new workers stay in \(oldDirectory))") }
        check("pidfile", \.pidfile, "the pid stays in the file it was written to")
        check("daemon", \.daemon, "the master stays as it started")
        check("preload_app", \.preloadApp, "it applies when the master starts")
        if old.umask != nil, new.umask == nil { out.append("umask (removed: the master keeps \(old.umask!))") }
        check("errorlog", \.errorLog, "the master keeps its log; new workers use the new one")
        check("loglevel", \.logLevel, "the master keeps its level; new workers use the new one")
        check("log_format", \.logFormat, "the master keeps its format; new workers use the new one")
        check("control_socket", \.controlSocket, "the master keeps the socket it opened at start")
        check("metrics_bind", \.metricsBind, "metrics stay where they are served now")
        check("statsd_host", \.statsdHost, "statsd lines keep going where they went")
        check("statsd_prefix", \.statsdPrefix, "statsd names keep their prefix")
        check("dogstatsd_tags", \.dogstatsdTags, "statsd lines keep their tags")
        return out
    }

    private static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
