import CArbiter
import Glibc
import HTTP1
import Platform
import Supervision

/// What both worker classes do the same way around their event loops.
extension WorkerContext {
    enum Accepted {
        /// A new connection: its listener's address, and the peer's host as bytes for its requests'
        /// C views.
        case accepted(fd: Int32, remote: SocketName?, local: ListenerName, remoteBytes: [UInt8])
        /// Nothing waiting (another worker took it), or the accept failed and accepting pauses.
        case none
    }

    /// Accepts one connection from `listenerFD`. Out of descriptors (EMFILE, ENFILE) it logs once,
    /// pauses accepting for a second and keeps serving the connections it has.
    func acceptOne(from listenerFD: Int32, policy: inout AcceptPolicy) -> Accepted {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { arbiter_accept4(listenerFD, $0, &length, arbiter_accept_flags()) }
        }
        if fd < 0 {
            let code = errno
            if code == EMFILE || code == ENFILE || code == ENOBUFS || code == ENOMEM {
                let now = Clock.monotonic()
                if policy.shouldReportStarvation(now: now) {
                    logger.error("Cannot accept connections: \(String(cString: strerror(code))); pausing accepts for "
                        + "\(AcceptPolicy.starvedPause) s at a time and serving the open connections "
                        + "(raise the descriptor limit, or lower worker_connections)")
                }
                policy.starve(until: now + AcceptPolicy.starvedPause)
            }
            return .none
        }
        WorkerCounters.add(WorkerCounters.Field.connectionsAccepted)
        let listener = listeners.firstIndex { $0.fd == listenerFD }
        if listener.map({ noDelayPerConnection[$0] }) ?? true { Descriptor.setNoDelay(fd) }
        let remote = peers.peer(&storage)
        return .accepted(fd: fd, remote: remote.name, local: listener.map { listenerNames[$0] } ?? ListenerName.none,
                         remoteBytes: remote.hostBytes)
    }

    /// The connection machine's settings for a peer: limits, timeouts, and whether it owes a PROXY
    /// protocol header.
    func connectionConfiguration(for peer: SocketName?) -> ConnectionStateMachine.SharedConfiguration {
        guard let owingProxyHeader, peer.map({ $0.isUnix ? proxyTrust.any : proxyTrust.contains($0.host) }) ?? false else {
            return owingNothing
        }
        return owingProxyHeader
    }

    /// Registers what every worker loop watches besides connections: its wake-up eventfd, its signal
    /// pipe and the control socket; makes the listeners non-blocking.
    func watch(on epoll: Epoll, wake: Int32, signals: Int32) throws(SystemError) {
        try epoll.add(wake, events: Events.readable, token: Token.make(Token.wake, wake))
        try epoll.add(signals, events: Events.readable, token: Token.make(Token.signal, signals))
        try epoll.add(control.fd, events: Events.readable | Events.peerClosed, token: Token.make(Token.control, control.fd))
        for listener in listeners { try Descriptor.setNonBlocking(listener.fd) }
    }

    /// Signals to a worker: TERM stops gracefully, INT/QUIT at once, USR1 reopens the logs.
    func handle(signals: [Int32], gracefulStop: (String) -> Void) {
        for signo in signals {
            switch signo {
            case SIGTERM:
                gracefulStop("SIGTERM")
            case SIGINT, SIGQUIT:
                // The master logs the exit; this says why, for debugging.
                logger.debug("Worker exiting now (\(Signal.name(signo)))")
                exit(0)
            case SIGUSR1:
                reopenLogs()
            default:
                break
            }
        }
    }

    /// Reads the control socket when it is readable: acts on the master's messages, and returns
    /// true when the master closed its end (it is gone; the socket is then no longer watched).
    /// Called on the event loop's thread.
    func masterIsGone(watchedBy epoll: Epoll) -> Bool {
        var chunk = [UInt8](repeating: 0, count: 512)
        let n = chunk.withUnsafeMutableBytes { read(control.fd, $0.baseAddress, $0.count) }
        if n > 0 {
            for message in control.reader.feed(chunk[0..<n]) {
                switch message {
                case .reopenLogs:
                    reopenLogs()
                    control.send(.logsReopened)
                case .ticketKeys(let bytes): rotateTicketKeys(bytes)
                case .tlsFile: break  // only at boot, before the first ticket keys
                }
            }
            for line in control.reader.takeRejected() { logger.warning("Unknown control message from the master: \(line)") }
            return false
        }
        guard n == 0 || (errno != EAGAIN && errno != EINTR) else { return false }
        logger.info("Master is gone; worker stopping (pid: \(ProcessControl.pid))")
        epoll.remove(control.fd)
        return true
    }

    /// Reopens the error and access logs (after logrotate moved them).
    func reopenLogs() {
        try? logger.sink.reopen()
        try? accessLog?.sink.reopen()
    }

    /// Asks the master for a replacement once `max_requests` is reached.
    func reachedRequestLimit(_ limit: Int) {
        logger.info("Worker reached max_requests (\(limit)); asking the master for a replacement")
        control.send(.retire(reason: "max_requests reached (\(limit) requests)"))
    }

    /// Closes this worker's copies of the listeners (the master and the other workers keep theirs)
    /// as a graceful stop begins; returns until when idle keep-alive connections may still send one
    /// more request.
    func closeListeners() -> Double {
        for listener in listeners { Descriptor.close(listener.fd) }
        return Clock.monotonic() + min(Self.drainTime, settings.keepalive)
    }

    /// How long idle keep-alive connections may still send one request after a graceful stop began.
    static let drainTime = 1.0

    /// Writes the access log line of a completed request (`client` is worked out only for a log).
    func logAccess(_ summary: ConnectionStateMachine.RequestSummary, client: @autoclosure () -> Client) {
        guard let accessLog, summary.status != 0 else { return }
        accessLog.log(AccessRecord(summary, remote: client().host, seconds: Clock.monotonic() - summary.startedAt))
    }
}

/// When a worker takes new connections. Workers take turns through the shared scoreboard: all are
/// woken for a new connection and the ones behind the least loaded take it; one ahead by more than
/// `slack` leaves it to the others for `deferral` (they may be busy, so not longer).
struct AcceptPolicy {
    /// How many connections more than the least loaded worker this one may hold and still accept:
    /// 1 for async workers (a connection costs little), 0 for sync workers (a connection soon
    /// wants one of few request threads).
    let slack: Int
    /// Below this many connections a worker accepts whatever the others hold: an imbalance of a few
    /// connections costs an async worker nothing, while stepping aside costs two epoll calls and a
    /// pause — once per connection when a few clients connect one after another (new TLS
    /// handshakes: 0.6–0.7× nginx with it, 1.0–1.1× without).
    let floor: Int
    static let deferral = 0.005
    static let starvedPause = 1.0

    private var registration = ListenerRegistration()
    private var open = true
    /// Accepting pauses until then (ahead of the others, or out of descriptors).
    private(set) var resumeAt: Double?
    /// When running out of descriptors was last reported (once a minute at most).
    private var starvationReported: Double?

    init(slack: Int, floor: Int = 0) {
        self.slack = slack
        self.floor = floor
    }

    /// Whether this worker may take one more connection now (false also arms a short deferral).
    mutating func mayTakeAnother(connections: Int, context: WorkerContext) -> Bool {
        if resumeAt != nil { return false }
        if connections < floor { return true }
        guard let board = context.scoreboard, let least = board.page.leastLoaded(excluding: board.index) else { return true }
        if connections > least + slack {
            resumeAt = Clock.monotonic() + Self.deferral
            return false
        }
        return true
    }

    mutating func starve(until: Double) {
        resumeAt = until
    }

    mutating func shouldReportStarvation(now: Double) -> Bool {
        if let last = starvationReported, now - last < 60 { return false }
        starvationReported = now
        return true
    }

    /// Registers or unregisters the listeners as `wanted` and any pause allow.
    mutating func update(wanted: Bool, now: Double, epoll: Epoll, listeners: [(fd: Int32, name: SocketName?)]) {
        if let until = resumeAt, now >= until { resumeAt = nil }
        if open && wanted && resumeAt == nil {
            registration.start(epoll, listeners)
        } else {
            registration.stop(epoll, listeners)
        }
    }

    /// For good (a graceful stop).
    mutating func close(epoll: Epoll, listeners: [(fd: Int32, name: SocketName?)]) {
        registration.stop(epoll, listeners)
        open = false
    }
}
