import Glibc
import Platform

/// The last peer address accepted, as text and as bytes: connections from one address (a proxy, a
/// load balancer, loopback) reuse them instead of formatting the address again, and share one
/// array of its bytes for their requests' C views.
///
/// Owner: the accepting thread (a worker's loop thread).
struct PeerCache {
    private var family: Int32 = -1
    private var high: UInt64 = 0
    private var low: UInt64 = 0
    private var host = ""
    private var hostBytes: [UInt8] = []

    /// The peer `storage` names and its host as bytes.
    mutating func peer(_ storage: UnsafePointer<sockaddr_storage>) -> (name: SocketName?, hostBytes: [UInt8]) {
        let family = Int32(storage.pointee.ss_family)
        let address: (high: UInt64, low: UInt64, port: UInt16)
        switch family {
        case AF_INET:
            address = storage.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                (UInt64($0.pointee.sin_addr.s_addr), 0, UInt16(bigEndian: $0.pointee.sin_port))
            }
        case AF_INET6:
            address = storage.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                withUnsafeBytes(of: sin.pointee.sin6_addr) {
                    ($0.loadUnaligned(as: UInt64.self), $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self), UInt16(bigEndian: sin.pointee.sin6_port))
                }
            }
        default:
            let name = SocketName.from(storage)
            return (name, Array((name?.host ?? "").utf8))
        }
        if family == self.family && address.high == high && address.low == low {
            return (SocketName(host: host, port: address.port, isUnix: false), hostBytes)
        }
        guard let name = SocketName.from(storage) else { return (nil, []) }
        (self.family, high, low) = (family, address.high, address.low)
        (host, hostBytes) = (name.host, Array(name.host.utf8))
        return (name, hostBytes)
    }
}
