import CArbiter
import Glibc
import Platform

/// The result of one transport read or write.
enum IOResult: Equatable {
    case bytes(Int)
    case wouldBlock
    case eof
    case error(Int32)
}

/// The bytes under a connection's HTTP machine: a plain socket, or TLS over a socket. Calls never
/// block; a blocking driver waits with `wait(readable:timeout:)` first.
protocol Transport: AnyObject {
    var fd: Int32 { get }
    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult
    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult
    /// Ends the write side (the peer reads end-of-file; input can still be read).
    func shutdownWrite()
    func close()
    /// Bytes for the socket the transport holds itself (a TLS handshake flight, an alert): the
    /// driver waits for writability and calls `flush` while this is true.
    var wantsWrite: Bool { get }
    /// Input buffered above the socket (decrypted but not yet read): the socket's readiness does
    /// not announce it, so a driver reads again before it waits.
    var hasBufferedInput: Bool { get }
    /// Sends what the transport holds for the socket, as far as the socket takes it now.
    func flush()
    /// Whether the transport gives up on the connection at `now` by its own clock (a TLS handshake
    /// that takes too long); the driver then closes it.
    func expired(now: Double) -> Bool
    /// Whether the bytes are protected by TLS (requests then have the scheme `https`).
    var isSecure: Bool { get }
    /// The verified client certificate (mutual TLS), empty without one.
    var clientCertificate: ClientCertificateBytes { get }
}

/// A plain socket holds nothing of its own.
extension Transport {
    var wantsWrite: Bool { false }
    var hasBufferedInput: Bool { false }
    func flush() {}
    func expired(now: Double) -> Bool { false }
    var isSecure: Bool { false }
    var clientCertificate: ClientCertificateBytes { ClientCertificateBytes() }
}

extension Transport {
    /// Waits until the descriptor is readable (or writable), up to `timeout` seconds; false on timeout.
    func wait(readable: Bool, timeout: Double) -> Bool {
        var p = pollfd(fd: fd, events: Int16(readable ? POLLIN : POLLOUT), revents: 0)
        let ms = Int32(max(0, min(timeout, 3600)) * 1000) + 1
        while true {
            let n = poll(&p, 1, ms)
            if n < 0 && errno == EINTR { continue }
            return n > 0
        }
    }

    /// How the socket's input ended, if it did and nothing is left to read before the end (a
    /// peek, which consumes nothing): nil while it is open or holds bytes.
    func peekEnd() -> PeerEnd? {
        var byte: UInt8 = 0
        let n = recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        if n == 0 { return .inputEnded }
        if n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR { return .failed }
        return nil
    }
}

/// A connected TCP or unix socket, non-blocking.
final class SocketTransport: Transport {
    let fd: Int32
    /// Closed already (the descriptor number may be reused: never touch it again).
    private(set) var closed = false

    init(fd: Int32) {
        self.fd = fd
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        Self.read(fd, into: buffer)
    }

    /// One non-blocking read of a socket (also the ciphertext under a TLS transport). `recv`, not
    /// `read`: the kernel goes to the socket directly, without the file layer `read` passes
    /// through (its position lock, permission and notification hooks).
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        while true {
            let n = recv(fd, buffer.baseAddress, buffer.count, 0)
            if n > 0 { return .bytes(n) }
            if n == 0 { return .eof }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .error(errno)
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        while true {
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n >= 0 { return .bytes(n) }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .wouldBlock }
            return .error(errno)
        }
    }

    func shutdownWrite() {
        guard !closed else { return }
        shutdown(fd, Int32(SHUT_WR))
    }

    func close() {
        guard !closed else { return }
        closed = true
        Descriptor.close(fd)
    }
}

/// How a peer's side of a connection ended.
enum PeerEnd {
    /// The end of its stream (a FIN): it may still read.
    case inputEnded
    /// A reset or another error: it is gone.
    case failed
}
