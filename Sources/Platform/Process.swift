import CArbiter
import Glibc

/// Process-level helpers: spawning, titles, signals.
public enum ProcessControl {
    /// Starts `path` with `arguments` (argv[0] included) and `environment`, mapping each
    /// `(from, to)` descriptor pair into the child. Returns the child's pid.
    public static func spawn(path: String, arguments: [String], environment: [String], descriptors: [(from: Int32, to: Int32)]) throws(SystemError) -> pid_t {
        var pid: pid_t = 0
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let from = descriptors.map(\.from)
        let to = descriptors.map(\.to)
        let rc = arbiter_spawn(&pid, path, argv, envp, from, to, Int32(descriptors.count))
        if rc != 0 { throw SystemError("posix_spawn(\(path))", errno: rc) }
        return pid
    }

    /// The running executable, as a path another process can exec.
    public static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(nulTerminated: buffer) : CommandLine.arguments[0]
    }

    public static func setTitle(_ title: String) {
        arbiter_set_process_title(CommandLine.argc, CommandLine.unsafeArgv, title)
    }

    public static var pid: Int32 { getpid() }

    /// How a child ended, in words for the log.
    public static func describe(status: Int32) -> String {
        if arbiter_wifexited(status) != 0 { return "exited with code \(arbiter_wexitstatus(status))" }
        if arbiter_wifsignaled(status) != 0 {
            let signo = arbiter_wtermsig(status)
            return "was killed by signal \(signo) (\(Signal.name(signo)))"
        }
        return "ended (status \(status))"
    }

    public static func exitCode(status: Int32) -> Int32? {
        arbiter_wifexited(status) != 0 ? arbiter_wexitstatus(status) : nil
    }
}

/// Signal numbers and names.
public enum Signal {
    public static func name(_ signo: Int32) -> String {
        switch signo {
        case SIGHUP: "SIGHUP"
        case SIGINT: "SIGINT"
        case SIGQUIT: "SIGQUIT"
        case SIGILL: "SIGILL"
        case SIGABRT: "SIGABRT"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGKILL: "SIGKILL"
        case SIGUSR1: "SIGUSR1"
        case SIGSEGV: "SIGSEGV"
        case SIGUSR2: "SIGUSR2"
        case SIGPIPE: "SIGPIPE"
        case SIGALRM: "SIGALRM"
        case SIGTERM: "SIGTERM"
        case SIGCHLD: "SIGCHLD"
        case SIGTTIN: "SIGTTIN"
        case SIGTTOU: "SIGTTOU"
        case SIGWINCH: "SIGWINCH"
        case SIGTRAP: "SIGTRAP"
        default: "signal \(signo)"
        }
    }

    /// Makes a fatal signal (SEGV, BUS, ILL, FPE, ABRT, TRAP) sent by another process end this one,
    /// after Swift's runtime printed its backtrace: the runtime's handler returns from a signal that
    /// was not a fault, and a worker sent `kill -ABRT` would carry on serving. Faults and the
    /// process's own `abort()` reach the runtime's handler as before. Call once, early.
    public static func endOnSentFatalSignals() { arbiter_end_on_sent_fatal_signals() }
}

/// A self-pipe that signal handlers write signal numbers into (no logging or allocation in handlers).
public final class SignalPipe {
    public let readFD: Int32
    private let writeFD: Int32

    public init(signals: [Int32]) throws(SystemError) {
        var fds: [Int32] = [0, 0]
        try syscall("pipe2") { arbiter_pipe2(&fds, O_NONBLOCK | O_CLOEXEC) }
        readFD = fds[0]
        writeFD = fds[1]
        for signo in signals {
            try syscall("sigaction(\(Signal.name(signo)))") { arbiter_route_signal(signo, writeFD) }
        }
    }

    /// Signals received since the last call, in order (duplicates kept).
    public func drain() -> [Int32] {
        var out: [Int32] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n].map { Int32($0) })
        }
        return out
    }

    public static func ignore(_ signo: Int32) { _ = arbiter_ignore_signal(signo) }
    public static func restoreDefault(_ signo: Int32) { _ = arbiter_default_signal(signo) }
}
