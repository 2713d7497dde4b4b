import CArbiter
import Glibc

/// The systemd notification protocol (sd_notify), spoken directly: datagrams to `NOTIFY_SOCKET`.
public struct SystemdNotifier: Sendable {
    public let path: String

    /// nil when not started by systemd (no `NOTIFY_SOCKET`).
    public static func fromEnvironment(_ environment: [String: String]) -> SystemdNotifier? {
        guard let path = environment["NOTIFY_SOCKET"], path.hasPrefix("/") || path.hasPrefix("@") else { return nil }
        return SystemdNotifier(path: path)
    }

    /// Sends `KEY=VALUE` lines; errors are ignored (systemd may be gone).
    public func send(_ message: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        let abstract = bytes.first == UInt8(ascii: "@")
        if abstract { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return }
        withUnsafeMutableBytes(of: &addr.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract ? 0 : 1))
        let payload = Array(message.utf8)
        _ = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                payload.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
    }
}

/// The watchdog systemd asks for (`WATCHDOG_USEC`, for this process if `WATCHDOG_PID` says so).
public enum SystemdWatchdog {
    /// The ping interval in seconds (half the timeout), or nil.
    public static func interval(_ environment: [String: String]) -> Double? {
        guard let text = environment["WATCHDOG_USEC"], let usec = Double(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"].flatMap(Int32.init), pid != getpid() { return nil }
        return usec / 2_000_000
    }
}

/// Listening sockets passed by systemd socket activation (`LISTEN_FDS`, from descriptor 3).
public enum SystemdSockets {
    /// Descriptors and names, or empty when these variables are not for this process.
    public static func fromEnvironment(_ environment: [String: String]) -> [(fd: Int32, name: String)] {
        guard let pid = environment["LISTEN_PID"].flatMap(Int32.init), pid == getpid(),
              let count = environment["LISTEN_FDS"].flatMap(Int32.init), count > 0
        else { return [] }
        let names = (environment["LISTEN_FDNAMES"] ?? "").split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        return (0..<count).map { i in
            let fd = 3 + i
            return (fd, Int(i) < names.count && !names[Int(i)].isEmpty ? names[Int(i)] : "fd\(fd)")
        }
    }

    /// Removes the variables so that no child mistakes them for its own.
    public static func clearEnvironment() {
        unsetenv("LISTEN_PID")
        unsetenv("LISTEN_FDS")
        unsetenv("LISTEN_FDNAMES")
    }
}
