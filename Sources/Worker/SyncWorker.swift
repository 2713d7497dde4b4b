import AppLoader
import ArbiterABI
import CArbiter
import Glibc
import HTTP1
import Platform
import Synchronization

/// The `sync` worker: `--threads` request threads serve requests with blocking I/O, and wait for
/// them on an epoll set of their own (leader/followers: one thread at a time waits there, see
/// `PollerSeat`): the thread that takes a connection's event reads it, serves the request it holds
/// right there, and lets go of it — no hand-off between threads per request. A loop thread accepts,
/// keeps the timers, runs signals and control, and owns WebSockets. Idle keep-alive connections and
/// slow heads never hold a request thread: a thread reads what has arrived without blocking and lets
/// go of the connection until a head is whole.
///
/// A driver of `ConnectionStateMachine`. Plain connections are registered edge-triggered, so epoll
/// reports each arrival once, to one thread (TLS ones one-shot, re-armed after each event);
/// `ServerConnection.holder` says who holds a connection (see `Holder`), and an event for a
/// connection someone holds is passed to the holder, never lost.
final class SyncWorker: ConnectionServer, @unchecked Sendable {
    let context: WorkerContext
    let app: arbiter_app
    /// The logger's level is fixed: whether to build the per-request debug line is decided once.
    private let logsDebug: Bool
    /// The loop thread's: listeners, its wake-up, signals, the control socket, WebSockets.
    private let epoll: Epoll
    /// Request threads wait here, one at a time (`seat`): HTTP connections between requests, and `handed`.
    private let ready: Epoll
    /// Who of the request threads waits in `ready`.
    private let seat = PollerSeat()
    private let wake: WakeUp
    /// Readable while `handedConnections` is not empty (registered level-triggered in `ready`).
    private let handed: WakeUp
    private let signals: SignalPipe
    /// Connections whose next request the loop found ready (rare: the loop drove them at accept,
    /// in a sweep or in a stop);
    /// any thread takes them under the lock, which also drains `handed` once it is empty.
    private let handedConnections = Lock<[ServerConnection]>([])
    /// Connections request threads handed back to the loop: to close, or upgraded to WebSocket.
    private let returned = Lock<[(ServerConnection, close: Bool)]>([])
    /// Set by the loop thread, read by request threads.
    private let stopping = Atomic<Bool>(false)
    /// Set once `max_requests` is reached: no new requests; the master starts a replacement.
    private let recycling = Atomic<Bool>(false)
    private let served = Atomic<Int>(0)
    /// Connections a request thread (or the loop's hand-off) holds right now.
    private let inFlight = Atomic<Int>(0)
    /// Request threads held by a synchronous WebSocket handler (any request thread).
    private let socketThreads = Atomic<Int>(0)
    /// When the all-threads-held warning was last logged (any request thread; a rate limit only).
    private let socketWarningAt = Atomic<Int>(0)
    /// Every open connection, busy or not: changed by the loop thread only, read by request
    /// threads (under the lock) to find the connection an event names.
    private let table = Lock(ConnectionTable())
    /// Loop thread only.
    private var accepting: AcceptPolicy
    private var nextSerial: UInt32 = 0
    private var announcedRecycling = false
    private var lastSweep = 0.0
    /// While stopping: when idle connections are closed (loop thread only).
    private var drainDeadline: Double?
    private let host: Host
    /// The owner of connections the loop holds: between requests, and WebSockets.
    private let loopOwner: LoopThreadOwner
    private var threads: [RequestThread] = []

    /// Values of `ServerConnection.holder`. Whoever moves a connection from `parked` holds it; one
    /// who finds it held marks the event (`…WithEvent`) for the holder, who serves it before
    /// letting go. A holder re-arms the connection, where it needs it (`rearm`), before it lets go.
    enum Holder {
        /// Registered and waiting for an event (a WebSocket: the loop's, between events).
        static let parked = 0
        static let requestThread = 1
        static let requestThreadWithEvent = 2
        /// The loop thread drives it (timers, a graceful stop, a hand-back).
        static let loop = 3
        static let loopWithEvent = 4
        /// A WebSocket in the loop's own set, between events: only the loop takes it.
        static let webSocket = 5
    }

    private static let oneShot = UInt32(ARBITER_EPOLLONESHOT)

    /// - Parameter signals: the signals routed to the loop (none in tests that run it in-process).
    init(context: WorkerContext, signals routed: [Int32] = WorkerMain.signals) {
        self.context = context
        app = context.app.table.pointee
        logsDebug = context.logger.level == .debug
        do {
            epoll = try Epoll()
            ready = try Epoll()
            wake = try WakeUp()
            handed = try WakeUp()
            signals = try SignalPipe(signals: routed)
            try ready.add(handed.fd, events: Events.readable, token: Token.make(Token.wake, handed.fd))
        } catch {
            context.logger.critical("Worker cannot set up its event loop: \(error)")
            exit(WorkerMain.bootFailed)
        }
        loopOwner = LoopThreadOwner(wake: wake)
        host = Host(workerClass: "sync", logger: context.logger, offload: ThreadPool(size: context.settings.offloadThreads, name: "offload"))
        accepting = AcceptPolicy(slack: 0)
    }

    func run() -> Int32 {
        let logger = context.logger
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
        arbiter_set_thread_owner(Unmanaged.passUnretained(loopOwner).toOpaque())
        updateAccepting()
        context.heartbeat.setKind(.requestThreads)
        for index in 0..<context.settings.threads {
            let thread = RequestThread(index: index)
            threads.append(thread)
            startThread(name: "request-\(index)") { [self] in
                arbiter_set_thread_owner(Unmanaged.passUnretained(thread).toOpaque())
                WorkerCounters.adopt(stripe: 2 + index)
                follow(on: thread)
            }
        }
        logger.debug("Worker ready: \(context.settings.threads) request thread(s), application \(context.app.name)")
        if context.app.isBlocking {
            logger.info(SynchronousCodeNotice.requestThreads(name: context.app.name, threads: context.settings.threads))
        } else {
            logger.warning(SynchronousCodeNotice.asynchronousApplication(name: context.app.name))
        }
        context.control.send(.ready)
        loop()
        if let error = Lifespan.run({ done, callback in app.shutdown(app.ctx, done, callback) }) {
            logger.error("Application shutdown failed: \(error)")
        }
        return 0
    }

    private func loop() {
        var events = [UInt32](repeating: 0, count: 128)
        var tokens = [UInt64](repeating: 0, count: 128)
        while true {
            if stopping.load(ordering: .relaxed) && inFlight.load(ordering: .acquiring) == 0 && table.withLock(\.isEmpty) { return }
            context.heartbeat.beat()
            var timeout = 0.25
            if let until = accepting.resumeAt { timeout = min(timeout, max(0, until - Clock.monotonic())) }
            let n = epoll.wait(into: &events, &tokens, timeout: timeout)
            for i in 0..<n {
                let token = tokens[i]
                let fd = Token.fd(token)
                switch Token.kind(token) {
                case Token.listener: acceptConnections(fd)
                case Token.wake: wokenUp()
                case Token.signal: context.handle(signals: signals.drain(), gracefulStop: beginGracefulStop)
                case Token.control:
                    if context.masterIsGone(watchedBy: epoll) { beginGracefulStop(reason: "master exit") }
                default: webSocketEvent(token, events[i])
                }
            }
            sweep()
            updateAccepting()
        }
    }

    /// Never past `worker_connections`; otherwise in turn with the other workers by load — open
    /// connections plus busy request threads — so a busy worker leaves new connections to idle ones.
    /// A worker whose threads are all busy still takes its turn: connections never wait in the listen
    /// queue while the ones already accepted keep a worker busy. A connection that sends nothing
    /// costs a descriptor and a timer, and holds back nothing.
    private var hasRoom: Bool { table.withLock(\.count) < context.settings.workerConnections }

    /// What the scoreboard compares: open connections plus requests being served.
    private var load: Int { table.withLock(\.count) + inFlight.load(ordering: .relaxed) }

    private func updateAccepting() {
        let eligible = !stopping.load(ordering: .relaxed) && !recycling.load(ordering: .relaxed)
        accepting.update(wanted: eligible && hasRoom, now: Clock.monotonic(), epoll: epoll, listeners: context.listeners)
        context.scoreboard?.page.publish(context.scoreboard!.index, connections: load, accepting: eligible)
    }

    private func acceptConnections(_ listenerFD: Int32) {
        // A bounded batch per wake-up, so that one worker does not take every queued connection.
        for _ in 0..<16 {
            guard hasRoom, accepting.mayTakeAnother(connections: load, context: context) else {
                return updateAccepting()
            }
            switch context.acceptOne(from: listenerFD, policy: &accepting) {
            case .none:
                return updateAccepting()
            case .accepted(let fd, let remote, let local, let remoteBytes):
                guard let transport = context.makeTransport(fd: fd, listener: listenerFD, remote: remote) else { continue }
                let connection = ServerConnection(
                    transport: transport, remote: remote, local: local, remoteHostBytes: remoteBytes,
                    configuration: context.connectionConfiguration(for: remote), server: self, owner: loopOwner, now: Clock.monotonic())
                // Held by the loop until it is registered: no request thread can see it before.
                connection.holder.store(Holder.loop, ordering: .relaxed)
                connection.edgeTriggered = !transport.isSecure
                nextSerial &+= 1
                connection.serial = nextSerial
                connection.interest = Events.readable | Events.peerClosed
                table.withLock { $0[fd] = connection }
                do {
                    try ready.add(fd, events: connection.interest | registration(connection), token: token(connection))
                } catch {
                    close(connection)
                    continue
                }
                if context.startsHandshakeOnAccept(transport) { connection.readAvailable() }
                process(connection)
            }
        }
    }

    /// Re-arms the registration for what the machine waits for: in `ready` for HTTP, in the loop's
    /// set for a WebSocket. An edge-triggered one needs nothing when its socket was drained and it
    /// waits for the same events: what arrives next is an edge. (Re-arming also reports input
    /// left unread, which an edge never would.)
    private func rearm(_ connection: ServerConnection) {
        let wanted = connection.wantedEvents
        if isEdgeTriggered(connection) && connection.inputDrained && wanted == connection.interest { return }
        modify(connection, events: wanted)
    }

    /// A request thread about to wait for a body with blocking reads: what arrives meanwhile need
    /// not be reported in `ready`, where each arrival would wake the seat's holder for nothing.
    /// `rearm` restores the registration when the thread lets go.
    private func quiet(_ connection: ServerConnection) {
        guard isEdgeTriggered(connection), connection.interest & Events.readable != 0 else { return }
        modify(connection, events: connection.interest & ~Events.readable)
    }

    /// Registers `events` for a connection in the set it is in, the way it is registered there.
    private func modify(_ connection: ServerConnection, events: UInt32) {
        connection.interest = events
        let set = connection.inLoopSet ? epoll : ready
        try? set.modify(connection.fd, events: events | registration(connection), token: token(connection))
    }

    private func token(_ connection: ServerConnection) -> UInt64 {
        Token.make(Token.connection, connection.fd, serial: connection.serial)
    }

    /// The open connection an event's token names. An event can wait (in the seat's batch) until its
    /// connection was closed and its descriptor given to a new one: the serial tells them apart.
    private func connection(for token: UInt64) -> ServerConnection? {
        guard let connection = table.withLock({ $0[Token.fd(token)] }), Token.carries(token, serial: connection.serial) else { return nil }
        return connection
    }

    /// Edge-triggered in `ready` (plain TCP); one-shot otherwise (TLS, and WebSockets in the loop's set).
    private func isEdgeTriggered(_ connection: ServerConnection) -> Bool {
        connection.edgeTriggered && !connection.inLoopSet
    }

    private func registration(_ connection: ServerConnection) -> UInt32 {
        isEdgeTriggered(connection) ? Events.edgeTriggered : Self.oneShot
    }

    /// Loop thread: closes a connection it or a request thread that handed it back holds.
    private func close(_ connection: ServerConnection) {
        let removed = table.withLock { table in
            guard table[connection.fd] === connection else { return false }
            table[connection.fd] = nil
            return true
        }
        guard removed else { return }
        WorkerCounters.add(WorkerCounters.Field.connectionsClosed)
        (connection.inLoopSet ? epoll : ready).remove(connection.fd)
        connection.transport.close()
    }

    /// Loop thread: takes a parked connection to drive it; false when someone else holds it (who
    /// is told that an event came, and serves it).
    private func hold(_ connection: ServerConnection) -> Bool {
        claim(connection, as: Holder.loop, from: rest(connection))
    }

    /// Loop thread: the state the connection waits in — a WebSocket the loop adopted rests apart,
    /// so that a request thread woken for it before it left `ready` cannot take it.
    private func rest(_ connection: ServerConnection) -> Int {
        connection.inLoopSet ? Holder.webSocket : Holder.parked
    }

    /// Takes a resting connection for `holder`, or marks the event for whoever holds it.
    private func claim(_ connection: ServerConnection, as holder: Int, from resting: Int = Holder.parked) -> Bool {
        while true {
            let current = connection.holder.load(ordering: .acquiring)
            let marked: Int
            switch current {
            case resting:
                if connection.holder.compareExchange(expected: current, desired: holder, ordering: .acquiringAndReleasing).exchanged { return true }
                continue
            case Holder.requestThread: marked = Holder.requestThreadWithEvent
            case Holder.loop: marked = Holder.loopWithEvent
            default: return false  // already marked, or a WebSocket's (the loop's own set reports its events)
            }
            if connection.holder.compareExchange(expected: current, desired: marked, ordering: .acquiringAndReleasing).exchanged { return false }
        }
    }

    /// Lets go of a connection held as `holder` (re-armed already); false when an event was marked
    /// for it meanwhile: the caller still holds it and serves the event.
    private func letGo(_ connection: ServerConnection, heldAs holder: Int) -> Bool {
        let resting = holder == Holder.loop ? rest(connection) : Holder.parked
        if connection.holder.compareExchange(expected: holder, desired: resting, ordering: .acquiringAndReleasing).exchanged { return true }
        connection.holder.store(holder, ordering: .relaxed)
        connection.writeAvailable()
        connection.readAvailable()
        return false
    }

    /// Loop thread: an event on a WebSocket (the only connections in the loop's own set).
    private func webSocketEvent(_ token: UInt64, _ events: UInt32) {
        guard let connection = connection(for: token), hold(connection) else { return }
        connection.handle(events: events)
        process(connection)
    }

    /// Loop thread, holding the connection: drives it without blocking, then lets go of it (or
    /// hands a ready request to the request threads, or closes it).
    private func process(_ connection: ServerConnection) {
        // A WebSocket's application may call after the connection closed (it is answered there).
        guard table.withLock({ $0[connection.fd] }) === connection else { return }
        if let drainDeadline { connection.stopKeepAlive(drainUntil: drainDeadline) }
        while true {
            switch connection.drive() {
            case .start:
                return dispatch(connection)
            case .close:
                return close(connection)
            case .idle:
                if connection.wantsWrite && connection.writeAvailable() { continue }
                if connection.readUnreported() { continue }
                rearm(connection)
                if letGo(connection, heldAs: Holder.loop) { return }
            }
        }
    }

    /// Loop thread: a connection it holds has a request ready; a request thread takes it over.
    private func dispatch(_ connection: ServerConnection) {
        // An event marked for the loop meanwhile stays marked, now for the request thread: an
        // edge-triggered connection gets no second one.
        while true {
            let current = connection.holder.load(ordering: .acquiring)
            let next = current == Holder.loopWithEvent ? Holder.requestThreadWithEvent : Holder.requestThread
            if connection.holder.compareExchange(expected: current, desired: next, ordering: .acquiringAndReleasing).exchanged { break }
        }
        inFlight.add(1, ordering: .relaxed)
        handedConnections.withLock { $0.append(connection) }
        handed.signal()
        updateAccepting()
    }

    /// Request threads finished connections, freed capacity, or reached `max_requests`.
    private func wokenUp() {
        wake.drain()
        let handedBack = returned.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for (connection, shouldClose) in handedBack {
            if shouldClose {
                close(connection)
                continue
            }
            // Upgraded to WebSocket: it moves to the loop's set, which it never leaves.
            connection.holder.store(Holder.loop, ordering: .releasing)
            connection.inLoopSet = true
            ready.remove(connection.fd)
            try? epoll.add(connection.fd, events: Events.peerClosed | Self.oneShot, token: token(connection))
            connection.writeAvailable()
            connection.readAvailable()
            process(connection)
        }
        loopOwner.runPosted()
        if let limit = context.requestLimit, recycling.load(ordering: .relaxed), !announcedRecycling {
            announcedRecycling = true
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
        accepting.close(epoll: epoll, listeners: context.listeners)
        drainDeadline = context.closeListeners()
        lastSweep = 0
        sweep()
    }

    /// Timeouts of the connections no request thread holds (at most four times a second).
    private func sweep() {
        let now = Clock.monotonic()
        guard now - lastSweep >= 0.25 else { return }
        lastSweep = now
        for connection in table.withLock(\.values) where connection.holder.load(ordering: .relaxed) == rest(connection) {
            guard hold(connection) else { continue }
            if let drainDeadline { connection.stopKeepAlive(drainUntil: drainDeadline) }
            if connection.transport.expired(now: now) {
                close(connection)
                continue
            }
            // A retiring WebSocket's 1001 close frame goes out (once; then its close timeout runs).
            if connection.tick(now: now) || (drainDeadline != nil && connection.isWebSocket) {
                process(connection)
            } else if !letGo(connection, heldAs: Holder.loop) {
                process(connection)  // an event came while the loop held it
            }
        }
    }

    // MARK: request threads

    /// A request thread's life: take the seat, take the next connection with news from `ready` (or
    /// one the loop handed over), leave the seat, serve the connection, let go of it, again.
    private func follow(on thread: RequestThread) {
        while true {
            seat.take()
            let (connection, events) = nextConnection()
            seat.leave()
            // The thread's turn clock, as on an event loop: what this thread does for the
            // connection reads the clock once, not at every stamp. It ends wherever code runs that
            // may block or run long (the application, a wait on the client) and starts again after.
            let start = Clock.startTurn()
            if let events {
                inFlight.add(1, ordering: .relaxed)
                connection.owner = thread
                connection.handle(events: events)
            }
            let ran = serve(connection, on: thread)
            let end = Clock.turn()  // when its application's code or the last wait ended
            Clock.endTurn()
            if ran { seat.served(seconds: end - start) }
        }
    }

    /// The seat's holder: the next connection for this thread, with its event (nil for one the loop
    /// handed over, held for a request thread already). An event for a connection someone else holds
    /// is marked for its holder on the way, and one for a connection that is gone is dropped,
    /// without giving the seat up.
    private func nextConnection() -> (ServerConnection, events: UInt32?) {
        while true {
            let (events, token) = seat.nextEvent(in: ready)
            if Token.kind(token) == Token.wake {
                // Drained under the lock once the list is empty, also when another thread took the
                // last one: `handed` is level-triggered.
                let next = handedConnections.withLock { list -> ServerConnection? in
                    let first = list.isEmpty ? nil : list.removeFirst()
                    if list.isEmpty { handed.drain() }
                    return first
                }
                if let next { return (next, nil) }
                continue
            }
            guard let connection = connection(for: token), claim(connection, as: Holder.requestThread) else { continue }
            return (connection, events)
        }
    }

    /// On a request thread that holds the connection: serves the request it holds, then any
    /// request already pipelined behind it, then lets go of it (or hands it to the loop to close).
    /// A head still arriving is not waited for: the connection is let go of and the thread is free.
    /// Whether a request ran.
    private func serve(_ connection: ServerConnection, on thread: RequestThread) -> Bool {
        connection.owner = thread
        var ran = false
        while true {
            // Upgraded to WebSocket and handed to the loop (by `service`): no longer this thread's.
            if connection.detached {
                released()
                return ran
            }
            if stopping.load(ordering: .relaxed) || recycling.load(ordering: .relaxed) {
                connection.machine.stopKeepAlive(drainUntil: nil)
            }
            if let head = connection.takeStart() {
                ran = true
                run(head, on: connection, thread: thread)
                if connection.detached {
                    released()
                    return ran
                }
            }
            let outcome = pump(connection)
            if connection.detached {
                handOver(connection)
                released()
                return ran
            }
            switch outcome {
            case .start:
                continue
            case .close:
                handBack(connection, close: true, thread: thread)
                return ran
            case .idle:
                if connection.readUnreported() { continue }
                guard connection.machine.isServing else {
                    if handBack(connection, close: false, thread: thread) { return ran }
                    continue  // an event came meanwhile: serve it here
                }
                // The application runs elsewhere (an async application's task): carry out its
                // calls, and notice a client that leaves.
                Clock.endTurn()
                let posted = thread.runPosted(waitingUpTo: 0.25)
                Clock.startTurn()
                if !posted {
                    switch connection.transport.peekEnd() {
                    case .inputEnded: connection.machine.inputEnded()
                    case .failed: connection.machine.peerClosed()
                    case nil: break
                    }
                    connection.machine.tick(now: Clock.monotonic())
                }
            }
        }
    }

    /// Starts the application on a request, on this request thread (a synchronous application
    /// serves it right here).
    private func run(_ head: RequestHead, on connection: ServerConnection, thread: RequestThread) {
        let label = head.methodRange.lowerBound..<head.targetRange.upperBound
        let micros = UInt64(Clock.turn() * 1_000_000)
        head.withBytes { context.heartbeat.begin(slot: thread.index, label: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[label])), at: micros) }
        if logsDebug {
            context.logger.debug("Request started: \(head.method) \(head.target) from \(connection.remote?.display ?? "-")")
        }
        let exchange = connection.makeExchange(head)
        WorkerCounters.add(WorkerCounters.Field.requestsStarted)
        connection.heartbeatSlot = thread.index
        // A synchronous application runs to its end inside `handle`, and may wait there for work on
        // other threads that calls the exchange: lend it the connection meanwhile.
        // (Only then is `owner` written during a request: other threads read it to route calls.)
        // The application's code may run long: its calls read the clock, and the turn starts anew after it.
        Clock.endTurn()
        defer { Clock.startTurn() }
        if context.app.isBlocking {
            connection.owner = LentOwner.shared
            let token = connection.handle(exchange)
            if connection.detached {
                // A WebSocket handler ran here to its end; its connection is the loop's now.
                socketThreads.subtract(1, ordering: .relaxed)
                let call = UnsafeCall(context: token)
                connection.owner.post { exchange.tokenArrived(call.context) }
                return
            }
            connection.owner = thread
            exchange.tokenArrived(token)
        } else {
            exchange.tokenArrived(connection.handle(exchange))
        }
    }

    /// Drives a connection with blocking I/O until it needs neither a write nor a read for the
    /// application; a wait gives up on the client after `body_timeout` (the machine's clock).
    ///
    /// Waiting on the client counts as progress on the heartbeat: the application is not stuck,
    /// and the client's pace is `body_timeout`'s to judge. Otherwise a client that stops reading
    /// would get the whole worker killed by `timeout` (equal by default) before its own
    /// connection is closed.
    private func pump(_ connection: ServerConnection) -> ServerConnection.Outcome {
        while true {
            let outcome = connection.drive()
            guard case .idle = outcome, !connection.detached else { return outcome }
            if connection.machine.wantsWrite {
                if !connection.writeAvailable() { waitOnClient(connection, readable: false) }
                continue
            }
            if connection.waitsForBody {
                if !connection.readAvailable() {
                    quiet(connection)
                    waitOnClient(connection, readable: true)
                }
                continue
            }
            return .idle
        }
    }

    /// Blocks up to a second for the client to become readable or writable, then starts the
    /// thread's turn clock anew; a wait that ends with the client not ready counts as progress on
    /// the heartbeat (see `pump`) and lets the machine check its timeouts.
    private func waitOnClient(_ connection: ServerConnection, readable: Bool) {
        let ready = connection.transport.wait(readable: readable, timeout: 1)
        let now = Clock.startTurn()
        guard !ready else { return }
        progressedWaitingOnClient(connection)
        connection.machine.tick(now: now)
    }

    /// An application call waits for I/O: on the request thread that owns the connection, do it
    /// until the call completes.
    func service(_ connection: ServerConnection) {
        // The loop thread's (a WebSocket): non-blocking, like any event.
        if loopOwner.isCurrent {
            if hold(connection) { process(connection) }
            return
        }
        guard connection.owner.isCurrent else { return }
        // A pending call, or an accepted WebSocket that the request thread hands to the loop.
        guard connection.hasPendingCall || connection.isWebSocket else { return }
        _ = pump(connection)
        if connection.detached { handOver(connection) }
    }

    /// Right after the `pump` whose `drive` upgraded it: gives the connection to the loop, the
    /// last time this thread touches it.
    private func handOver(_ connection: ServerConnection) {
        returned.withLock { $0.append((connection, false)) }
        wake.signal()
        // A synchronous handler keeps this thread for the socket's life: say when that starves the worker.
        guard context.app.isBlocking else { return }
        let held = socketThreads.add(1, ordering: .relaxed).newValue
        let now = Int(Clock.monotonic())
        let last = socketWarningAt.load(ordering: .relaxed)
        if held >= context.settings.threads, now - last >= 60,
           socketWarningAt.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged {
            context.logger.warning("All \(context.settings.threads) request thread(s) are held by open WebSockets: new requests "
                + "wait until one closes (raise --threads, or serve WebSockets from an AsyncApplication with -k async)")
        }
    }

    /// A WebSocket moved from a request thread to the loop; the connection, from the moment it
    /// was handed over, is not touched here.
    func upgraded(_ connection: ServerConnection) {
        guard !loopOwner.isCurrent else { return }
        connection.owner = loopOwner
        connection.detached = true
    }

    /// The request thread is free again after handing its connection to the loop.
    private func released() {
        inFlight.subtract(1, ordering: .sequentiallyConsistent)
        wake.signal()
    }

    /// A wait on the client counts as progress while `body_timeout` judges the client; with it
    /// off (0), `timeout` stays the backstop, or a client that stops reading would hold a request
    /// thread forever.
    private func progressedWaitingOnClient(_ connection: ServerConnection) {
        if connection.machine.configuration.bodyTimeout > 0 { progressed(connection) }
    }

    func progressed(_ connection: ServerConnection) {
        if connection.heartbeatSlot >= 0 { context.heartbeat.progress(slot: connection.heartbeatSlot) }
    }

    func requestCompleted(_ connection: ServerConnection, _ exchange: Exchange, _ summary: ConnectionStateMachine.RequestSummary) {
        if connection.heartbeatSlot >= 0 { context.heartbeat.end(slot: connection.heartbeatSlot) }
        let count = served.add(1, ordering: .relaxed).newValue
        context.heartbeat.countServed(UInt64(count))
        if let limit = context.requestLimit, count >= limit, !recycling.exchange(true, ordering: .relaxed) {
            wake.signal()
        }
        context.logAccess(summary, client: exchange.client)
        WorkerContext.count(summary)
    }

    /// The request thread is done with the connection: the loop closes it, or it waits for its next
    /// head. Re-armed (where it needs it) before it is let go, so no other thread can have closed it
    /// (and reused its descriptor). False when an event came meanwhile: this thread still holds it.
    @discardableResult
    private func handBack(_ connection: ServerConnection, close: Bool, thread: RequestThread) -> Bool {
        if close {
            connection.owner = loopOwner
            returned.withLock { $0.append((connection, true)) }
            released()
            return true
        }
        connection.writeAvailable()
        connection.owner = loopOwner
        rearm(connection)
        guard letGo(connection, heldAs: Holder.requestThread) else {
            connection.owner = thread
            return false
        }
        inFlight.subtract(1, ordering: .sequentiallyConsistent)
        // A stopping worker ends once nothing is in flight: tell the loop now.
        if stopping.load(ordering: .relaxed) || recycling.load(ordering: .relaxed) { wake.signal() }
        return true
    }
}
