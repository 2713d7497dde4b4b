import Glibc
import Synchronization

/// A log destination: stderr, stdout or a file that can be reopened (USR1, logrotate).
public final class LogSink: Sendable {
    /// `-` for stdout, nil for stderr, otherwise a path.
    public let path: String?
    private let fd: Mutex<Int32>

    public init(path: String?) throws(SystemError) {
        self.path = path
        switch path {
        case nil: fd = Mutex(STDERR_FILENO)
        case "-": fd = Mutex(STDOUT_FILENO)
        case let path?: fd = Mutex(try Files.openForAppend(path))
        }
    }

    /// Writes one line (a single write call, so concurrent lines do not interleave).
    public func write(_ line: String) {
        var bytes = Array(line.utf8)
        if bytes.last != 10 { bytes.append(10) }
        fd.withLock { fd in
            bytes.withUnsafeBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 { return }
                    offset += n
                }
            }
        }
    }

    /// Reopens a file sink at its path (after the file was rotated away).
    public func reopen() throws(SystemError) {
        guard let path, path != "-" else { return }
        let new = try Files.openForAppend(path)
        let old = fd.withLock { fd in
            let old = fd
            fd = new
            return old
        }
        Descriptor.close(old)
    }

    /// The descriptor lines go to (for handing to children).
    public var descriptor: Int32 { fd.withLock { $0 } }
}

/// The error log: leveled lines in Gunicorn's format, `[time] [pid] [LEVEL] message`.
/// When stderr is the systemd journal (`JOURNAL_STREAM`), lines carry `<N>` priority prefixes and
/// the pid but no timestamp, since the journal adds its own.
public final class Logger: Sendable {
    public enum Level: Int, Sendable, CaseIterable, Comparable {
        case debug = 7, info = 6, warning = 4, error = 3, critical = 2

        public static func < (a: Level, b: Level) -> Bool { a.rawValue > b.rawValue }

        public var name: String {
            switch self {
            case .debug: "DEBUG"
            case .info: "INFO"
            case .warning: "WARNING"
            case .error: "ERROR"
            case .critical: "CRITICAL"
            }
        }

        public init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.name == name.uppercased() }) else { return nil }
            self = level
        }
    }

    /// `--log-format`: Gunicorn's text lines, or one JSON object per line (`Logger+JSON.swift`).
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public let sink: LogSink
    public let level: Level
    public let format: Format
    let journal: Bool

    public init(sink: LogSink, level: Level, format: Format = .text) {
        self.sink = sink
        self.level = level
        self.format = format
        journal = sink.path == nil && Logger.stderrIsJournal()
    }

    public func log(_ level: Level, _ message: @autoclosure () -> String) {
        WorkerCounters.add(WorkerCounters.Field.logLines(level))
        guard level >= self.level else { return }
        if format == .json {
            sink.write(jsonLine(level, message()))
        } else if journal {
            // The journal credits the whole inherited stream to the master: the pid names the worker.
            sink.write("<\(level.rawValue)>[\(getpid())] \(message())")
        } else {
            sink.write("[\(Clock.logTimestamp())] [\(getpid())] [\(level.name)] \(message())")
        }
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }
    public func critical(_ message: @autoclosure () -> String) { log(.critical, message()) }

    /// `JOURNAL_STREAM=dev:inode` names stderr when it is connected to the journal.
    static func stderrIsJournal() -> Bool {
        guard let stream = Environment.get("JOURNAL_STREAM") else { return false }
        var st = stat()
        guard fstat(STDERR_FILENO, &st) == 0 else { return false }
        return stream == "\(st.st_dev):\(st.st_ino)"
    }
}
