import AppLoader
import ArbiterABI
import CArbiter
import Glibc
import HTTP1
import Platform

/// The `async` worker: one epoll loop thread does all HTTP I/O and runs the application's tasks on
/// itself (the host executor); request bodies stream to the application as they arrive and responses
/// stream out with backpressure. Synchronous application code runs on a pool of `--offload-threads` threads,
/// and the worker says so at boot; a job that blocks the loop is reported at run time.
///
/// A driver of `ConnectionStateMachine` with non-blocking I/O: the machine decides, this loop reads,
/// writes and arms epoll. Everything here runs on the loop thread.
final class AsyncWorker: ConnectionServer, @unchecked Sendable {
    let context: WorkerContext
    let epoll: Epoll
    let loop: Loop
    let signals: SignalPipe
    let pool: ThreadPool
    let host: Host
    let app: arbiter_app
    var connections = ConnectionTable()
    /// Requests started and not yet completed.
    var active = 0
    var accepting: AcceptPolicy
    var stopping = false
    /// The application's `startup()` finished: no connection is taken before (the loop turns
    /// while it runs, to run its tasks).
    var booted = false
    /// Set once `max_requests` is reached: no new connections, no keep-alive; the master replaces it.
    var recycling = false
    var served = 0
    var lastSweep = 0.0
    /// Connections whose request started in this turn: those still waiting for their application
    /// once the turn's jobs ran give back their empty buffers (`releaseWaitingBuffers`).
    /// Named by descriptor and identity, not held: one closed meanwhile is simply not found.
    var startedThisTurn: [(fd: Int32, id: ObjectIdentifier)] = []
    /// Connections with a request to start that the application's code reached (an exchange call
    /// kicks its connection): started once that code returned (`startDeferred`), since a request
    /// started there would run its code inside the other's, and a pipeline would nest without bound.
    var deferredStarts: [ServerConnection] = []
    /// The logger's level is fixed: whether to build the per-request debug line is decided once.
    let logsDebug: Bool
    /// Where in-flight requests are listed for the master (`arbiter ctl workers`, exit lines).
    var requestSlots: RequestSlots

    /// - Parameter signals: the signals routed to the loop (none in tests that run it in-process).
    init(context: WorkerContext, signals routed: [Int32] = WorkerMain.signals) {
        self.context = context
        logsDebug = context.logger.level == .debug
        requestSlots = RequestSlots(heartbeat: context.heartbeat)
        do {
            epoll = try Epoll()
            loop = Loop(wake: try WakeUp(), logger: context.logger, blockThreshold: context.settings.blockThreshold,
                        heartbeat: context.heartbeat, dueTimersPerTurn: Self.turnBatch)
            signals = try SignalPipe(signals: routed)
        } catch {
            context.logger.critical("Worker cannot set up its event loop: \(error)")
            exit(WorkerMain.bootFailed)
        }
        pool = ThreadPool(size: context.settings.offloadThreads, name: "offload")
        host = Host(workerClass: "async", logger: context.logger, offload: pool, loop: loop)
        app = context.app.table.pointee
        accepting = AcceptPolicy(slack: 1, floor: 8)
    }

    func run() -> Int32 {
        arbiter_set_thread_owner(Unmanaged.passUnretained(loop).toOpaque())
        let logger = context.logger
        do {
            try context.watch(on: epoll, wake: loop.wake.fd, signals: signals.readFD)
        } catch {
            logger.critical("Worker cannot watch its sockets: \(error)")
            return WorkerMain.bootFailed
        }
        let app = self.app
        let host = self.host
        // A synchronous application's hooks may block (and wait for async work): never on the loop.
        let blocking = context.app.isBlocking
        if let error = runUntilDone({ done, callback in
            let call = UnsafeLifespanCall(app: app, host: host.raw, done: done, callback: callback)
            if blocking { pool.submit { call.startup() } } else { call.startup() }
        }) {
            logger.error("Worker failed to boot: application startup failed: \(error)")
            return WorkerMain.bootFailed
        }
        announceSynchronousCode()
        context.heartbeat.setKind(.eventLoop)
        booted = true
        updateAccepting()
        context.control.send(.ready)
        while !(stopping && active == 0 && connections.isEmpty) { turn() }
        if let error = runUntilDone({ done, callback in
            let call = UnsafeLifespanCall(app: app, host: host.raw, done: done, callback: callback)
            if blocking { pool.submit { call.shutdown() } } else { call.shutdown() }
        }) {
            logger.error("Application shutdown failed: \(error)")
        }
        loop.finish()
        return 0
    }

    /// Says once, at boot, what synchronous code was adapted and the limit that results.
    func announceSynchronousCode() {
        if let notice = SynchronousCodeNotice(app: context.app, poolSize: pool.size) { context.logger.warning(notice.text) }
    }

    /// Runs a lifespan hook on the loop until its completion callback fires.
    func runUntilDone(_ call: (UnsafeMutableRawPointer, arbiter_message_cb) -> Void) -> String? {
        final class Outcome {
            var done = false
            var error: String?
        }
        let outcome = Outcome()
        let box = Unmanaged.passRetained(Box(outcome: outcome, loop: loop))
        call(box.toOpaque()) { context, message in
            let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
            let text = message.map { String(cString: $0) }
            box.loop.post {
                (box.outcome as! Outcome).error = text
                (box.outcome as! Outcome).done = true
            }
        }
        while !outcome.done { turn() }
        return outcome.error
    }

    /// Carries a lifespan outcome to the loop. `outcome` is touched on the loop thread only.
    private final class Box: @unchecked Sendable {
        let outcome: AnyObject
        let loop: Loop
        init(outcome: AnyObject, loop: Loop) {
            self.outcome = outcome
            self.loop = loop
        }
    }

    /// How many I/O events one turn takes, and how many due timers: neither kind of work waits
    /// behind an unbounded batch of the other. When 10,000 sleeping requests come due together,
    /// their answers go out a batch at a time, and the next requests those answers bring are read
    /// in the turns between, not after the whole burst.
    static let turnBatch = 256
    var events = [UInt32](repeating: 0, count: AsyncWorker.turnBatch)
    var tokens = [UInt64](repeating: 0, count: AsyncWorker.turnBatch)

    /// One turn of the loop: I/O events, then queued jobs and due timers, then timeouts.
    func turn() {
        context.heartbeat.beat()
        var timeout = loop.hasPending ? 0 : 0.25
        if let until = accepting.resumeAt { timeout = min(timeout, max(0, until - Clock.monotonic())) }
        if timeout > 0, let due = loop.nextDeadline { timeout = min(timeout, max(0, due - Clock.monotonic())) }
        let n = epoll.wait(into: &events, &tokens, timeout: timeout)
        Clock.startTurn()
        for i in 0..<n {
            let token = tokens[i]
            let fd = Token.fd(token)
            switch Token.kind(token) {
            case Token.listener: acceptConnections(fd)
            case Token.wake: loop.wake.drain()
            case Token.signal: context.handle(signals: signals.drain(), gracefulStop: beginGracefulStop)
            case Token.control:
                if context.masterIsGone(watchedBy: epoll) { beginGracefulStop(reason: "master exit") }
            default: connectionEvent(fd, events[i])
            }
        }
        startDeferred()
        loop.runPending()
        startDeferred()
        releaseWaitingBuffers()
        sweep()
        updateAccepting()
    }

    func connectionEvent(_ fd: Int32, _ events: UInt32) {
        guard let connection = connections[fd] else { return }
        connection.handle(events: events)
        service(connection)
    }

    /// Drives a connection: starts requests, writes what is ready, closes, and re-arms epoll.
    func service(_ connection: ServerConnection) {
        // Called by the application while its request starts: the `service` that started it goes
        // on once `handle` returns.
        if connection.handling { return }
        while connections[connection.fd] === connection {
            switch connection.drive() {
            case .start:
                if loop.runningApplication {
                    // Called by the application (an exchange call kicks its connection): a request
                    // does not start inside another's code, or a pipeline would nest without
                    // bound. It starts once that code returns (`startDeferred`).
                    if !connection.waitsToStart {
                        connection.waitsToStart = true
                        deferredStarts.append(connection)
                    }
                    return
                }
                guard let head = connection.takeStart() else { continue }
                start(head, on: connection)
            case .close:
                return close(connection)
            case .idle:
                if connection.wantsWrite && connection.writeAvailable() { continue }
                if connection.readUnreported(edgeTriggered: registration(connection) != 0) { continue }
                return updateInterest(connection)
            }
        }
    }

    /// How a connection is registered with epoll, beside the events it waits for: edge-triggered
    /// for HTTP over plain TCP, so that an event reports what arrived since its socket was last
    /// drained (level-triggered, epoll would look at the socket again at every wait after each
    /// event: about 1 % of a hello request's CPU, measured); level-triggered for TLS, whose session
    /// can hold decrypted input epoll does not see, and for WebSockets, whose session stops reading
    /// while its application lags.
    func registration(_ connection: ServerConnection) -> UInt32 {
        connection.edgeTriggered && connection.webSocket == nil ? Events.edgeTriggered : 0
    }

    /// Starts the requests that waited for application code to return (`service`); those may
    /// add more.
    func startDeferred() {
        while let connection = deferredStarts.popLast() {
            connection.waitsToStart = false
            service(connection)
        }
    }

    /// The connection's `wantedEvents`; once the peer is gone, none (the request may still run
    /// until the application ends it).
    func updateInterest(_ connection: ServerConnection) {
        var wanted = connection.wantedEvents
        if wanted != 0 { wanted |= registration(connection) }
        guard wanted != connection.interest else { return }
        if wanted == 0 {
            epoll.remove(connection.fd)
        } else if connection.interest == 0 {
            // Removed while it wanted nothing (its input ended, nothing to write yet): back in.
            try? epoll.add(connection.fd, events: wanted, token: Token.make(Token.connection, connection.fd))
        } else {
            try? epoll.modify(connection.fd, events: wanted, token: Token.make(Token.connection, connection.fd))
        }
        connection.interest = wanted
    }

    func start(_ head: RequestHead, on connection: ServerConnection) {
        let exchange = connection.makeExchange(head)
        startedThisTurn.append((connection.fd, ObjectIdentifier(connection)))
        active += 1
        requestSlots.end(connection.heartbeatSlot, on: context.heartbeat)  // one listed request per connection
        connection.heartbeatSlot = requestSlots.begin(head, on: context.heartbeat)
        WorkerCounters.add(WorkerCounters.Field.requestsStarted)
        if logsDebug {
            context.logger.debug("Request started: \(head.method) \(head.target) from \(connection.remote?.display ?? "-")")
        }
        if context.app.isBlocking {
            pool.submit { [loop] in
                let token = UnsafeCall(context: exchange.connection.handle(exchange))
                loop.post { exchange.tokenArrived(token.context) }
            }
        } else {
            // An asynchronous application's task starts inside `handle` and runs until it first
            // waits: often to its answer, with no trip through the loop's queue.
            var token: UnsafeMutableRawPointer?
            connection.handling = true
            loop.runApplication(for: exchange) { token = connection.handle(exchange) }
            connection.handling = false
            // Still running: its task's later jobs, queued by whatever resumes it, are its own.
            // (Not every job queued while `handle` ran: resuming another request's task there
            // queues that request's job.)
            if connection.current === exchange && !connection.machine.applicationEnded { loop.attribute(token, to: exchange) }
            exchange.tokenArrived(token)
        }
    }

    /// A request its application did not answer within the turn it started in (it awaits something:
    /// a sleep, a database) may wait long, and thousands may wait at once: its connection gives back
    /// its empty buffers now rather than at the next tick. One answered at once keeps them.
    func releaseWaitingBuffers() {
        while let (fd, id) = startedThisTurn.popLast() {
            if let connection = connections[fd], ObjectIdentifier(connection) == id, connection.current != nil {
                connection.machine.releaseBuffers()
            }
        }
    }

    /// The loop's own beat is its progress.
    func progressed(_ connection: ServerConnection) {}

    /// WebSocket I/O stays on this loop, like HTTP's.
    func upgraded(_ connection: ServerConnection) {}

    func requestCompleted(_ connection: ServerConnection, _ exchange: Exchange, _ summary: ConnectionStateMachine.RequestSummary) {
        active -= 1
        requestSlots.end(connection.heartbeatSlot, on: context.heartbeat)
        connection.heartbeatSlot = -1
        loop.forget(exchange)
        served += 1
        context.heartbeat.countServed(UInt64(served))
        if let limit = context.requestLimit, served >= limit, !recycling {
            recycling = true
            for other in connections.values {
                other.stopKeepAlive(drainUntil: nil)
                if other !== connection && other.webSocket != nil { service(other) }
            }
            context.reachedRequestLimit(limit)
        }
        context.logAccess(summary, client: exchange.client)
        WorkerContext.count(summary)
    }

    func close(_ connection: ServerConnection) {
        guard connections[connection.fd] === connection else { return }
        requestSlots.end(connection.heartbeatSlot, on: context.heartbeat)
        connection.heartbeatSlot = -1
        WorkerCounters.add(WorkerCounters.Field.connectionsClosed)
        if connection.interest != 0 { epoll.remove(connection.fd) }
        connections[connection.fd] = nil
        connection.transport.close()
    }
}

/// A lifespan hook call that may be handed to a pool thread.
struct UnsafeLifespanCall: @unchecked Sendable {
    let app: arbiter_app
    let host: UnsafeMutablePointer<arbiter_host>
    let done: UnsafeMutableRawPointer
    let callback: arbiter_message_cb

    func startup() { app.startup(app.ctx, host, done, callback) }
    func shutdown() { app.shutdown(app.ctx, done, callback) }
}
