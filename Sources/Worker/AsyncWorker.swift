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
final class AsyncWorker: @unchecked Sendable {
    let context: WorkerContext
    let epoll: Epoll
    let loop: Loop
    let signals: SignalPipe
    let pool: ThreadPool
    let host: Host
    var connections: [Int32: AsyncConnection] = [:]
    var active = 0
    /// Sync workers wake one at a time (capacity decides); async workers all wake and the ones
    /// behind on the scoreboard take the connection.
    var registration = ListenerRegistration(exclusive: false)
    var listenersOpen = true
    var stopping = false
    /// Set once `max_requests` is reached: no new connections, no keep-alive; the master replaces it.
    var recycling = false
    var served = 0
    var lastSweep = 0.0
    /// While stopping: when idle connections are closed.
    var drainDeadline: Double?
    let app: arbiter_app


    init(context: WorkerContext) {
        self.context = context
        do {
            epoll = try Epoll()
            loop = Loop(wake: try WakeUp(), logger: context.logger, blockThreshold: context.settings.blockThreshold,
                        heartbeat: context.heartbeat)
            signals = try SignalPipe(signals: [SIGTERM, SIGINT, SIGQUIT, SIGUSR1])
        } catch {
            context.logger.critical("Worker cannot set up its event loop: \(error)")
            exit(WorkerMain.bootFailed)
        }
        pool = ThreadPool(size: context.settings.offloadThreads, name: "offload")
        host = Host(workerClass: "async", logger: context.logger, offload: pool, loop: loop)
        app = context.app.table.pointee
    }

    func run() -> Int32 {
        arbiter_set_loop_thread(1)
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
        updateAccepting()
        context.control.send("ready")
        while !(stopping && active == 0 && connections.isEmpty) { turn() }
        if let error = runUntilDone({ done, callback in
            let call = UnsafeLifespanCall(app: app, host: host.raw, done: done, callback: callback)
            if blocking { pool.submit { call.shutdown() } } else { call.shutdown() }
        }) {
            logger.error("Application shutdown failed: \(error)")
        }
        logger.info("Worker exiting (pid: \(ProcessControl.pid))")
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
            box.loop.execute {
                (box.outcome as! Outcome).error = text
                (box.outcome as! Outcome).done = true
            }
        }
        while !outcome.done { turn() }
        return outcome.error
    }

    private final class Box: @unchecked Sendable {
        let outcome: AnyObject
        let loop: Loop
        init(outcome: AnyObject, loop: Loop) {
            self.outcome = outcome
            self.loop = loop
        }
    }

    var events = [UInt32](repeating: 0, count: 256)
    var tokens = [UInt64](repeating: 0, count: 256)

    /// One turn of the loop: I/O events, then queued jobs, then timeouts.
    func turn() {
        context.heartbeat.beat()
        var timeout = loop.hasPending ? 0 : 0.25
        if let until = deferredUntil { timeout = min(timeout, max(0, until - Clock.monotonic())) }
        let n = epoll.wait(into: &events, &tokens, timeout: timeout)
        for i in 0..<n {
            let token = tokens[i]
            let fd = Token.fd(token)
            switch Token.kind(token) {
            case Token.listener: acceptConnections(fd)
            case Token.wake: loop.wake.drain()
            case Token.signal: context.handle(signals: signals.drain(), gracefulStop: beginGracefulStop)
            case Token.control:
                if context.masterIsGone() {
                    epoll.remove(context.control.fd)
                    beginGracefulStop(reason: "master exit")
                }
            default: connectionEvent(fd, events[i])
            }
        }
        loop.runPending()
        sweep()
        updateAccepting()
    }

    /// Registered on the listeners until then: this worker was ahead of the least loaded one.
    var deferredUntil: Double?

    func connectionEvent(_ fd: Int32, _ events: UInt32) {
        guard let connection = connections[fd] else { return }
        if connection.io.lingerUntil != nil {
            if connection.io.lingerDone(now: Clock.monotonic()) { close(connection) }
            return
        }
        if events & Events.writable != 0 {
            guard connection.flush() else { return }
            connection.exchange?.outputDrained()
            finishIfFlushed(connection)
            // The response may have ended this connection.
            guard connections[fd] === connection, !connection.io.closed else { return }
        }
        if events & Events.readable != 0 {
            readInput(connection)
        } else if events & (Events.hangup) != 0 {
            peerGone(connection)
        }
    }

    func readInput(_ connection: AsyncConnection) {
        let window = 65_536 + context.limits.maxHead
        while connection.io.pending < window || connection.exchange?.wantsBody == true {
            switch connection.io.readAvailable() {
            case .data(let n):
                connection.exchange?.madeProgress()
                // A short read drained the socket: level-triggered epoll reports what comes next.
                if n < 65_536 { break }
                continue
            case .wouldBlock:
                break
            case .eof, .error:
                processInput(connection)
                if connections[connection.fd] != nil { peerGone(connection) }
                return
            }
            break
        }
        processInput(connection)
    }

    /// Feeds buffered input to the request being served, or parses the next request head.
    func processInput(_ connection: AsyncConnection) {
        while connections[connection.fd] != nil {
            if var discard = connection.discard {
                let io = connection.io
                do {
                    let step = try io.buffer.withUnsafeBufferPointer { all throws(HTTPError) in
                        try discard.decode(UnsafeBufferPointer(rebasing: all[io.start...]))
                    }
                    // Like the sync worker, drop at most 1 MiB of unread body, then close.
                    if discard.received > 1 << 20 { return close(connection) }
                    io.consume(step.consumed)
                    connection.discard = discard.isComplete ? nil : discard
                    if step.consumed == 0 && !discard.isComplete { return }
                } catch {
                    return close(connection)
                }
                continue
            }
            if let exchange = connection.exchange {
                exchange.deliverBody()
                // Stop reading while a window of body waits for the application.
                return connection.updateInterest()
            }
            switch connection.io.nextHead(context: context) {
            case .wait:
                return connection.updateInterest()
            case .drop:
                return close(connection)
            case .reject(let error):
                return reject(connection, error)
            case .head(let head):
                start(head, on: connection)
            }
        }
    }

    /// Whether a response to this request may keep its connection (asked when the response starts).
    func allowsKeepAlive(_ head: RequestHead) -> Bool {
        context.settings.keepalive > 0 && head.keepAlive && !stopping && !recycling
    }

    func start(_ head: RequestHead, on connection: AsyncConnection) {
        let exchange = LoopExchange(
            connection: connection, head: head, loop: loop, bodyLimit: context.limits.body, logger: context.logger)
        connection.exchange = exchange
        active += 1
        if context.logger.level == .debug {
            context.logger.debug("Request started: \(head.method) \(head.target) from \(connection.io.remote?.display ?? "-")")
        }
        let app = self.app
        let io = connection.io
        let client = Client.resolve(head: head, connection: io, trust: context.forwardedTrust)
        exchange.client = client
        if context.app.isBlocking {
            let request = UnsafeRequest(exchange: exchange, io: io, app: app, client: client)
            pool.submit { [loop] in
                let token = RequestView.with(head: request.exchange.head, connection: request.io, client: request.client) { view in
                    request.app.handle(request.app.ctx, view, request.exchange.raw)
                }
                let handle = UnsafeCall(context: token)
                loop.execute { self.tokenArrived(handle.context, for: request.exchange) }
            }
        } else {
            loop.attributing = exchange
            let token = RequestView.with(head: head, connection: io, client: client) { view in app.handle(app.ctx, view, exchange.raw) }
            loop.attributing = nil
            tokenArrived(token, for: exchange)
        }
    }

    func tokenArrived(_ token: UnsafeMutableRawPointer?, for exchange: LoopExchange) {
        exchange.token = token
        exchange.tokenKnown = true
        if exchange.completed { app.release(app.ctx, token) }
    }

    func exchangeEnded(_ connection: AsyncConnection, _ exchange: LoopExchange) {
        if exchange.disconnected {
            // The client is gone: nothing left to send it.
            complete(exchange, on: connection)
            return close(connection)
        }
        if exchange.aborted { connection.closeAfterFlush = true }
        if connection.flush() { finishIfFlushed(connection) }
    }

    /// Once the application ended its exchange and the response is out: log, release, and either
    /// go on with the next request on this connection or close it.
    func finishIfFlushed(_ connection: AsyncConnection) {
        guard let exchange = connection.exchange, exchange.ended, connection.buffered == 0 else { return }
        complete(exchange, on: connection)
        // While stopping, a response that promised keep-alive keeps its connection for the drain.
        if connection.closeAfterFlush || !exchange.reusable {
            return close(connection)
        }
        guard let remaining = exchange.remainingBody() else { return close(connection) }
        connection.discard = remaining.isComplete ? nil : remaining
        connection.io.becameIdle()
        processInput(connection)
    }

    func complete(_ exchange: LoopExchange, on connection: AsyncConnection) {
        guard !exchange.completed else { return }
        exchange.completed = true
        connection.exchange = nil
        active -= 1
        loop.forget(exchange)
        if exchange.tokenKnown { app.release(app.ctx, exchange.token) }
        served += 1
        if let limit = context.requestLimit, served >= limit, !recycling {
            recycling = true
            stopAccepting()
            context.reachedRequestLimit(limit)
        }
        if let accessLog = context.accessLog, exchange.status != 0 {
            accessLog.log(AccessRecord(exchange: exchange, remote: exchange.client?.host ?? ""))
        }
    }

    /// The client closed or the connection failed: cancel its request, which must still end.
    func peerGone(_ connection: AsyncConnection) {
        guard let exchange = connection.exchange else { return close(connection) }
        connection.closeAfterFlush = true
        epoll.remove(connection.fd)
        connection.interest = 0
        if exchange.ended {
            complete(exchange, on: connection)
            return close(connection)
        }
        if !exchange.disconnected {
            exchange.clientGone()
            context.logger.debug("Client gone during \(exchange.head.method) \(exchange.head.target); cancelling its task")
            if exchange.tokenKnown { app.cancel(app.ctx, exchange.token) }
        }
    }

    func close(_ connection: AsyncConnection) {
        guard connections[connection.fd] != nil else { return }
        if let exchange = connection.exchange {
            // Closed under a running request (stop, reject): its task is cancelled; the exchange
            // object lives until the application ends it.
            exchange.clientGone()
            if exchange.tokenKnown, !exchange.ended { app.cancel(app.ctx, exchange.token) }
            if exchange.ended { complete(exchange, on: connection) } else { return }
        }
        epoll.remove(connection.fd)
        connections[connection.fd] = nil
        connection.io.close()

    }

    /// Answers a request the server refuses, then lingers and closes: nothing after a bad head is
    /// parsed.
    func reject(_ connection: AsyncConnection, _ error: HTTPError) {
        context.logger.debug("Rejected request from \(connection.io.remote?.display ?? "-"): \(error)")
        guard connections[connection.fd] === connection, !connection.io.closed else { return }
        connection.io.refuse(with: ResponseEncoder.errorResponse(error, date: DateCache.shared.current(), server: "arbiter"))
        connection.interest = Events.readable | Events.peerClosed
        try? epoll.modify(connection.fd, events: connection.interest, token: Token.make(Token.connection, connection.fd))
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

/// A request handed to a pool thread: the head is immutable and the exchange marshals its calls.
struct UnsafeRequest: @unchecked Sendable {
    let exchange: LoopExchange
    let io: Connection
    let app: arbiter_app
    let client: Client
}

extension AccessRecord {
    init(exchange: LoopExchange, remote: String) {
        let head = exchange.head
        let headers = exchange.plan?.headers ?? []
        self.init(
            remote: remote, method: head.method.name, target: head.target, version: head.version.description,
            status: exchange.status, bytes: exchange.bodyBytesSent, seconds: Clock.monotonic() - exchange.started,
            requestHeader: { head.field($0) },
            responseHeader: { name in
                let lowered = name.lowercased()
                return headers.first { String(decoding: $0.name, as: UTF8.self).lowercased() == lowered }
                    .map { String(decoding: $0.value, as: UTF8.self) }
            })
    }
}
