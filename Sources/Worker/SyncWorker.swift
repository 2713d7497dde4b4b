import AppLoader
import ArbiterABI
import CArbiter
import Glibc
import HTTP1
import Platform
import Synchronization

/// The `sync` worker: an epoll loop thread accepts connections and reads request heads; complete
/// requests go to `--threads` request threads that serve them with blocking I/O. Idle keep-alive
/// connections and slow heads never hold a request thread.
///
/// A connection is registered one-shot: while a request thread serves it, epoll reports nothing for
/// it; the thread re-arms it when the response is done (or serves a pipelined request right away),
/// so a keep-alive request costs no hand-back through the loop. Only closing goes back to the loop,
/// which owns the connection table.
final class SyncWorker: @unchecked Sendable {
    private let context: WorkerContext
    private let epoll: Epoll
    private let wake: WakeUp
    private let signals: SignalPipe
    private let requests = BlockingQueue<Job>()
    /// Connections request threads are done with: to be closed, or refused with an error (by the loop).
    private let finished = Mutex<[(Connection, HTTPError?)]>([])
    private let stopping = Atomic<Bool>(false)
    /// Set once `max_requests` is reached: no new requests; the master starts a replacement.
    private let recycling = Atomic<Bool>(false)
    private let served = Atomic<Int>(0)
    private let inFlight = Atomic<Int>(0)
    /// The loop stopped accepting for lack of a free request thread: wake it when one frees up.
    private let waitingForCapacity = Atomic<Bool>(false)
    /// Every open connection, busy or not (loop thread only).
    private var connections: [Int32: Connection] = [:]
    /// Sync workers wake one at a time (capacity decides); async workers all wake and the ones
    /// behind on the scoreboard take the connection.
    private var registration = ListenerRegistration(exclusive: true)
    private var listenersOpen = true
    private var announcedRecycling = false
    private var lastSweep = 0.0
    /// While stopping: when idle connections are closed.
    private var drainDeadline: Double?
    /// How long idle keep-alive connections may still send one request after a graceful stop began.
    static let drainTime = 1.0
    private let host: Host

    /// Connections accepted less than `freshWindow` ago whose first request is not dispatched yet:
    /// they count against capacity, so a burst of new connections spreads over the workers. The
    /// window is short, so that clients that connect and send nothing (or trickle) cannot stop a
    /// worker from accepting.
    private var fresh = 0
    private var freshQueue: [Connection] = []
    static let freshWindow = 0.05

    struct Job: @unchecked Sendable {
        let connection: Connection
        let head: RequestHead
    }

    /// How long a blocking read or write may wait for the client.
    private var ioTimeout: Double { context.settings.bodyTimeout > 0 ? context.settings.bodyTimeout : 3600 }
    private static let connectionEvents = Events.readable | Events.peerClosed | UInt32(ARBITER_EPOLLONESHOT)

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
        host = Host(workerClass: "sync", logger: context.logger, offload: ThreadPool(size: context.settings.offloadThreads, name: "offload"))
    }

    func run() -> Int32 {
        let logger = context.logger
        let app = context.app.table.pointee
        if let error = Lifespan.run({ done, callback in app.startup(app.ctx, host.raw, done, callback) }) {
            logger.error("Worker failed to boot: application startup failed: \(error)")
            return WorkerMain.bootFailed
        }
        do {
            try context.watch(on: epoll, wake: wake.fd, signals: signals.readFD)
        } catch {
            logger.critical("Worker cannot watch its sockets: \(error)")
            return WorkerMain.bootFailed
        }
        updateAccepting()
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
            if stopping.load(ordering: .relaxed) && inFlight.load(ordering: .acquiring) == 0 && connections.isEmpty { return }
            context.heartbeat.beat()
            let n = epoll.wait(into: &events, &tokens, timeout: freshQueue.isEmpty ? 0.5 : Self.freshWindow)
            for i in 0..<n {
                let token = tokens[i]
                let fd = Token.fd(token)
                switch Token.kind(token) {
                case Token.listener: acceptConnections(fd)
                case Token.wake: wokenUp()
                case Token.signal: context.handle(signals: signals.drain(), gracefulStop: beginGracefulStop)
                case Token.control:
                    if context.masterIsGone() {
                        epoll.remove(context.control.fd)
                        beginGracefulStop(reason: "master exit")
                    }
                default: connectionEvent(fd)
                }
            }
            if !freshQueue.isEmpty {
                expireFresh(now: Clock.monotonic())
                updateAccepting()
            }
            sweep()
        }
    }

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
        inFlight.load(ordering: .sequentiallyConsistent) + fresh < context.settings.threads
            && connections.count < context.settings.workerConnections
    }

    private func updateAccepting() {
        guard listenersOpen, !stopping.load(ordering: .relaxed), !recycling.load(ordering: .relaxed) else {
            return stopAccepting()
        }
        if hasCapacity {
            waitingForCapacity.store(false, ordering: .relaxed)
            startAccepting()
        } else {
            stopAccepting()
            waitingForCapacity.store(true, ordering: .sequentiallyConsistent)
            // A thread may have finished between the check and the flag: look again.
            if hasCapacity { startAccepting() }
        }
    }

    private func startAccepting() { registration.start(epoll, context.listeners) }

    private func stopAccepting() { registration.stop(epoll, context.listeners) }

    private func acceptConnections(_ listenerFD: Int32) {
        // A bounded batch per wake-up, so that one worker does not take every queued connection.
        for _ in 0..<16 {
            guard hasCapacity else { return updateAccepting() }
            guard let connection = context.accept(from: listenerFD) else { return }
            connection.fresh = true
            fresh += 1
            freshQueue.append(connection)
            connections[connection.fd] = connection
            do {
                try epoll.add(connection.fd, events: Self.connectionEvents, token: Token.make(Token.connection, connection.fd))
            } catch {
                close(connection)
            }
        }
    }

    /// Re-arms a one-shot registration (from the loop or a request thread).
    private func rearm(_ connection: Connection) {
        try? epoll.modify(connection.fd, events: Self.connectionEvents, token: Token.make(Token.connection, connection.fd))
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

    private func connectionEvent(_ fd: Int32) {
        guard let connection = connections[fd], !connection.busy.load(ordering: .acquiring) else { return }
        if connection.lingerUntil != nil {
            return connection.lingerDone(now: Clock.monotonic()) ? close(connection) : rearm(connection)
        }
        switch connection.readAvailable() {
        case .data, .wouldBlock:
            parseHead(connection)
        case .eof, .error:
            close(connection)
        }
    }

    /// Dispatches a complete head, answers a malformed one, or waits (re-armed) for more bytes.
    private func parseHead(_ connection: Connection) {
        switch connection.nextHead(context: context) {
        case .wait:
            rearm(connection)
        case .drop:
            close(connection)
        case .reject(let error):
            reject(connection, error)
        case .head(let head):
            if connection.fresh {
                connection.fresh = false
                fresh -= 1
            }
            dispatch(connection, head)
            updateAccepting()
        }
    }

    private func dispatch(_ connection: Connection, _ head: RequestHead) {
        connection.busy.store(true, ordering: .releasing)
        inFlight.add(1, ordering: .relaxed)
        if context.logger.level == .debug {
            context.logger.debug("Request started: \(head.method) \(head.target) from \(connection.remote?.display ?? "-")")
        }
        requests.put(Job(connection: connection, head: head))
    }

    /// Answers a request the server refuses, then lingers and closes: nothing after a bad head is
    /// parsed.
    private func reject(_ connection: Connection, _ error: HTTPError) {
        context.logger.debug("Rejected request from \(connection.remote?.display ?? "-"): \(error)")
        if connection.fresh {
            connection.fresh = false
            fresh -= 1
        }
        connection.refuse(with: ResponseEncoder.errorResponse(error, date: DateCache.shared.current(), server: "arbiter"))
        rearm(connection)
    }

    /// Request threads finished connections, freed capacity, or reached `max_requests`.
    private func wokenUp() {
        wake.drain()
        let done = finished.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for (connection, refusal) in done {
            connection.busy.store(false, ordering: .releasing)
            if let refusal { reject(connection, refusal) } else { close(connection) }
        }
        if let limit = context.requestLimit, recycling.load(ordering: .relaxed), !announcedRecycling {
            announcedRecycling = true
            stopAccepting()
            context.reachedRequestLimit(limit)
        }
        updateAccepting()
    }

    /// Stops accepting and lets in-flight requests finish. Idle keep-alive connections get a short
    /// drain time in which their next request is still served (answered with `Connection: close`),
    /// so a client never races a close; then they are closed.
    private func beginGracefulStop(reason: String) {
        guard !stopping.exchange(true, ordering: .relaxed) else { return }
        context.logger.debug("Worker stopping gracefully (\(reason)): \(inFlight.load(ordering: .relaxed)) request(s) in flight")
        stopAccepting()
        listenersOpen = false
        drainDeadline = context.closeListeners()
    }

    /// Closes idle keep-alive connections and heads that stalled (at most four times a second).
    private func sweep() {
        let now = Clock.monotonic()
        guard now - lastSweep >= 0.25 else { return }
        lastSweep = now
        for connection in Array(connections.values) where !connection.busy.load(ordering: .acquiring) {
            if connection.lingerUntil != nil {
                if connection.lingerDone(now: now) { close(connection) }
                continue
            }
            if let drainDeadline, now >= drainDeadline {
                close(connection)
                continue
            }
            switch connection.idleVerdict(now: now, settings: context.settings) {
            case .keep: break
            case .close: close(connection)
            case .headTimeout: reject(connection, headTimeoutError(context.settings))
            }
        }
    }

    /// On a request thread: serves the request, then any request already pipelined behind it, then
    /// re-arms the connection for the loop (or hands it back to be closed).
    private func serve(_ job: Job, slot: Int) {
        let connection = job.connection
        var head = job.head
        var refusal: HTTPError?
        while true {
            let reusable = serveOne(connection, head, slot: slot)
            let count = served.add(1, ordering: .relaxed).newValue
            if let limit = context.requestLimit, count >= limit, !recycling.exchange(true, ordering: .relaxed) {
                wake.signal()
            }
            guard reusable else { break }
            connection.becameIdle()
            // A request already in the buffer is served right here, without a trip through the loop.
            if connection.pending > 0 {
                switch connection.nextHead(context: context) {
                case .head(let next):
                    head = next
                    continue
                case .reject(let error):
                    refusal = error
                case .drop:
                    break
                case .wait:
                    connection.busy.store(false, ordering: .releasing)
                    inFlight.subtract(1, ordering: .sequentiallyConsistent)
                    rearm(connection)
                    if waitingForCapacity.load(ordering: .sequentiallyConsistent) { wake.signal() }
                    return
                }
                break
            }
            connection.busy.store(false, ordering: .releasing)
            inFlight.subtract(1, ordering: .sequentiallyConsistent)
            rearm(connection)
            if waitingForCapacity.load(ordering: .sequentiallyConsistent) { wake.signal() }
            return
        }
        finished.withLock { $0.append((connection, refusal)) }
        inFlight.subtract(1, ordering: .sequentiallyConsistent)
        wake.signal()
    }

    /// Runs one request to its end; whether the connection may carry another.
    private func serveOne(_ connection: Connection, _ head: RequestHead, slot: Int) -> Bool {
        let keepAlive = { [self] in
            context.settings.keepalive > 0 && head.keepAlive && !stopping.load(ordering: .relaxed)
                && !recycling.load(ordering: .relaxed)
        }
        let exchange = BlockingExchange(
            connection: connection, head: head, bodyLimit: context.limits.body, ioTimeout: ioTimeout,
            keepAlive: keepAlive, logger: context.logger, heartbeat: (context.heartbeat, slot))
        exchange.keepHeaders = context.keepResponseHeaders
        let label = head.methodRange.lowerBound..<head.targetRange.upperBound
        head.bytes.withUnsafeBytes { context.heartbeat.begin(slot: slot, label: UnsafeRawBufferPointer(rebasing: $0[label])) }
        defer { context.heartbeat.end(slot: slot) }
        let started = Clock.monotonic()
        let app = context.app.table.pointee
        let client = Client.resolve(head: head, connection: connection, trust: context.forwardedTrust)
        exchange.client = client
        let token = RequestView.with(head: head, connection: connection, client: client) { view in
            app.handle(app.ctx, view, exchange.raw)
        }
        exchange.waitUntilEnded { app.cancel(app.ctx, token) }
        app.release(app.ctx, token)
        if let accessLog = context.accessLog {
            accessLog.log(AccessRecord(exchange: exchange, seconds: Clock.monotonic() - started))
        }
        return exchange.reusable
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
