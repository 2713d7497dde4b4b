import ArbiterABI
import CArbiter
import Dispatch
import Glibc
import HTTP1

/// The server side of one request, reached from the application through `arbiter_exchange`.
///
/// Every call is carried out on the thread that owns the connection (`ConnectionOwner`): a call
/// made on another thread — a synchronous application on the async worker's pool, an async
/// application's task in the sync worker — is posted there with its arguments copied, and
/// `send_head` waits for the owner's answer. Callbacks run on the owner thread.
///
/// Lifetime: the C handle holds the one strong reference, from `handle` until the request is
/// complete and the application's token released (`releaseIfDone`), so the exchange forms no
/// cycle with its connection. Fields other than `raw` are touched on the owner thread only.
final class Exchange: @unchecked Sendable {
    let raw: UnsafeMutablePointer<arbiter_exchange>
    let connection: ServerConnection
    let head: RequestHead
    /// The application's token for `cancel` and `release`, once `handle` returned it.
    private(set) var token: UnsafeMutableRawPointer?
    /// Task jobs of this request (async worker: to name the request whose job blocks the loop).
    var jobs = JobPointers()
    /// The client as resolved through trusted proxies, when that is not the peer itself: boxed,
    /// since most requests have none and each holds its exchange for its lifetime.
    private let forwardedClient: ForwardedClient?
    /// The client as resolved through trusted proxies.
    var client: Client { forwardedClient?.client ?? Client.peer(of: connection) }
    /// The client trusted forwarding fields named, if any.
    var forwarded: Client? { forwardedClient?.client }
    /// `GET /path` (the request line up to the target), for heartbeat labels.
    var labelRange: Range<Int> { head.methodRange.lowerBound..<head.targetRange.upperBound }
    private(set) var tokenKnown = false
    /// The connection is done with the request.
    private(set) var completed = false
    private var released = false
    /// The application accepted a WebSocket handshake: the exchange outlives the request.
    var webSocketAccepted = false
    /// WebSocket: the application called `finish` or `abort`.
    var ended = false
    /// WebSocket: the connection is over (the application's calls are answered at once).
    var connectionEnded = false

    init(connection: ServerConnection, head: RequestHead, forwarded: Client?) {
        self.connection = connection
        self.head = head
        forwardedClient = forwarded.map(ForwardedClient.init)
        // From the thread's cache of handles (malloc's alignment, which suits the two pointers).
        assert(MemoryLayout<arbiter_exchange>.size <= Int(ARBITER_HANDLE_SIZE))
        raw = arbiter_handle_alloc()!.bindMemory(to: arbiter_exchange.self, capacity: 1)
        raw.initialize(to: arbiter_exchange(calls: Self.callTable, server_data: nil))
        raw.pointee.server_data = Unmanaged.passRetained(self).toOpaque()
    }

    deinit {
        arbiter_handle_free(raw)
    }

    /// `handle` returned the application's token (owner thread).
    func tokenArrived(_ token: UnsafeMutableRawPointer?) {
        self.token = token
        tokenKnown = true
        if connection.cancelled(self) { connection.app.pointee.cancel(connection.app.pointee.ctx, token) }
        releaseIfDone()
    }

    /// The connection completed the request (owner thread).
    func markCompleted() {
        completed = true
        releaseIfDone()
    }

    /// Once the request is complete and the token known: release the token, then this object.
    private func releaseIfDone() {
        guard completed, tokenKnown, !released else { return }
        released = true
        let app = connection.app.pointee
        app.release(app.ctx, token)
        Unmanaged<Exchange>.fromOpaque(raw.pointee.server_data!).release()
    }

    private var owner: ConnectionOwner { connection.owner }

    static func from(_ ex: UnsafeMutablePointer<arbiter_exchange>?) -> Exchange {
        Unmanaged<Exchange>.fromOpaque(ex!.pointee.server_data!).takeUnretainedValue()
    }

    func read(max: Int, context: UnsafeMutableRawPointer?, callback: arbiter_read_cb) {
        if owner.isCurrent { return connection.applicationRead(self, max: max, context: context, callback: callback) }
        let call = UnsafeCall(context: context)
        owner.post { self.connection.applicationRead(self, max: max, context: call.context, callback: callback) }
    }

    func sendHead(status: Int, headers: UnsafeBufferPointer<arbiter_header>, contentLength: Int64) -> Int32 {
        if owner.isCurrent {
            return connection.applicationSendHead(self, status: status, fieldCount: headers.count, field: { Self.field(headers[$0]) },
                                                  contentLength: contentLength)
        }
        let fields = Self.copy(headers)
        return answeredOnOwner {
            fields.withFieldViews { views in
                self.connection.applicationSendHead(self, status: status, fieldCount: views.count, field: { views[$0] }, contentLength: contentLength)
            }
        }
    }

    func write(_ bytes: UnsafeRawBufferPointer, context: UnsafeMutableRawPointer?, callback: arbiter_done_cb) {
        if owner.isCurrent { return connection.applicationWrite(self, bytes, context: context, callback: callback) }
        let copy = Array(bytes)
        let call = UnsafeCall(context: context)
        owner.post { copy.withUnsafeBytes { self.connection.applicationWrite(self, $0, context: call.context, callback: callback) } }
    }

    func respond(status: Int, headers: UnsafeBufferPointer<arbiter_header>, body: UnsafeRawBufferPointer) -> Int32 {
        if owner.isCurrent {
            return connection.applicationRespond(self, status: status, fieldCount: headers.count, field: { Self.field(headers[$0]) }, body: body)
        }
        let fields = Self.copy(headers)
        let copy = Array(body)
        return answeredOnOwner {
            fields.withFieldViews { views in
                copy.withUnsafeBytes { body in
                    self.connection.applicationRespond(self, status: status, fieldCount: views.count, field: { views[$0] }, body: body)
                }
            }
        }
    }

    /// Runs a call that answers at once on the owner thread, and waits for its answer.
    private func answeredOnOwner(_ call: @escaping () -> Int32) -> Int32 {
        let answer = Answer()
        owner.post { answer.give(call()) }
        return answer.wait()
    }

    func finish(trailers: UnsafeBufferPointer<arbiter_header>) {
        let fields = Self.copy(trailers)
        if owner.isCurrent { return connection.applicationFinish(self, trailers: fields) }
        owner.post { self.connection.applicationFinish(self, trailers: fields) }
    }

    func abort() {
        if owner.isCurrent { return connection.applicationAbort(self) }
        owner.post { self.connection.applicationAbort(self) }
    }

    func acceptWebSocket(subprotocol: String?, headers: UnsafeBufferPointer<arbiter_header>) -> Int32 {
        let fields = Self.copy(headers)
        if owner.isCurrent { return connection.applicationAcceptWebSocket(self, subprotocol: subprotocol, fields: fields) }
        return answeredOnOwner { self.connection.applicationAcceptWebSocket(self, subprotocol: subprotocol, fields: fields) }
    }

    func receiveMessage(context: UnsafeMutableRawPointer?, callback: arbiter_ws_message_cb) {
        if owner.isCurrent { return connection.applicationWebSocketReceive(self, context: context, callback: callback) }
        let call = UnsafeCall(context: context)
        owner.post { self.connection.applicationWebSocketReceive(self, context: call.context, callback: callback) }
    }

    func sendMessage(kind: Int32, _ bytes: UnsafeRawBufferPointer, context: UnsafeMutableRawPointer?, callback: arbiter_done_cb) {
        if owner.isCurrent { return connection.applicationWebSocketSend(self, kind: kind, bytes, context: context, callback: callback) }
        let copy = Array(bytes)
        let call = UnsafeCall(context: context)
        owner.post { copy.withUnsafeBytes { self.connection.applicationWebSocketSend(self, kind: kind, $0, context: call.context, callback: callback) } }
    }

    func closeWebSocket(code: UInt16, reason: String) {
        if owner.isCurrent { return connection.applicationWebSocketClose(self, code: code, reason: reason) }
        owner.post { self.connection.applicationWebSocketClose(self, code: code, reason: reason) }
    }

    /// Owned copies of borrowed fields, for a call that crosses threads.
    private static func copy(_ views: UnsafeBufferPointer<arbiter_header>) -> [(name: [UInt8], value: [UInt8])] {
        func bytes(_ view: arbiter_bytes) -> [UInt8] {
            view.base.map { Array(UnsafeBufferPointer(start: $0, count: view.length)) } ?? []
        }
        return views.map { (name: bytes($0.name), value: bytes($0.value)) }
    }

    private static func field(_ view: arbiter_header) -> (name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) {
        (UnsafeBufferPointer(start: view.name.base, count: view.name.base == nil ? 0 : view.name.length),
         UnsafeBufferPointer(start: view.value.base, count: view.value.base == nil ? 0 : view.value.length))
    }

    nonisolated(unsafe) static let callTable: UnsafePointer<arbiter_exchange_calls> = {
        let table = UnsafeMutablePointer<arbiter_exchange_calls>.allocate(capacity: 1)
        table.initialize(to: arbiter_exchange_calls(
            struct_size: MemoryLayout<arbiter_exchange_calls>.size,
            read: { ex, max, ctx, cb in Exchange.from(ex).read(max: max, context: ctx, callback: cb!) },
            send_head: { ex, status, headers, count, length in
                Exchange.from(ex).sendHead(
                    status: Int(status), headers: UnsafeBufferPointer(start: headers, count: count), contentLength: length)
            },
            write: { ex, data, length, ctx, cb in
                Exchange.from(ex).write(UnsafeRawBufferPointer(start: data, count: length), context: ctx, callback: cb!)
            },
            finish: { ex, trailers, count in Exchange.from(ex).finish(trailers: UnsafeBufferPointer(start: trailers, count: count)) },
            abort: { ex in Exchange.from(ex).abort() },
            respond: { ex, status, headers, count, body, length in
                Exchange.from(ex).respond(
                    status: Int(status), headers: UnsafeBufferPointer(start: headers, count: count),
                    body: UnsafeRawBufferPointer(start: body, count: length))
            },
            websocket_accept: { ex, subprotocol, headers, count in
                Exchange.from(ex).acceptWebSocket(
                    subprotocol: subprotocol.map { String(cString: $0) }, headers: UnsafeBufferPointer(start: headers, count: count))
            },
            websocket_receive: { ex, ctx, cb in Exchange.from(ex).receiveMessage(context: ctx, callback: cb!) },
            websocket_send: { ex, kind, data, length, ctx, cb in
                Exchange.from(ex).sendMessage(kind: kind, UnsafeRawBufferPointer(start: data, count: length), context: ctx, callback: cb!)
            },
            websocket_close: { ex, code, reason, length in
                let text = reason.map { String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self) } ?? ""
                Exchange.from(ex).closeWebSocket(code: code, reason: text)
            }))
        return UnsafePointer(table)
    }()
}

/// A value one thread hands to another that waits for it.
private final class Answer: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    /// Written by the giving thread before `signal`, read by the waiting one after `wait`.
    private var value = Status.invalidState

    func give(_ status: Int32) {
        value = status
        ready.signal()
    }

    func wait() -> Int32 {
        ready.wait()
        return value
    }
}

extension Array where Element == (name: [UInt8], value: [UInt8]) {
    /// Borrowed views of owned fields.
    func withFieldViews<R>(_ body: ([(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>)]) -> R) -> R {
        var views: [(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>)] = []
        views.reserveCapacity(count)
        func collect(_ index: Int) -> R {
            if index == count { return body(views) }
            return self[index].name.withUnsafeBufferPointer { name in
                self[index].value.withUnsafeBufferPointer { value in
                    views.append((name, value))
                    return collect(index + 1)
                }
            }
        }
        return collect(0)
    }
}

/// The ABI's status values as the `Int32` the C callbacks take.
enum Status {
    static let ok = Int32(ARBITER_OK)
    static let end = Int32(ARBITER_END)
    static let disconnected = Int32(ARBITER_ERR_DISCONNECTED)
    static let badBody = Int32(ARBITER_ERR_BAD_BODY)
    static let invalidState = Int32(ARBITER_ERR_STATE)
    static let refused = Int32(ARBITER_ERR_REFUSED)

    static func of(_ call: ConnectionStateMachine.CallStatus) -> Int32 {
        switch call {
        case .ok: ok
        case .disconnected: disconnected
        case .invalidState: invalidState
        }
    }
}

/// A C context pointer moved to the owner thread with the call it belongs to.
struct UnsafeCall: @unchecked Sendable {
    let context: UnsafeMutableRawPointer?
}

/// A client that trusted forwarding fields named (see `Exchange.client`).
final class ForwardedClient {
    let client: Client
    init(_ client: Client) { self.client = client }
}
