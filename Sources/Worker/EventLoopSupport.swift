import CArbiter
import Glibc
import Platform

/// What an epoll registration stands for: the kind in the top 8 bits, a serial in the next 24 (the
/// sync worker's connections: which connection on that descriptor), the descriptor in the low 32.
enum Token {
    static let connection: UInt64 = 0
    static let listener: UInt64 = 1
    static let wake: UInt64 = 2
    static let signal: UInt64 = 3
    static let control: UInt64 = 4

    /// The serial's bits: a serial wraps within them.
    static let serialMask: UInt32 = 0xFF_FFFF

    static func make(_ kind: UInt64, _ fd: Int32, serial: UInt32 = 0) -> UInt64 {
        kind << 56 | UInt64(serial & serialMask) << 32 | UInt64(UInt32(bitPattern: fd))
    }
    static func kind(_ token: UInt64) -> UInt64 { token >> 56 }
    static func serial(_ token: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: token >> 32) & serialMask }
    /// Whether `token` was made with `serial` (as far as its bits carry it).
    static func carries(_ token: UInt64, serial: UInt32) -> Bool { Self.serial(token) == serial & serialMask }
    static func fd(_ token: UInt64) -> Int32 { Int32(bitPattern: UInt32(truncatingIfNeeded: token)) }
}

/// A thin epoll wrapper.
struct Epoll {
    let fd: Int32

    init() throws(SystemError) {
        fd = try syscall("epoll_create1") { arbiter_epoll_create() }
    }

    func add(_ target: Int32, events: UInt32, token: UInt64) throws(SystemError) {
        try syscall("epoll_ctl(ADD)") { arbiter_epoll_ctl(fd, Int32(ARBITER_EPOLL_CTL_ADD), target, events, token) }
    }

    func modify(_ target: Int32, events: UInt32, token: UInt64) throws(SystemError) {
        try syscall("epoll_ctl(MOD)") { arbiter_epoll_ctl(fd, Int32(ARBITER_EPOLL_CTL_MOD), target, events, token) }
    }

    func remove(_ target: Int32) {
        _ = arbiter_epoll_ctl(fd, Int32(ARBITER_EPOLL_CTL_DEL), target, 0, 0)
    }

    /// Waits up to `timeout` seconds, rounded up to whole milliseconds (a timer due in 0.4 ms must
    /// not turn into a busy loop of zero timeouts); returns (events, token) pairs.
    func wait(into events: inout [UInt32], _ tokens: inout [UInt64], timeout: Double) -> Int {
        let ms = timeout < 0 ? -1 : Int32((min(timeout, 3600) * 1000).rounded(.up))
        let n = arbiter_epoll_wait(fd, &events, &tokens, Int32(events.count), ms)
        return max(0, Int(n))
    }
}

/// An eventfd other threads write to wake the loop.
struct WakeUp {
    let fd: Int32

    init() throws(SystemError) {
        fd = try syscall("eventfd") { arbiter_eventfd() }
    }

    func signal() {
        var one: UInt64 = 1
        _ = write(fd, &one, 8)
    }

    func drain() {
        var value: UInt64 = 0
        _ = read(fd, &value, 8)
    }
}

enum Events {
    static let readable = UInt32(ARBITER_EPOLLIN)
    static let writable = UInt32(ARBITER_EPOLLOUT)
    static let hangup = UInt32(ARBITER_EPOLLHUP) | UInt32(ARBITER_EPOLLERR) | UInt32(ARBITER_EPOLLRDHUP)
    /// The peer shut its sending side (a FIN): its input ends once what came before is read.
    static let peerClosed = UInt32(ARBITER_EPOLLRDHUP)
    /// Both directions are down, or the socket has an error.
    static let failed = UInt32(ARBITER_EPOLLHUP) | UInt32(ARBITER_EPOLLERR)
    /// Report readiness once per change (a registration flag, not an event).
    static let edgeTriggered = UInt32(ARBITER_EPOLLET)
}

/// Whether a worker's listeners are registered with its epoll.
struct ListenerRegistration {
    private(set) var active = false

    mutating func start(_ epoll: Epoll, _ listeners: [(fd: Int32, name: SocketName?)]) {
        guard !active else { return }
        for listener in listeners {
            try? epoll.add(listener.fd, events: Events.readable, token: Token.make(Token.listener, listener.fd))
        }
        active = true
    }

    mutating func stop(_ epoll: Epoll, _ listeners: [(fd: Int32, name: SocketName?)]) {
        guard active else { return }
        for listener in listeners { epoll.remove(listener.fd) }
        active = false
    }
}
