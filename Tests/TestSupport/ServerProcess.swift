import CArbiter
import Glibc
import Platform
import Synchronization

/// Where the built products are: beside the running test bundle (`.build/<triple>/debug`).
public enum Products {
    public static var directory: String {
        let exe = ProcessControl.executablePath()
        var parts = exe.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast()
        var dir = parts.joined(separator: "/")
        // The test bundle may be a directory (`…/arbiterPackageTests.xctest`) on some layouts.
        if dir.hasSuffix(".xctest") { dir = String(dir.split(separator: "/").dropLast().joined(separator: "/")) }
        return dir.hasPrefix("/") ? dir : "/" + dir
    }

    public static var arbiter: String { directory + "/arbiter" }

    /// The package root (for fixtures and docs).
    public static var packageRoot: String {
        var path = #filePath.split(separator: "/").map(String.init)
        path.removeLast(3)  // Tests/TestSupport/ServerProcess.swift
        return "/" + path.joined(separator: "/")
    }
}

/// A listening socket bound by the test on an ephemeral loopback port, handed to arbiter as `fd://N`.
public struct TestListener {
    public let fd: Int32
    public let port: UInt16

    public static func make() throws -> TestListener {
        let fd = try syscall("socket") { socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        _ = try withUnsafePointer(to: &addr) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try syscall("bind") { bind(fd, sa, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        try syscall("listen") { listen(fd, 512) }
        guard let name = SocketName.local(fd) else { throw SystemError("getsockname") }
        return TestListener(fd: fd, port: name.port)
    }
}

/// The real `arbiter` binary, started by a test. Its stderr is captured; every process it started is
/// killed when the test ends (`stop()`), and all waits are bounded.
public final class ServerProcess: @unchecked Sendable {
    public let pid: Int32
    public let port: UInt16
    private let output = Captured()
    private let readFD: Int32
    private let listenerFD: Int32
    /// More listeners the test bound, passed as descriptors 4, 5, … (`fd://4`): `extraListeners`.
    public let extraListeners: [TestListener]
    private let exitStatus = Mutex<Int32?>(nil)
    private var reaped = false

    /// Starts `arbiter ARGS… -b fd://3` with a fresh listener as descriptor 3, in the directory of the
    /// products under test (so `hello:application` is this build's `libhello.so`, whatever other
    /// builds lie around).
    /// - Parameter launcher: a command that runs arbiter (e.g. `systemd-socket-activate -l PATH`);
    ///   then the test's listener is not passed, and `pid` is the launcher's (which execs arbiter).
    /// - Parameter journal: set `JOURNAL_STREAM` to the captured stderr, as systemd does when stderr
    ///   is the journal.
    /// - Parameter fileLimit: run arbiter under this `RLIMIT_NOFILE` (set by `sh -c 'ulimit -n N'`,
    ///   which then execs arbiter, so `pid` is arbiter's and the listener is passed as usual).
    /// - Parameter extraListeners: how many more listeners to bind and pass as descriptors 4, 5, …
    ///   (e.g. for `--metrics-bind fd://4`).
    public init(_ arguments: [String], environment: [String: String] = [:], bindListener: Bool = true, launcher: [String] = [],
                journal: Bool = false, fileLimit: Int? = nil, extraListeners: Int = 0) throws {
        let listener = try TestListener.make()
        self.extraListeners = try (0..<extraListeners).map { _ in try TestListener.make() }
        listenerFD = listener.fd
        port = listener.port
        var pipeFDs: [Int32] = [0, 0]
        try syscall("pipe2") { arbiter_pipe2(&pipeFDs, O_CLOEXEC) }
        readFD = pipeFDs[0]
        var env = Environment.all().filter {
            !$0.hasPrefix("ARBITER_") && !$0.hasPrefix("PORT=") && !$0.hasPrefix("WEB_CONCURRENCY=") && !$0.hasPrefix("JOURNAL_STREAM=")
        }
        for (key, value) in environment { env.append("\(key)=\(value)") }
        if journal {
            var st = stat()
            fstat(pipeFDs[1], &st)
            env.append("JOURNAL_STREAM=\(st.st_dev):\(st.st_ino)")
        }
        let bind = bindListener && launcher.isEmpty
        let shell = fileLimit.map { ["/bin/sh", "-c", "ulimit -n \($0) && exec \"$0\" \"$@\""] } ?? []
        let launch = launcher.isEmpty ? shell : launcher
        let args = launch + [launch.isEmpty ? "arbiter" : Products.arbiter, "--chdir", Products.directory] + arguments
            + (bind ? ["-b", "fd://3"] : [])
        pid = try ProcessControl.spawn(
            path: launch.first ?? Products.arbiter, arguments: args, environment: env,
            descriptors: [(pipeFDs[1], Int32(1)), (pipeFDs[1], Int32(2))] + (bind ? [(listener.fd, Int32(3))] : [])
                + self.extraListeners.enumerated().map { ($0.element.fd, Int32(4 + $0.offset)) })
        Descriptor.close(pipeFDs[1])
        output.collect(from: readFD)
    }

    deinit { stop() }

    /// Everything the server wrote to stdout and stderr so far.
    public var log: String { output.bytes.withLock { String(decoding: $0, as: UTF8.self) } }

    /// Waits until the log contains `text` (a readiness signal), at most `timeout` seconds.
    @discardableResult
    public func waitForLog(_ text: String, count: Int = 1, timeout: Double = 30) throws -> String {
        let deadline = Clock.monotonic() + timeout
        while Clock.monotonic() < deadline {
            let current = log
            if current.occurrences(of: text) >= count { return current }
            if hasExited { break }
            usleep(10_000)
        }
        throw TestFailure("timed out waiting for '\(text)' (×\(count)) in the server log:\n\(log)")
    }

    /// Waits for the `Ready` line the master prints once every worker serves.
    public func waitUntilReady(timeout: Double = 60) throws {
        try waitForLog("Ready:", timeout: timeout)
    }

    public var hasExited: Bool {
        if exitStatus.withLock({ $0 }) != nil { return true }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid {
            exitStatus.withLock { $0 = status }
            return true
        }
        return false
    }

    /// The exit code once the master has exited, waiting at most `timeout` seconds (nil if it has not).
    public func waitForExit(timeout: Double = 30) -> Int32? {
        let deadline = Clock.monotonic() + timeout
        while Clock.monotonic() < deadline {
            if hasExited, let status = exitStatus.withLock({ $0 }) {
                // Let the reader take in the last lines (workers may hold the pipe a moment longer).
                let outputDeadline = Clock.monotonic() + 5
                while !output.ended.load(ordering: .acquiring) && Clock.monotonic() < outputDeadline { usleep(5_000) }
                return arbiter_wifexited(status) != 0 ? arbiter_wexitstatus(status) : 128 + arbiter_wtermsig(status)
            }
            usleep(10_000)
        }
        return nil
    }

    public func signal(_ signo: Int32) {
        kill(pid, signo)
    }

    /// Pids of the worker processes (children of the master).
    public var workerPids: [Int32] { ProcessTree.children(of: pid) }

    /// Kills the master and everything below it.
    public func stop() {
        guard !reaped else { return }
        reaped = true
        let all = ProcessTree.descendants(of: pid)
        kill(pid, SIGKILL)
        for child in all { kill(child, SIGKILL) }
        _ = waitForExit(timeout: 5)
        Descriptor.close(listenerFD)
        for extra in extraListeners { Descriptor.close(extra.fd) }
    }
}

/// Output captured from a child process by a reader thread.
final class Captured: Sendable {
    let bytes = Mutex<[UInt8]>([])
    /// Every writer closed the pipe: the output is complete.
    let ended = Atomic<Bool>(false)

    /// Reads `fd` on a thread of its own until every writer has closed it.
    func collect(from fd: Int32, closeWhenDone: Bool = false) {
        Thread.start { [self] in
            var chunk = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                bytes.withLock { $0.append(contentsOf: chunk[0..<n]) }
            }
            if closeWhenDone { Descriptor.close(fd) }
            ended.store(true, ordering: .releasing)
        }
    }
}

public struct TestFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension String {
    public func occurrences(of needle: String) -> Int {
        guard !needle.isEmpty else { return 0 }
        var count = 0
        var rest = Substring(self)
        while let range = rest.firstRange(of: needle) {
            count += 1
            rest = rest[range.upperBound...]
        }
        return count
    }
}

/// Reads /proc to find a process's children.
public enum ProcessTree {
    public static func children(of parent: Int32) -> [Int32] {
        guard let dir = opendir("/proc") else { return [] }
        defer { closedir(dir) }
        var out: [Int32] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let pid = Int32(name), let stat = try? Files.readString("/proc/\(pid)/stat"),
                  let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == parent { out.append(pid) }
        }
        return out.sorted()
    }

    public static func descendants(of parent: Int32) -> [Int32] {
        var out: [Int32] = []
        var queue = [parent]
        while let next = queue.popLast() {
            let kids = children(of: next)
            out += kids
            queue += kids
        }
        return out
    }
}

/// A detached thread for the test harness.
public enum Thread {
    public static func start(_ body: @escaping @Sendable () -> Void) {
        final class Box {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        pthread_create(&thread, nil, { raw in
            Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, context)
        pthread_detach(thread)
    }
}

/// A temporary directory for one test, removed with its files by `remove()`.
public struct TemporaryDirectory {
    public let path: String

    public init() throws {
        var template = Array("/tmp/arbiter-test-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw SystemError("mkdtemp")
        }
        path = String(cString: made)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public func write(_ name: String, _ text: String) throws {
        try write(name, Array(text.utf8))
    }

    public func write(_ name: String, _ bytes: [UInt8]) throws {
        // Written beside and renamed into place, as a deploy does: readers never see half a file.
        let temporary = file(".\(name).tmp")
        let fd = try syscall("open") { open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755) }
        try bytes.withUnsafeBytes { try Descriptor.writeAll(fd, $0) }
        Descriptor.close(fd)
        try syscall("rename") { rename(temporary, file(name)) }
    }

    public func copy(_ source: String, to name: String) throws {
        try write(name, try Files.read(source))
    }

    public func remove() {
        if let dir = opendir(path) {
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if name != "." && name != ".." { unlink(file(name)) }
            }
            closedir(dir)
        }
        rmdir(path)
    }
}

/// Kills a process and everything below it (for processes a test did not start itself).
public func killTree(_ pid: Int32) {
    let all = ProcessTree.descendants(of: pid)
    kill(pid, SIGKILL)
    for child in all { kill(child, SIGKILL) }
}

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
public final class NotifySocket {
    public let path: String
    private let fd: Int32

    public init(path: String) throws {
        self.path = path
        fd = try syscall("socket") { socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        _ = try withUnsafePointer(to: &addr) { p in
            try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                try syscall("bind") { bind(fd, sa, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
    }

    deinit {
        Descriptor.close(fd)
        unlink(path)
    }

    /// The next message, waiting at most `timeout` seconds.
    public func receive(timeout: Double = 30) throws -> String {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { throw TestFailure("no notification within \(timeout) s") }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard n >= 0 else { throw SystemError("recv") }
        return String(decoding: buffer[0..<n], as: UTF8.self)
    }

    /// Receives until a message containing `text` arrives; returns every message seen.
    public func receive(until text: String, timeout: Double = 30) throws -> [String] {
        let deadline = Clock.monotonic() + timeout
        var seen: [String] = []
        while Clock.monotonic() < deadline {
            let message = try receive(timeout: max(0.01, deadline - Clock.monotonic()))
            seen.append(message)
            if message.contains(text) { return seen }
        }
        throw TestFailure("no notification with '\(text)' within \(timeout) s; got \(seen)")
    }
}
