import Glibc
import Platform
import Testing
@testable import Worker

@Suite struct PeerCacheTests {
    private func inet(_ address: String, _ port: UInt16) -> sockaddr_storage {
        var storage = sockaddr_storage()
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                sin.pointee.sin_family = sa_family_t(AF_INET)
                sin.pointee.sin_port = port.bigEndian
                sin.pointee.sin_addr.s_addr = inet_addr(address)
            }
        }
        return storage
    }

    private func inet6(_ address: String, _ port: UInt16) -> sockaddr_storage {
        var storage = sockaddr_storage()
        withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin in
                sin.pointee.sin6_family = sa_family_t(AF_INET6)
                sin.pointee.sin6_port = port.bigEndian
                _ = inet_pton(AF_INET6, address, &sin.pointee.sin6_addr)
            }
        }
        return storage
    }

    @Test func eachPeerIsNamedWithItsOwnAddressAndPort() {
        var cache = PeerCache()
        let sequence: [(sockaddr_storage, String, UInt16)] = [
            (inet("127.0.0.1", 5000), "127.0.0.1", 5000),
            (inet("127.0.0.1", 5001), "127.0.0.1", 5001),  // the same address again, another port
            (inet("10.1.2.3", 5001), "10.1.2.3", 5001),
            (inet6("2001:db8::1", 443), "2001:db8::1", 443),
            (inet6("2001:db8::2", 443), "2001:db8::2", 443),  // differs in the last 8 bytes only
            (inet6("2001:db8::2", 80), "2001:db8::2", 80),
            (inet("127.0.0.1", 5000), "127.0.0.1", 5000),
        ]
        for (storage, host, port) in sequence {
            var storage = storage
            let peer = cache.peer(&storage)
            #expect(peer.name == SocketName(host: host, port: port, isUnix: false))
            #expect(peer.hostBytes == Array(host.utf8))
        }
    }
}
