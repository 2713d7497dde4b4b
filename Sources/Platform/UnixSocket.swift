import CArbiter
import Glibc

/// Helpers for local (AF_UNIX) stream sockets: addresses, connecting, and who is on the other end.
public enum UnixSocket {
    /// The peer's credentials as the kernel recorded them at connect (SO_PEERCRED, unix(7)).
    public struct Credentials: Sendable, Equatable {
        public let pid: Int32
        public let uid: UInt32
        public let gid: UInt32
    }

    /// `path` as a socket address; nil when it does not fit `sun_path`.
    public static func address(_ path: String) -> sockaddr_un? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return addr
    }

    /// A new close-on-exec stream socket.
    public static func socket() throws(SystemError) -> Int32 {
        try syscall("socket(AF_UNIX)") { Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
    }

    /// Binds `fd` to `path`.
    public static func bind(_ fd: Int32, path: String) throws(SystemError) {
        guard var addr = address(path) else { throw SystemError("bind(unix:\(path)): path too long", errno: ENAMETOOLONG) }
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 { throw SystemError("bind(unix:\(path))") }
    }

    /// Connects a new (blocking) socket to `path`.
    public static func connect(path: String) throws(SystemError) -> Int32 {
        guard var addr = address(path) else { throw SystemError("connect(unix:\(path)): path too long", errno: ENAMETOOLONG) }
        let fd = try socket()
        let rc = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if rc != 0 {
            let error = SystemError("connect(unix:\(path))")
            Descriptor.close(fd)
            throw error
        }
        return fd
    }

    /// True when a server accepts connections at `path`.
    public static func isLive(_ path: String) -> Bool {
        guard let fd = try? connect(path: path) else { return false }
        Descriptor.close(fd)
        return true
    }

    /// Who connected `fd` (SO_PEERCRED: pid, uid and gid of the peer when it called connect).
    public static func peer(_ fd: Int32) -> Credentials? {
        // struct ucred is three 32-bit fields: pid_t, uid_t, gid_t.
        var raw: (Int32, UInt32, UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: raw))
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &raw, &length) == 0, Int(length) == MemoryLayout.size(ofValue: raw) else {
            return nil
        }
        return Credentials(pid: raw.0, uid: raw.1, gid: raw.2)
    }
}
