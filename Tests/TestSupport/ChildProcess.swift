import CArbiter
import Glibc
import Platform

/// Any command, with its output captured and a bounded wait (for building fixtures).
public final class ChildProcess: @unchecked Sendable {
    public let pid: Int32
    private let captured = Captured()

    public init(_ arguments: [String]) throws {
        var fds: [Int32] = [0, 0]
        try syscall("pipe2") { arbiter_pipe2(&fds, O_CLOEXEC) }
        pid = try ProcessControl.spawn(
            path: arguments[0], arguments: arguments, environment: Environment.all(),
            descriptors: [(fds[1], 1), (fds[1], 2)])
        Descriptor.close(fds[1])
        captured.collect(from: fds[0], closeWhenDone: true)
    }

    public var output: String { captured.bytes.withLock { String(decoding: $0, as: UTF8.self) } }

    /// The exit code, or nil (after killing it) when it runs past `timeout` seconds.
    public func wait(timeout: Double) -> Int32? {
        let deadline = Clock.monotonic() + timeout
        while Clock.monotonic() < deadline {
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                return arbiter_wifexited(status) != 0 ? arbiter_wexitstatus(status) : -1
            }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return nil
    }
}
