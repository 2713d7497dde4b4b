import Glibc

/// A failed system call: its name and errno.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errno: Int32

    public init(_ call: String, errno: Int32 = Glibc.errno) {
        self.call = call
        self.errno = errno
    }

    public var description: String { "\(call): \(String(cString: strerror(errno))) (errno \(errno))" }
}

/// Runs a system call, retrying on EINTR, throwing `SystemError` on -1.
@discardableResult
@inline(__always)
public func syscall<T: FixedWidthInteger>(_ name: @autoclosure () -> String, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(name(), errno: code)
    }
}

/// File descriptor helpers.
public enum Descriptor {
    public static func setNonBlocking(_ fd: Int32, _ on: Bool = true) throws(SystemError) {
        let flags = try syscall("fcntl(F_GETFL)") { fcntl(fd, F_GETFL) }
        let updated = on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK
        if updated != flags { try syscall("fcntl(F_SETFL)") { fcntl(fd, F_SETFL, updated) } }
    }

    /// Turns off Nagle's algorithm on a TCP socket (responses go out as written); false when the
    /// socket is not TCP or refuses.
    @discardableResult
    public static func setNoDelay(_ fd: Int32) -> Bool {
        var one: Int32 = 1
        return setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    public static func setCloseOnExec(_ fd: Int32, _ on: Bool = true) throws(SystemError) {
        let flags = try syscall("fcntl(F_GETFD)") { fcntl(fd, F_GETFD) }
        let updated = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC
        if updated != flags { try syscall("fcntl(F_SETFD)") { fcntl(fd, F_SETFD, updated) } }
    }

    public static func isOpen(_ fd: Int32) -> Bool { fcntl(fd, F_GETFD) != -1 }

    /// Closes, ignoring errors (close must not be retried on EINTR on Linux).
    public static func close(_ fd: Int32) {
        if fd >= 0 { _ = Glibc.close(fd) }
    }

    /// Writes all of `bytes` to a blocking descriptor.
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = try syscall("write") { write(fd, bytes.baseAddress! + offset, bytes.count - offset) }
            offset += n
        }
    }

    public static func writeAll(_ fd: Int32, _ string: String) throws(SystemError) {
        let bytes = Array(string.utf8)
        do {
            try bytes.withUnsafeBytes { try writeAll(fd, $0) }
        } catch {
            throw error as! SystemError
        }
    }
}

extension String {
    /// Decodes a NUL-terminated C buffer.
    public init(nulTerminated buffer: [CChar]) {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        self = String(decoding: bytes, as: UTF8.self)
    }
}
