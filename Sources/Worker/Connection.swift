import CArbiter
import Glibc
import HTTP1
import Platform
import Synchronization

/// One client connection. Owned by the event loop while it waits for a request head, and by one
/// request thread while a request is served (never both), so it needs no lock.
final class Connection: @unchecked Sendable {
    let fd: Int32
    /// The peer, or the client a PROXY protocol header named.
    var remote: SocketName?
    let local: SocketName?
    /// Received bytes not yet consumed, from `start`.
    var buffer: [UInt8] = []
    var start = 0
    var parser: HeadParser
    /// When the connection last made progress (monotonic seconds), for idle and head timeouts.
    var lastActivity: Double
    var requestsServed = 0
    /// A request thread serves it (sync worker): the loop leaves it alone.
    let busy = Atomic<Bool>(false)
    /// Accepted, first request not dispatched yet (counts against the worker's capacity).
    var fresh = false
    let acceptedAt = Clock.monotonic()
    /// After a refusal: the response is sent and the write side shut; input is read and dropped
    /// until the client closes or this time passes, so that unread request bytes do not make the
    /// kernel reset the connection before the client reads the response (RFC 9112 §9.6).
    var lingerUntil: Double?
    /// Whether the peer may set forwarding fields (decided once per connection).
    var peerTrusted: Bool?
    /// A PROXY protocol header must come first on this connection.
    var proxyPending = false
    /// When the request head now being received began (accept, or first byte after idle); nil
    /// while idle between requests.
    var headStartedAt: Double?
    var closed = false

    /// The addresses as bytes, made once per connection for every request's C view.
    var remoteHostBytes: [UInt8]
    let localHostBytes: [UInt8]

    init(fd: Int32, remote: SocketName?, local: SocketName?, limits: Limits) {
        self.fd = fd
        self.remote = remote
        self.local = local
        remoteHostBytes = Array((remote?.host ?? "").utf8)
        localHostBytes = Array((local?.host ?? "").utf8)
        parser = HeadParser(limits: limits)
        lastActivity = acceptedAt
        headStartedAt = acceptedAt
    }

    var pending: Int { buffer.count - start }

    /// Drops consumed bytes when they dominate the buffer.
    func compact() {
        if start > 0 && (start == buffer.count || start > 65_536) {
            buffer.removeSubrange(0..<start)
            start = 0
        }
    }

    func consume(_ n: Int) {
        start += n
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 65_536)
            start = 0
        }
    }

    enum ReadResult { case data(Int), wouldBlock, eof, error(Int32) }

    /// One non-blocking read appended to the buffer.
    func readAvailable(max: Int = 65_536) -> ReadResult {
        compact()
        let scratch = arbiter_thread_scratch()!
        let n = Glibc.read(fd, scratch, min(max, Int(ARBITER_SCRATCH_SIZE)))
        if n > 0 {
            buffer.append(contentsOf: UnsafeBufferPointer(start: scratch, count: n))
            lastActivity = Clock.monotonic()
            return .data(n)
        }
        if n == 0 { return .eof }
        if errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { return .wouldBlock }
        return .error(errno)
    }

    /// Reads, waiting up to `timeout` seconds for data (request threads).
    func readBlocking(timeout: Double) -> ReadResult {
        let deadline = Clock.monotonic() + timeout
        while true {
            switch readAvailable() {
            case .wouldBlock:
                let left = deadline - Clock.monotonic()
                if left <= 0 { return .error(ETIMEDOUT) }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, Int32(min(left, 1) * 1000) + 1)
            case let other:
                return other
            }
        }
    }

    /// Writes everything, waiting up to `timeout` seconds at a time for the client to read.
    func writeBlocking(_ bytes: UnsafeRawBufferPointer, timeout: Double) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = send(fd, bytes.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL))
            if n > 0 {
                offset += n
                lastActivity = Clock.monotonic()
                continue
            }
            if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
                var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let ready = poll(&p, 1, Int32(timeout * 1000))
                if ready == 0 { return false }
                continue
            }
            return false
        }
        return true
    }

    func writeBlocking(_ bytes: [UInt8], timeout: Double) -> Bool {
        bytes.withUnsafeBytes { writeBlocking($0, timeout: timeout) }
    }

    /// Whether the client closed its side (a peek, which consumes nothing).
    func peerClosed() -> Bool {
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) == 0
    }

    /// Sends `response`, shuts the write side and starts lingering (a refusal).
    func refuse(with response: [UInt8], lingering seconds: Double = 2) {
        _ = response.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        shutdown(fd, Int32(SHUT_WR))
        buffer.removeAll()
        start = 0
        lingerUntil = Clock.monotonic() + seconds
    }

    /// While lingering: drops what arrived; true when the connection is done (closed by the
    /// client, failed, or past its time).
    func lingerDone(now: Double) -> Bool {
        guard let until = lingerUntil else { return false }
        if now >= until { return true }
        while true {
            switch readAvailable() {
            case .data:
                buffer.removeAll(keepingCapacity: true)
                start = 0
            case .wouldBlock:
                return false
            case .eof, .error:
                return true
            }
        }
    }

    func close() {
        guard !closed else { return }
        closed = true
        Descriptor.close(fd)
    }
}
