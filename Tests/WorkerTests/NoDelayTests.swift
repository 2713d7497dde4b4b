import Glibc
import Platform
import Testing

/// Workers set `TCP_NODELAY` once on each TCP listener instead of on every accepted socket: this
/// holds because Linux gives a socket accepted from a listener the listener's setting.
@Suite struct NoDelayTests {
    @Test(arguments: [true, false])
    func anAcceptedSocketHasItsListenersNoDelay(listenerHasIt: Bool) throws {
        let listener = try Listener.bind(.tcp(host: "127.0.0.1", port: 0), backlog: 4)
        defer { close(listener.fd) }
        if listenerHasIt { #expect(Descriptor.setNoDelay(listener.fd)) }
        let port = try #require(SocketName.local(listener.fd)).port
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(connected == 0)
        let accepted = accept(listener.fd, nil, nil)
        defer { close(accepted) }
        #expect(accepted >= 0)
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        #expect(getsockopt(accepted, Int32(IPPROTO_TCP), TCP_NODELAY, &value, &length) == 0)
        #expect((value != 0) == listenerHasIt)
    }

    @Test func aUnixSocketHasNone() throws {
        let path = "/tmp/arbiter-nodelay-\(getpid()).sock"
        let listener = try Listener.bind(.unix(path: path), backlog: 4)
        defer {
            close(listener.fd)
            unlink(path)
        }
        #expect(!Descriptor.setNoDelay(listener.fd))
    }
}
