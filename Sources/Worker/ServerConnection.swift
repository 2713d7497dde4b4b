import ArbiterABI
import CArbiter
import Glibc
import HTTP1
import Platform
import Synchronization

/// The thread that owns a connection now; calls made on other threads are posted to it.
protocol ConnectionOwner: AnyObject, Sendable {
    /// The calling thread is the owner.
    var isCurrent: Bool { get }
    /// Runs `work` on the owner thread, soon.
    func post(_ work: @escaping () -> Void)
}

/// What a worker class does for its connections. Called on the connection's owner thread.
protocol ConnectionServer: AnyObject {
    var context: WorkerContext { get }
    /// An application call waits for I/O: do it (async: write and re-arm; sync: block until the
    /// call completes).
    func service(_ connection: ServerConnection)
    /// The application's read or write made progress (sync: the heartbeat's per-thread stamp).
    func progressed(_ connection: ServerConnection)
    /// A request is over: access log, heartbeat, counters. The one place every request passes.
    func requestCompleted(_ connection: ServerConnection, _ exchange: Exchange, _ summary: ConnectionStateMachine.RequestSummary)
    /// The connection switched to WebSocket (on its owner thread, inside `drive`). WebSocket I/O
    /// belongs to the worker's loop thread: a request thread hands the connection over (`detached`).
    func upgraded(_ connection: ServerConnection)
}

/// One client connection of a worker: its transport, the HTTP/1 machine that owns every protocol
/// rule, and the application's exchange for the request in flight.
///
/// Owner: one thread at a time — the worker's loop thread (async worker; sync worker: WebSockets,
/// timers), or the sync worker's request thread that holds it (`holder`).
/// Nothing here is touched by two threads at once; `owner` says where application calls go.
final class ServerConnection: @unchecked Sendable {
    // Stored widest first, so that the small fields share the tail instead of each padding to
    // eight bytes: a worker holds one per open connection.
    let transport: any Transport
    unowned let server: any ConnectionServer
    /// The application's table (`LoadedApp.table`, which lives as long as the process): read
    /// through this pointer, the calls of every request touch no reference count, as the
    /// `unowned` worker's would.
    let app: UnsafePointer<arbiter_app>
    /// Where application calls go. Read from any thread during a request; written only between
    /// requests by the thread that holds the connection (and around a synchronous application's
    /// `handle`, while every call it makes happens before `handle` returns).
    var owner: ConnectionOwner
    /// The peer's address as bytes for every request's C view (shared with other connections from
    /// the same address).
    private(set) var remoteHostBytes: [UInt8]
    /// The listener that accepted it: the local address, shared by all its connections.
    let listenerName: ListenerName
    /// The request in flight, from its start until the machine completes it.
    private(set) var current: Exchange?
    private var cancelledExchange: Exchange?
    /// A head the machine announced that the driver has not started yet.
    private var startable: RequestHead?
    /// Sync worker: who holds the connection — `SyncWorker.Holder` values: nobody (parked in
    /// epoll), a request thread or the loop, each also "with an event" that another thread was
    /// woken for and left to the holder. Any thread; compare-and-exchange, acquire/release.
    let holder = Atomic<Int>(0)
    /// After a `101` to a WebSocket handshake: the session that speaks on the transport now.
    var webSocket: WebSocketSession?
    /// The exchange that upgraded, which lives until both the application and the connection end it.
    var webSocketExchange: Exchange?
    private var pendingRead: (context: UnsafeMutableRawPointer?, callback: arbiter_read_cb)?
    private var pendingWrite: (context: UnsafeMutableRawPointer?, callback: arbiter_done_cb)?
    /// The peer, or the client a PROXY protocol header named.
    private(set) var remote: SocketName?
    // Four one-byte fields in the gap `remote` leaves before the machine.
    /// Whether the peer may set forwarding fields (decided once per connection).
    var peerTrusted: Bool?
    private var driving = false
    /// Sync worker: a WebSocket moved to the loop's own epoll set (loop thread only).
    var inLoopSet = false
    /// Sync worker: the request thread gave the connection to the loop thread during `drive` (an
    /// upgrade); written and read by that request thread only, which must not touch it again.
    var detached = false
    var machine: ConnectionStateMachine
    /// The events registered with epoll (async worker: the loop's, with the edge-triggered flag
    /// when registered so; sync worker: whoever holds the connection, without the edge-triggered
    /// or one-shot flag).
    var interest: UInt32 = 0
    /// Sync worker: tells this connection's epoll events from those of an earlier connection on the
    /// same descriptor (its token carries it). Set by the loop before it registers the connection.
    var serial: UInt32 = 0
    /// The heartbeat slot listing the request in flight (async worker: the loop's; sync worker:
    /// the request thread's), -1 for none. 32 bits, to sit with the fields above.
    private var slot: Int32 = -1
    var heartbeatSlot: Int {
        get { Int(slot) }
        set { slot = Int32(truncatingIfNeeded: newValue) }
    }
    /// Plain TCP, registered edge-triggered while it speaks HTTP. Sync worker: a request thread
    /// that lets go of it with its socket drained need not re-arm it; else one-shot (TLS: its
    /// session can hold input that epoll does not see). Async worker: see
    /// `AsyncWorker.registration`. Set by the loop before it registers the connection.
    var edgeTriggered = false
    /// The last read ended with the socket drained (a short read, or nothing to read): anything
    /// that arrives later is a new edge. False when reading stopped at the read-ahead bound.
    /// Whoever reads the connection writes it.
    private(set) var inputDrained = false
    /// Async worker: a request waits to start in `AsyncWorker.deferredStarts` until application
    /// code returns (loop thread).
    var waitsToStart = false
    /// Async worker: the application's `handle` runs for this connection's request, inside the
    /// `service` that started it, which carries on once `handle` returns: an exchange call's
    /// `kick` leaves the connection to it (loop thread).
    var handling = false
    /// An event reported the client's FIN (EPOLLRDHUP) before its input was read to the end (the
    /// read budget was spent): the end is found by reading on, and no longer watched for, since
    /// the event would be reported again at every wait (owner thread).
    var inputEndSeen = false

    init(transport: any Transport, remote: SocketName?, local: ListenerName, remoteHostBytes: [UInt8],
         configuration: ConnectionStateMachine.SharedConfiguration, server: any ConnectionServer, owner: ConnectionOwner, now: Double) {
        self.transport = transport
        self.remote = remote
        listenerName = local
        self.remoteHostBytes = remoteHostBytes
        machine = ConnectionStateMachine(shared: configuration, now: now)
        self.server = server
        app = server.context.app.table
        self.owner = owner
    }

    var fd: Int32 { transport.fd }
    /// The local address.
    var local: SocketName? { listenerName.name }
    var localHostBytes: [UInt8] { listenerName.hostBytes }
    /// The peer's port (0 for a Unix-socket peer).
    var remotePort: UInt16 { remote?.port ?? 0 }
    /// The scheme the client reached the server by: `https` over TLS, else `http`.
    var scheme: StaticString { transport.isSecure ? "https" : "http" }

    /// The application has an outstanding read or write.
    var hasPendingCall: Bool { pendingRead != nil || pendingWrite != nil }
    var waitsForBody: Bool { pendingRead != nil }

    enum Outcome {
        /// The machine waits for I/O (see `wantsRead`, `wantsWrite`) or for the application.
        case idle
        /// A request head is ready: start the application (`takeStart`).
        case start
        /// The connection is done: close the transport.
        case close
    }

    /// Carries out the machine's actions until it needs the driver.
    func drive() -> Outcome {
        if startable != nil { return .start }
        if driving { return .idle }
        driving = true
        defer { driving = false }
        if let webSocket, !webSocket.upgrading { return driveWebSocket(webSocket) }
        let now = Clock.turn()
        while true {
            switch machine.poll(now: now) {
            case .none:
                return .idle
            case .startRequest(let head):
                startable = head
                return .start
            case .close:
                if webSocket != nil { endWebSocket() }
                return .close
            case .proxied(let host, let port):
                if let host {
                    remote = SocketName(host: host, port: port, isUnix: false)
                    remoteHostBytes = Array(host.utf8)
                }
            case .readCompleted(let result):
                guard let read = pendingRead else { continue }
                pendingRead = nil
                server.progressed(self)
                switch result {
                case .data(let chunk): chunk.withUnsafeBufferPointer { read.callback(read.context, $0.baseAddress, $0.count, Status.ok) }
                case .end: read.callback(read.context, nil, 0, Status.end)
                case .disconnected: read.callback(read.context, nil, 0, Status.disconnected)
                case .badBody: read.callback(read.context, nil, 0, Status.badBody)
                }
            case .writeCompleted(let status):
                guard let write = pendingWrite else { continue }
                pendingWrite = nil
                server.progressed(self)
                write.callback(write.context, Status.of(status))
            case .cancelRequest:
                guard let exchange = current else { continue }
                server.context.logger.debug("Client gone during \(exchange.head.method) \(exchange.head.target); cancelling its request")
                cancelledExchange = exchange
                if exchange.tokenKnown { app.pointee.cancel(app.pointee.ctx, exchange.token) }
            case .requestCompleted(let summary):
                guard let exchange = current else { continue }
                current = nil
                cancelledExchange = nil
                server.requestCompleted(self, exchange, summary)
                // An upgraded exchange lives on as the WebSocket's handle.
                if !exchange.webSocketAccepted { exchange.markCompleted() }
            case .upgrade(let head, let buffered):
                guard let session = webSocket else {
                    // A 101 the application sent itself, for a protocol this server does not speak.
                    server.context.logger.error("\(head.method) \(head.target) switched to '\(head.field("upgrade") ?? "")', "
                        + "which this server has no handler for; closing the connection")
                    return .close
                }
                session.upgraded(buffered: buffered, now: now)
                server.upgraded(self)
                if detached { return .idle }
                return driveWebSocket(session)
            case .shutdownWrite:
                transport.shutdownWrite()
            case .log(let diagnostic):
                server.context.logger.log(diagnostic.level.logLevel, diagnostic.message)
            case .refused(let error):
                server.context.logger.debug("Rejected request from \(remote?.display ?? "-"): \(error)")
            }
        }
    }

    /// The head to start the application on, once.
    func takeStart() -> RequestHead? {
        defer { startable = nil }
        return startable
    }

    /// Makes the exchange for a request the machine started.
    func makeExchange(_ head: RequestHead) -> Exchange {
        let forwarded = Client.forwarded(head: head, connection: self, trust: server.context.forwardedTrust)
        let exchange = Exchange(connection: self, head: head, forwarded: forwarded)
        current = exchange
        return exchange
    }

    /// Calls the application's `handle` (on any thread that may run it); returns its token.
    func handle(_ exchange: Exchange) -> UnsafeMutableRawPointer? {
        let app = app.pointee
        return RequestView.with(head: exchange.head, connection: self, forwarded: exchange.forwarded) { view in
            app.handle(app.ctx, view, exchange.raw)
        }
    }

    func cancelled(_ exchange: Exchange) -> Bool { cancelledExchange === exchange }

    /// Completes the application's WebSocket calls; once the connection is over, ends the
    /// exchange's part in it and answers `.close`.
    private func driveWebSocket(_ session: WebSocketSession) -> Outcome {
        session.completeCalls()
        guard session.isFinished else { return .idle }
        endWebSocket()
        return .close
    }

    /// The WebSocket connection is over: the exchange is complete if the application ended it
    /// too; otherwise its receive has ended and its work is cancelled.
    private func endWebSocket() {
        guard let session = webSocket else { return }
        if !session.isFinished { session.transportClosed() }  // closed before the upgrade completed
        if let exchange = webSocketExchange {
            if let problem = session.problem {
                server.context.logger.info("\(exchange.head.method) \(exchange.head.target) from \(remote?.display ?? "-"): \(problem)")
            }
            webSocketExchange = nil
            if exchange.ended {
                exchange.markCompleted()
            } else {
                // The application still works on it: its receive ended; cancel the rest.
                cancelledExchange = exchange
                exchange.connectionEnded = true
                if exchange.tokenKnown { app.pointee.cancel(app.pointee.ctx, exchange.token) }
            }
        }
        session.completeCalls()
    }

    /// The application called with the connection's machine in mind: let the driver act.
    func kick() {
        if !driving && !handling { server.service(self) }
    }
}

/// What the drivers ask of a connection, whichever protocol it speaks now.
extension ServerConnection {
    // Not `webSocket?.x ?? machine.x`: the autoclosure would copy the machine on every call.
    var wantsRead: Bool {
        if let webSocket { return webSocket.wantsRead }
        return machine.wantsRead
    }

    var wantsWrite: Bool {
        if let webSocket { return webSocket.wantsWrite }
        return machine.wantsWrite
    }

    var peerIsGone: Bool {
        if let webSocket { return webSocket.peerGone }
        return machine.peerIsGone
    }

    func peerClosed() {
        if let webSocket { webSocket.transportClosed() } else { machine.peerClosed() }
    }

    /// An epoll event on the socket (owner thread). A FIN alone is the end of the client's input,
    /// which may be a half-close: HTTP reads on to it and still answers what came before; a
    /// WebSocket's peer is gone.
    func handle(events: UInt32) {
        if events & Events.writable != 0 { writeAvailable() }
        if events & Events.readable != 0 {
            readAvailable()
        } else if events & Events.failed != 0 || (webSocket != nil && events & Events.peerClosed != 0) {
            peerClosed()
        } else if events & Events.peerClosed != 0 {
            inputEndSeen = true
            readAvailable()
        }
    }

    /// The events to wait for: reading while the protocol reads, writing while output waits, and
    /// the peer's FIN while it may still come and is not read anyway. None once the peer is gone.
    var wantedEvents: UInt32 {
        if peerIsGone { return 0 }
        var wanted: UInt32 = 0
        if webSocket != nil || !(inputEndSeen || machine.inputHasEnded) { wanted = Events.peerClosed }
        if wantsRead { wanted |= Events.readable }
        if wantsWrite || transport.wantsWrite { wanted |= Events.writable }
        return wanted
    }

    /// Time passed; true when the connection has something to do (drive it).
    @discardableResult
    func tick(now: Double) -> Bool {
        guard let webSocket else { return machine.tick(now: now) }
        return webSocket.tick(now: now)
    }

    /// The worker retires: HTTP serves what is in flight and closes idle connections after
    /// `drainUntil`; a WebSocket is closed with 1001 (going away).
    func stopKeepAlive(drainUntil: Double?) {
        if let webSocket { webSocket.goAway(now: Clock.monotonic()) } else { machine.stopKeepAlive(drainUntil: drainUntil) }
    }

    /// An open WebSocket (a long-lived connection the worker closes with 1001 when it retires).
    var isWebSocket: Bool { webSocket != nil
    }
}

/// The application's calls, on the owner thread.
extension ServerConnection {
    func applicationRead(_ exchange: Exchange, max: Int, context: UnsafeMutableRawPointer?, callback: arbiter_read_cb) {
        guard current === exchange, pendingRead == nil else { return callback(context, nil, 0, Status.invalidState) }
        let status = machine.applicationRead(max: max, now: Clock.turn())
        guard status == .ok else { return callback(context, nil, 0, Status.of(status)) }
        pendingRead = (context, callback)
        kick()
    }

    func applicationSendHead(_ exchange: Exchange, status: Int, fieldCount: Int,
                             field: (Int) -> (name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>),
                             contentLength: Int64) -> Int32 {
        guard current === exchange else { return Status.invalidState }
        let result = machine.applicationSendHead(
            status: status, fieldCount: fieldCount, field: field, contentLength: contentLength)
        if result != .ok { kick() }  // the log line
        return Status.of(result)
    }

    func applicationWrite(_ exchange: Exchange, _ bytes: UnsafeRawBufferPointer, context: UnsafeMutableRawPointer?, callback: arbiter_done_cb) {
        guard current === exchange, pendingWrite == nil else { return callback(context, Status.invalidState) }
        let status = machine.applicationWrite(bytes, now: Clock.turn())
        guard status == .ok else { return callback(context, Status.of(status)) }
        pendingWrite = (context, callback)
        kick()
    }

    /// Head, body and end in one call: no completion to wait for.
    func applicationRespond(_ exchange: Exchange, status: Int, fieldCount: Int,
                            field: (Int) -> (name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>),
                            body: UnsafeRawBufferPointer) -> Int32 {
        guard current === exchange, pendingWrite == nil else { return Status.invalidState }
        let now = Clock.turn()
        let result = machine.applicationSendHead(
            status: status, fieldCount: fieldCount, field: field, contentLength: Int64(body.count), whole: true)
        if result == .ok {
            // The write completes through `poll` with no callback waiting for it.
            _ = machine.applicationWrite(body, now: now)
            machine.applicationFinish(trailers: [], now: now)
        }
        kick()
        return Status.of(result)
    }

    func applicationFinish(_ exchange: Exchange, trailers: [(name: [UInt8], value: [UInt8])]) {
        if exchange.webSocketAccepted { return webSocketEnded(exchange, code: CloseCodeValue.normal) }
        guard current === exchange else { return }
        machine.applicationFinish(trailers: trailers, now: Clock.turn())
        kick()
    }

    func applicationAbort(_ exchange: Exchange) {
        if exchange.webSocketAccepted { return webSocketEnded(exchange, code: CloseCodeValue.internalError) }
        guard current === exchange else { return }
        machine.applicationAbort(now: Clock.turn())
        kick()
    }
}

/// Moving bytes between the transport and the machine.
extension ServerConnection {
    /// Reads what the transport has, within the machine's budget; true when bytes arrived or the
    /// peer closed (the machine has news).
    @discardableResult
    func readAvailable() -> Bool {
        if let webSocket { return readWebSocket(webSocket) }
        var news = false
        let scratch = UnsafeMutableRawBufferPointer(start: arbiter_thread_scratch(), count: Int(ARBITER_SCRATCH_SIZE))
        while true {
            let budget = machine.readBudget
            guard budget > 0 else {
                inputDrained = false
                return news
            }
            let room = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<min(budget, scratch.count)])
            switch transport.read(into: room) {
            case .bytes(let n):
                WorkerCounters.add(WorkerCounters.Field.bytesReceived, n)
                machine.received(UnsafeRawBufferPointer(rebasing: room[0..<n]), now: Clock.turn())
                news = true
                // A short read drained the socket: epoll reports what comes next (level-triggered,
                // or as a new edge), but not what a TLS session holds already decrypted.
                if n < room.count && !transport.hasBufferedInput {
                    inputDrained = true
                    return news
                }
            case .wouldBlock:
                inputDrained = true
                return news
            case .eof:
                inputDrained = true
                machine.inputEnded()
                return true
            case .error:
                inputDrained = true
                machine.peerClosed()
                return true
            }
        }
    }

    /// Writes what the transport takes now; true when anything was written or the peer is gone.
    @discardableResult
    func writeAvailable() -> Bool {
        if let webSocket { return writeWebSocket(webSocket) }
        var news = false
        if transport.wantsWrite { transport.flush() }
        while machine.wantsWrite {
            let result = machine.withOutbound { transport.write($0) }
            switch result {
            case .bytes(let n) where n > 0:
                WorkerCounters.add(WorkerCounters.Field.bytesSent, n)
                machine.wrote(n, now: Clock.turn())
                news = true
            case .wouldBlock, .bytes:
                return news
            case .eof, .error:
                machine.peerClosed()
                return true
            }
        }
        return news
    }
}

extension Diagnostic.Level {
    var logLevel: Logger.Level {
        switch self {
        case .error: .error
        case .warning: .warning
        case .info: .info
        case .debug: .debug
        }
    }
}

/// A listener's address, made once and shared by every connection it accepts.
final class ListenerName: Sendable {
    let name: SocketName?
    /// The host as bytes for every request's C view.
    let hostBytes: [UInt8]

    init(_ name: SocketName?) {
        self.name = name
        hostBytes = Array((name?.host ?? "").utf8)
    }

    /// For a connection from no known listener.
    static let none = ListenerName(nil)
}
