import CArbiter
import Glibc
import Platform
import Supervision

/// What both worker classes do the same way around their event loops.
extension WorkerContext {
    /// Accepts one connection from `listenerFD`, or nil when none is waiting (another worker may
    /// have taken it).
    func accept(from listenerFD: Int32) -> Connection? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let fd = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { arbiter_accept4(listenerFD, $0, &length, arbiter_accept_flags()) }
        }
        if fd < 0 { return nil }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let local = listeners.first { $0.fd == listenerFD }?.name
        let connection = Connection(fd: fd, remote: SocketName.from(&storage), local: local, limits: limits)
        prepare(connection)
        return connection
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
    /// true when the master closed its end (it is gone). Called on the event loop's thread.
    func masterIsGone() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 512)
        let n = chunk.withUnsafeMutableBytes { read(control.fd, $0.baseAddress, $0.count) }
        if n > 0 {
            for message in control.reader.feed(chunk[0..<n]) {
                switch message {
                case .reopenLogs: reopenLogs()
                }
            }
            for line in control.reader.takeRejected() { logger.warning("Unknown control message from the master: \(line)") }
            return false
        }
        guard n == 0 || (errno != EAGAIN && errno != EINTR) else { return false }
        logger.info("Master is gone; worker stopping (pid: \(ProcessControl.pid))")
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
        return Clock.monotonic() + min(SyncWorker.drainTime, settings.keepalive)
    }
}
