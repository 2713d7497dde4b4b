import CArbiter
import Glibc

/// A listening socket the master owns and hands to its workers.
public struct Listener: Sendable, Equatable {
    public let fd: Int32
    public let address: BindAddress
    /// How it is shown in logs: `http://127.0.0.1:8000` or `unix:/run/app.sock`.
    public let name: String
    /// The master created this unix socket file (and may remove it); false for inherited sockets.
    public let ownsPath: Bool
    /// Passed by systemd socket activation: kept across reloads and upgrades whatever `bind` says.
    public let fromSystemd: Bool

    public init(fd: Int32, address: BindAddress, name: String, ownsPath: Bool = false, fromSystemd: Bool = false) {
        self.fd = fd
        self.address = address
        self.name = name
        self.ownsPath = ownsPath
        self.fromSystemd = fromSystemd
    }

    /// Binds and listens. Descriptors are close-on-exec; the spawner maps them into workers.
    public static func bind(_ address: BindAddress, backlog: Int32) throws -> Listener {
        switch address {
        case .fd(let fd):
            return try adopt(fd: fd, as: address)
        case .unix(let path):
            let fd = try syscall("socket(AF_UNIX)") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0) }
            do {
                var addr = sockaddr_un()
                addr.sun_family = sa_family_t(AF_UNIX)
                let bytes = Array(path.utf8)
                guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else {
                    throw SystemError("bind(unix:\(path)): path too long", errno: ENAMETOOLONG)
                }
                withUnsafeMutableBytes(of: &addr.sun_path) { raw in
                    raw.copyBytes(from: bytes)
                    raw[bytes.count] = 0
                }
                // A stale socket file from a previous run would make bind fail with EADDRINUSE; a
                // live one (another server answers on it) is left alone and bind reports the clash.
                if isStaleUnixSocket(path), !isLive(addr) { unlink(path) }
                _ = try withUnsafePointer(to: &addr) { p in
                    try p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                        try syscall("bind(unix:\(path))") { Glibc.bind(fd, sa, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                    }
                }
                try syscall("listen(unix:\(path))") { listen(fd, backlog) }
                return Listener(fd: fd, address: address, name: "unix:\(path)", ownsPath: true)
            } catch {
                Descriptor.close(fd)
                throw error
            }
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_family = AF_UNSPEC
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
            var list: UnsafeMutablePointer<addrinfo>?
            let rc = getaddrinfo(host, String(port), &hints, &list)
            guard rc == 0, let first = list else {
                throw AddressProblem(description: "cannot resolve host '\(host)': \(String(cString: gai_strerror(rc)))")
            }
            defer { freeaddrinfo(list) }
            var lastError: Error = SystemError("bind(\(address))", errno: EADDRNOTAVAIL)
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let info = entry {
                entry = info.pointee.ai_next
                do {
                    let fd = try syscall("socket") {
                        socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
                    }
                    do {
                        var one: Int32 = 1
                        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                        if info.pointee.ai_family == AF_INET6 {
                            setsockopt(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, &one, socklen_t(MemoryLayout<Int32>.size))
                        }
                        try syscall("bind(\(address))") { Glibc.bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) }
                        try syscall("listen(\(address))") { listen(fd, backlog) }
                        let local = SocketName.local(fd)
                        return Listener(fd: fd, address: address, name: "http://\(local.map { $0.display } ?? address.description)")
                    } catch {
                        Descriptor.close(fd)
                        throw error
                    }
                } catch {
                    lastError = error
                }
            }
            throw lastError
        }
    }

    /// Takes over an inherited listening socket (`fd://N`, systemd, an upgrading master).
    public static func adopt(fd: Int32, as address: BindAddress, fromSystemd: Bool = false) throws -> Listener {
        guard fcntl(fd, F_GETFD) >= 0 else {
            throw AddressProblem(description: "descriptor \(fd) is not open in this process (fd://N names a listening socket arbiter inherited from its parent)")
        }
        var accepting: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        try syscall("getsockopt(fd \(fd))") { getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) }
        guard accepting != 0 else { throw SystemError("fd://\(fd) is not a listening socket", errno: EINVAL) }
        try Descriptor.setCloseOnExec(fd)
        let name = SocketName.local(fd).map { $0.isUnix ? "unix:\($0.host)" : "http://\($0.display)" } ?? "fd://\(fd)"
        return Listener(fd: fd, address: address, name: name, fromSystemd: fromSystemd)
    }

    private static func isLive(_ address: sockaddr_un) -> Bool {
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return false }
        defer { Descriptor.close(probe) }
        var addr = address
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) == 0 }
        }
    }

    private static func isStaleUnixSocket(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }
}

/// A socket address as text.
public struct SocketName: Sendable, Equatable {
    public let host: String
    public let port: UInt16
    public let isUnix: Bool

    public init(host: String, port: UInt16, isUnix: Bool) {
        self.host = host
        self.port = port
        self.isUnix = isUnix
    }

    public var display: String {
        isUnix ? host : (host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)")
    }

    public static func local(_ fd: Int32) -> SocketName? {
        var storage = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return rc == 0 ? from(&storage) : nil
    }

    /// An address as `inet_ntop` writes it, through a buffer on the stack.
    private static func text(_ family: Int32, _ address: UnsafeRawPointer, _ capacity: Int) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
            guard inet_ntop(family, address, buffer.baseAddress, socklen_t(capacity)) != nil else { return "" }
            return String(cString: buffer.baseAddress!)
        }
    }

    public static func from(_ storage: UnsafePointer<sockaddr_storage>) -> SocketName? {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            return storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                var addr = sin.pointee.sin_addr
                return SocketName(host: text(AF_INET, &addr, Int(INET_ADDRSTRLEN)), port: UInt16(bigEndian: sin.pointee.sin_port), isUnix: false)
            }
        case AF_INET6:
            return storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                var addr = sin.pointee.sin6_addr
                return SocketName(host: text(AF_INET6, &addr, Int(INET6_ADDRSTRLEN)), port: UInt16(bigEndian: sin.pointee.sin6_port), isUnix: false)
            }
        case AF_UNIX:
            return storage.withMemoryRebound(to: sockaddr_un.self, capacity: 1) { sun in
                let path = withUnsafeBytes(of: sun.pointee.sun_path) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                return SocketName(host: path, port: 0, isUnix: true)
            }
        default:
            return nil
        }
    }
}

/// A listener that cannot be had for a reason that is not one system call's errno (a host name
/// that does not resolve, a descriptor that was never passed).
public struct AddressProblem: Error, CustomStringConvertible, Sendable {
    public let description: String
}
