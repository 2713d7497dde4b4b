import AppLoader
import ArbiterABI
import CArbiter
import Glibc
import HTTP1
import Platform
import Synchronization

/// The `sync` worker: an epoll loop thread accepts connections and reads request heads; complete
/// requests go to `--threads` request threads that serve them with blocking I/O and hand the
/// connection back. Idle keep-alive connections and slow heads never hold a request thread.
final class SyncWorker: @unchecked Sendable {
    private let context: WorkerContext
    private let epoll: Epoll
    private let wake: WakeUp
    private let signals: SignalPipe
    private let requests = BlockingQueue<Job>()
    private let returned = Mutex<[(Connection, Bool)]>([])
    private let stopping = Atomic<Bool>(false)
    /// Set once `max_requests` is reached: no new requests; the master starts a replacement.
    private let recycling = Atomic<Bool>(false)
    private let served = Atomic<Int>(0)
    private var connections: [Int32: Connection] = [:]
    private var inFlight = 0
    private var accepting = false
    private var listenersOpen = true
    private var lastSweep = 0.0
    /// While stopping: when idle connections are closed.
    private var drainDeadline: Double?
    /// How long idle keep-alive connections may still send one request after a graceful stop began.
    static let drainTime = 1.0
    private let host: Host

    struct Job: @unchecked Sendable {
        let connection: Connection
        let head: RequestHead
    }

    /// How long a blocking read or write may wait for the client.
    private var ioTimeout: Double { context.settings.bodyTimeout > 0 ? context.settings.bodyTimeout : 3600 }

    init(context: WorkerContext) {
        self.context = context
        do {
            epoll = try Epoll()
            wake = try WakeUp()
            signals = try SignalPipe(signals: [SIGTERM, SIGINT, SIGQUIT, SIGUSR1])
        } catch {
            context.logger.critical("Worker cannot set up its event loop: \(error)")
            exit(WorkerMain.bootFailed)
        }
        host = Host(workerClass: "sync", logger: context.logger, offload: ThreadPool(size: context.settings.threads, name: "offload"))
    }

    func run() -> Int32 {
        let logger = context.logger
        let app = context.app.table.pointee
        if let error = Lifespan.run({ done, callback in app.startup(app.ctx, host.raw, done, callback) }) {
            logger.error("Worker failed to boot: application startup failed: \(error)")
            return WorkerMain.bootFailed
        }
        do {
            try epoll.add(wake.fd, events: Events.readable, token: Token.make(Token.wake, wake.fd))
            try epoll.add(signals.readFD, events: Events.readable, token: Token.make(Token.signal, signals.readFD))
            try epoll.add(context.control.fd, events: Events.readable | Events.peerClosed, token: Token.make(Token.control, context.control.fd))
            for listener in context.listeners { try Descriptor.setNonBlocking(listener.fd) }
            try startAccepting()
        } catch {
            logger.critical("Worker cannot watch its sockets: \(error)")
            return WorkerMain.bootFailed
        }
        context.heartbeat.setKind(.requestThreads)
        for index in 0..<context.settings.threads {
            startThread(name: "request-\(index)") { [self] in
                while true { serve(requests.take(), slot: index) }
            }
        }
        logger.debug("Worker ready: \(context.settings.threads) request thread(s), application \(context.app.name)")
        context.control.send("ready")
        loop()
        if let error = Lifespan.run({ done, callback in app.shutdown(app.ctx, done, callback) }) {
            logger.error("Application shutdown failed: \(error)")
        }
        logger.info("Worker exiting (pid: \(ProcessControl.pid))")
        return 0
    }

    private func loop() {
        var events = [UInt32](repeating: 0, count: 128)
        var tokens = [UInt64](repeating: 0, count: 128)
        while true {
            if stopping.load(ordering: .relaxed) && inFlight == 0 && connections.isEmpty { return }
            context.heartbeat.beat()
            let n = epoll.wait(into: &events, &tokens, timeout: freshQueue.isEmpty ? 0.5 : Self.freshWindow)
            for i in 0..<n {
                let token = tokens[i]
                let fd = Token.fd(token)
                switch Token.kind(token) {
                case Token.listener: acceptConnections(fd)
                case Token.wake: takeBackConnections()
                case Token.signal: handleSignals()
                case Token.control: controlEvent()
                default: connectionEvent(fd, events[i])
                }
            }
            if !freshQueue.isEmpty {
                expireFresh(now: Clock.monotonic())
                updateAccepting()
            }
            sweep()
        }
    }

    private func startAccepting() throws(SystemError) {
        guard !accepting, listenersOpen else { return }
        for listener in context.listeners {
            // EPOLLEXCLUSIVE: one sleeping worker is woken per connection, not all of them.
            try epoll.add(listener.fd, events: Events.readable | Events.exclusive, token: Token.make(Token.listener, listener.fd))
        }
        accepting = true
    }

    private func stopAccepting() {
        guard accepting else { return }
        for listener in context.listeners { epoll.remove(listener.fd) }
        accepting = false
    }

    private var openConnections: Int { connections.count + inFlight }
    /// Connections accepted less than `freshWindow` ago whose first request is not dispatched yet:
    /// they count against capacity, so a burst of new connections spreads over the workers. The
    /// window is short, so that clients that connect and send nothing (or trickle) cannot stop a
    /// worker from accepting.
    private var fresh = 0
    private var freshQueue: [Connection] = []
    static let freshWindow = 0.05

    private func expireFresh(now: Double) {
        while let first = freshQueue.first, !first.fresh || now - first.acceptedAt >= Self.freshWindow {
            freshQueue.removeFirst()
            if first.fresh {
                first.fresh = false
                fresh -= 1
            }
        }
    }

    /// Accept only while a request thread would be free for the new connection, so that a busy
    /// worker leaves connections to idle ones (load spreads by capacity), and never past
    /// `worker_connections`. Idle keep-alive connections do not count against capacity.
    private var hasCapacity: Bool {
        inFlight + fresh < context.settings.threads && openConnections < context.settings.workerConnections
    }

    private func updateAccepting() {
        if stopping.load(ordering: .relaxed) || recycling.load(ordering: .relaxed) { return }
        if hasCapacity { try? startAccepting() } else { stopAccepting() }
    }

    private func acceptConnections(_ listenerFD: Int32) {
        let local = context.listeners.first { $0.fd == listenerFD }?.name
        // A bounded batch per wake-up, so that one worker does not take every queued connection.
        for _ in 0..<16 {
            if !hasCapacity {
                stopAccepting()
                return
            }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { arbiter_accept4(listenerFD, $0, &length, arbiter_accept_flags()) }
            }
            if fd < 0 { return }
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let connection = Connection(fd: fd, remote: SocketName.from(&storage), local: local, limits: context.limits)
            context.prepare(connection)
            connection.fresh = true
            fresh += 1
            freshQueue.append(connection)
            watch(connection)
        }
    }

    private func watch(_ connection: Connection) {
        connections[connection.fd] = connection
        do {
            try epoll.add(connection.fd, events: Events.readable | Events.peerClosed, token: Token.make(Token.connection, connection.fd))
        } catch {
            close(connection)
        }
    }

    private func close(_ connection: Connection) {
        epoll.remove(connection.fd)
        connections[connection.fd] = nil
        if connection.fresh {
            connection.fresh = false
            fresh -= 1
        }
        connection.close()
        updateAccepting()
    }

    private func connectionEvent(_ fd: Int32, _ events: UInt32) {
        guard let connection = connections[fd] else { return }
        switch connection.readAvailable() {
        case .data, .wouldBlock:
            parseHead(connection)
        case .eof, .error:
            close(connection)
        }
    }

    /// Dispatches a complete head, answers a malformed one, or waits for more bytes.
    private func parseHead(_ connection: Connection) {
        switch connection.nextHead(context: context) {
        case .wait:
            return
        case .drop:
            close(connection)
        case .reject(let error):
            reject(connection, error)
        case .head(let head):
            epoll.remove(connection.fd)
            connections[connection.fd] = nil
            if connection.fresh {
                connection.fresh = false
                fresh -= 1
            }
            inFlight += 1
            if context.logger.level == .debug {
                context.logger.debug("Request started: \(head.method) \(head.target) from \(connection.remote?.display ?? "-")")
            }
            requests.put(Job(connection: connection, head: head))
            updateAccepting()
        }
    }

    /// Answers a request the server refuses and closes: nothing after a bad head is parsed.
    private func reject(_ connection: Connection, _ error: HTTPError) {
        context.logger.debug("Rejected request from \(connection.remote?.display ?? "-"): \(error)")
        let response = ResponseEncoder.errorResponse(error, date: DateCache.shared.current(), server: "arbiter")
        _ = response.withUnsafeBytes { send(connection.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
        shutdown(connection.fd, Int32(SHUT_WR))
        close(connection)
    }

    private func takeBackConnections() {
        wake.drain()
        let back = returned.withLock { list in
            defer { list.removeAll() }
            return list
        }
        if let limit = context.requestLimit, served.load(ordering: .relaxed) >= limit,
           !recycling.exchange(true, ordering: .relaxed)
        {
            stopAccepting()
            context.logger.info("Worker reached max_requests (\(limit)); asking the master for a replacement")
            context.control.send("retire max_requests reached (\(limit) requests)")
        }
        for (connection, reusable) in back {
            inFlight -= 1
            // A response that promised keep-alive keeps the connection even while stopping: the
            // drain answers its next request with `Connection: close` or closes it when idle.
            if reusable {
                connection.parser.reset()
                watch(connection)
                parseHead(connection)
            } else {
                connection.close()
            }
        }
        updateAccepting()
    }

    private func handleSignals() {
        for signo in signals.drain() {
            switch signo {
            case SIGTERM:
                beginGracefulStop(reason: "SIGTERM")
            case SIGINT, SIGQUIT:
                context.logger.info("Worker exiting now (\(Signal.name(signo)))")
                exit(0)
            case SIGUSR1:
                try? context.logger.sink.reopen()
                try? context.accessLog?.sink.reopen()
            default:
                break
            }
        }
    }

    private func controlEvent() {
        var byte: UInt8 = 0
        let n = read(context.control.fd, &byte, 1)
        if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
            epoll.remove(context.control.fd)
            context.logger.info("Master is gone; worker stopping (pid: \(ProcessControl.pid))")
            beginGracefulStop(reason: "master exit")
        }
    }

    /// Stops accepting and lets in-flight requests finish. Idle keep-alive connections get a short
    /// drain time in which their next request is still served (answered with `Connection: close`),
    /// so a client never races a close; then they are closed.
    private func beginGracefulStop(reason: String) {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        context.logger.debug("Worker stopping gracefully (\(reason)): \(inFlight) request(s) in flight")
        stopAccepting()
        listenersOpen = false
        for listener in context.listeners { Descriptor.close(listener.fd) }
        drainDeadline = Clock.monotonic() + min(Self.drainTime, context.settings.keepalive)
    }

    /// Closes idle keep-alive connections and heads that stalled (at most twice a second).
    private func sweep() {
        let now = Clock.monotonic()
        guard now - lastSweep >= 0.25 else { return }
        lastSweep = now
        if let drainDeadline, now >= drainDeadline {
            for connection in Array(connections.values) { close(connection) }
            return
        }
        for connection in Array(connections.values) {
            switch connection.idleVerdict(now: now, settings: context.settings) {
            case .keep: break
            case .close: close(connection)
            case .headTimeout: reject(connection, headTimeoutError(context.settings))
            }
        }
    }

    /// On a request thread: runs one request to its end, then gives the connection back to the loop.
    private func serve(_ job: Job, slot: Int) {
        let connection = job.connection
        let keepAlive = { [self] in
            context.settings.keepalive > 0 && job.head.keepAlive && !stopping.load(ordering: .relaxed)
                && !recycling.load(ordering: .relaxed)
        }
        let exchange = BlockingExchange(
            connection: connection, head: job.head, bodyLimit: context.limits.body, ioTimeout: ioTimeout,
            keepAlive: keepAlive, logger: context.logger, heartbeat: (context.heartbeat, slot))
        exchange.keepHeaders = context.keepResponseHeaders
        let label = job.head.methodRange.lowerBound..<job.head.targetRange.upperBound
        job.head.bytes.withUnsafeBytes { context.heartbeat.begin(slot: slot, label: UnsafeRawBufferPointer(rebasing: $0[label])) }
        defer { context.heartbeat.end(slot: slot) }
        let started = Clock.monotonic()
        let app = context.app.table.pointee
        let client = Client.resolve(head: job.head, connection: connection, trust: context.forwardedTrust)
        exchange.client = client
        let token = RequestView.with(head: job.head, connection: connection, client: client) { view in
            app.handle(app.ctx, view, exchange.raw)
        }
        exchange.waitUntilEnded()
        app.release(app.ctx, token)
        served.add(1, ordering: .relaxed)
        if let accessLog = context.accessLog {
            accessLog.log(AccessRecord(exchange: exchange, seconds: Clock.monotonic() - started))
        }
        let reusable = exchange.reusable
        if reusable { connection.becameIdle() }
        returned.withLock { $0.append((connection, reusable)) }
        wake.signal()
    }
}

extension AccessRecord {
    init(exchange: BlockingExchange, seconds: Double) {
        let head = exchange.head
        let responseHeaders = exchange.responseHeaders
        self.init(
            remote: exchange.client?.host ?? "", method: head.method.name, target: head.target,
            version: head.version.description, status: exchange.status, bytes: exchange.bodyBytesSent, seconds: seconds,
            requestHeader: { head.field($0) },
            responseHeader: { name in
                let lowered = name.lowercased()
                return responseHeaders.first { String(decoding: $0.name, as: UTF8.self).lowercased() == lowered }
                    .map { String(decoding: $0.value, as: UTF8.self) }
            })
    }
}
