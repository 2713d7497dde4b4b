import ArbiterABI
import HTTP1
import Platform

/// An exchange of the async worker. Its state lives on the loop thread; calls from other threads
/// (a synchronous application on the pool, a task on another executor) copy their arguments and
/// are replayed on the loop. Callbacks always run on the loop thread.
final class LoopExchange: ExchangeBase, @unchecked Sendable {
    unowned let connection: AsyncConnection
    let head: RequestHead
    let loop: Loop
    let started = Clock.monotonic()
    /// `GET /path` (the request line up to the target), for the heartbeat.
    var labelRange: Range<Int> { head.methodRange.lowerBound..<head.targetRange.upperBound }
    private var decoder: BodyDecoder
    private var continueSent = false
    private(set) var bodyError: HTTPError?
    private var pendingRead: (max: Int, context: UnsafeMutableRawPointer?, callback: arbiter_read_cb)?
    private var pendingWrite: (context: UnsafeMutableRawPointer?, callback: arbiter_done_cb)?
    private(set) var plan: ResponsePlan?
    private var written: Int64 = 0
    private(set) var status = 0
    private(set) var bodyBytesSent = 0
    /// The application called finish or abort.
    private(set) var ended = false
    private(set) var aborted = false
    /// The client went away (its task was cancelled).
    private(set) var disconnected = false
    private var complete = true
    var token: UnsafeMutableRawPointer?
    var tokenKnown = false
    /// The client as resolved through trusted proxies.
    var client: Client?
    /// When the pending read or write began waiting for the client (for `body_timeout`).
    private var waitingSince: Double?
    /// Task jobs of this request (for naming a request that blocks the loop).
    var jobs: [UnsafeMutableRawPointer] = []
    let logger: Logger

    /// Bytes buffered for the client above which a write waits (response backpressure).
    static let highWater = 65_536

    init(connection: AsyncConnection, head: RequestHead, loop: Loop, bodyLimit: Int64, logger: Logger) {
        self.connection = connection
        self.head = head
        self.loop = loop
        self.logger = logger
        decoder = BodyDecoder(framing: head.framing, limit: bodyLimit)
        super.init()
    }

    var bodyComplete: Bool { decoder.isComplete }
    /// The server is done with the request (response flushed or connection gone).
    var completed = false

    /// What is left of the request body, to discard before the next request; nil when the
    /// connection cannot be reused for it (the client still waits for `100 Continue`).
    func remainingBody() -> BodyDecoder? {
        if head.expectsContinue && !continueSent { return nil }
        return decoder
    }
    var wantsBody: Bool { pendingRead != nil }
    /// The response may be followed by another request on this connection.
    var reusable: Bool { !aborted && complete && (plan?.keepAlive ?? false) && bodyError == nil }

    override func read(max: Int, context: UnsafeMutableRawPointer?, callback: arbiter_read_cb) {
        guard Loop.onLoopThread else {
            let call = UnsafeCall(context: context)
            return loop.execute { self.read(max: max, context: call.context, callback: callback) }
        }
        if ended || pendingRead != nil { return callback(context, nil, 0, Status.invalidState) }
        if bodyError != nil { return callback(context, nil, 0, Status.badBody) }
        if disconnected { return callback(context, nil, 0, Status.disconnected) }
        if decoder.isComplete { return callback(context, nil, 0, Status.end) }
        if head.expectsContinue && !continueSent && plan == nil {
            continueSent = true
            connection.queue(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
            connection.flush()
            if disconnected { return callback(context, nil, 0, Status.disconnected) }
        }
        pendingRead = (max, context, callback)
        waitingSince = Clock.monotonic()
        deliverBody()
    }

    /// Completes a pending read from buffered bytes, if there are any.
    func deliverBody() {
        guard let read = pendingRead else { return }
        let io = connection.io
        while io.pending > 0 {
            let step: BodyDecoder.Step
            do {
                step = try io.buffer.withUnsafeBufferPointer { all throws(HTTPError) in
                    try decoder.decode(UnsafeBufferPointer(rebasing: all[io.start...]), maxData: read.max)
                }
            } catch {
                bodyError = error
                pendingRead = nil
                return read.callback(read.context, nil, 0, Status.badBody)
            }
            if let data = step.data, !data.isEmpty {
                pendingRead = nil
                // Consumed before the callback, which may read again (re-entrantly).
                let chunk = Array(io.buffer[(io.start + data.lowerBound)..<(io.start + data.upperBound)])
                io.consume(step.consumed)
                connection.updateInterest()
                chunk.withUnsafeBufferPointer { read.callback(read.context, $0.baseAddress, $0.count, Status.ok) }
                return
            }
            io.consume(step.consumed)
            if decoder.isComplete || step.consumed == 0 { break }
        }
        if decoder.isComplete {
            pendingRead = nil
            read.callback(read.context, nil, 0, Status.end)
        }
        connection.updateInterest()
    }

    override func sendHead(status: Int, headers: UnsafeBufferPointer<arbiter_header>, contentLength: Int64) -> Int32 {
        guard ResponsePlan.isFinal(status) else {
            logger.error("Invalid response status \(status) from the application for \(head.method) \(head.target)")
            return Status.invalidState
        }
        let plan: ResponsePlan
        do {
            plan = try ResponsePlan.make(
                status: status, headers: headers, contentLength: contentLength, request: head,
                keepAlive: connection.worker.allowsKeepAlive(head), keepHeaders: connection.worker.context.keepResponseHeaders)
        } catch {
            logger.error("Invalid response header '\(error.name)' from the application for \(head.method) \(head.target)")
            return Status.invalidState
        }
        guard Loop.onLoopThread else {
            let call = UnsafeCall(context: nil)
            loop.execute { _ = call; self.start(plan, status: status) }
            return Status.ok
        }
        return start(plan, status: status)
    }

    @discardableResult
    private func start(_ plan: ResponsePlan, status: Int) -> Int32 {
        guard !ended, self.plan == nil else { return Status.invalidState }
        self.plan = plan
        self.status = status
        connection.queue(plan.head)
        return Status.ok
    }

    override func write(_ bytes: UnsafeRawBufferPointer, context: UnsafeMutableRawPointer?, callback: arbiter_done_cb) {
        guard Loop.onLoopThread else {
            let copy = Array(bytes)
            let call = UnsafeCall(context: context)
            return loop.execute { copy.withUnsafeBytes { self.write($0, context: call.context, callback: callback) } }
        }
        guard !ended, pendingWrite == nil, let plan else { return callback(context, Status.invalidState) }
        if disconnected { return callback(context, Status.disconnected) }
        if plan.suppressBody || bytes.isEmpty { return callback(context, Status.ok) }
        var count = bytes.count
        if let length = plan.contentLength {
            count = Int(min(Int64(count), max(0, length - written)))
            if count < bytes.count {
                logger.error("Application wrote more than its Content-Length (\(length)) for \(head.method) \(head.target); extra bytes dropped")
            }
        }
        if count > 0 {
            if plan.chunked { connection.queue(ResponseEncoder.chunkHeader(size: count)) }
            connection.queue(UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
            if plan.chunked { connection.queue(ResponseEncoder.chunkTrailer) }
            written += Int64(count)
            bodyBytesSent += count
        }
        connection.flush()
        if connection.buffered <= Self.highWater {
            callback(context, Status.ok)
        } else {
            pendingWrite = (context, callback)
            waitingSince = Clock.monotonic()
            connection.updateInterest()
        }
    }

    /// The client drained the output below the high-water mark (or went away).
    func outputDrained() {
        guard let write = pendingWrite, connection.buffered <= Self.highWater || disconnected else { return }
        pendingWrite = nil
        write.callback(write.context, disconnected ? Status.disconnected : Status.ok)
    }

    override func finish(trailers: UnsafeBufferPointer<arbiter_header>) {
        guard Loop.onLoopThread else {
            let fields = Self.trailerFields(trailers)
            return loop.execute { self.finish(fields: fields) }
        }
        finish(fields: Self.trailerFields(trailers))
    }

    private func finish(fields: [(name: [UInt8], value: [UInt8])]) {
        guard !ended else { return }
        guard let plan else { return abort() }
        if plan.chunked { connection.queue(ResponseEncoder.lastChunk(trailers: fields)) }
        if let length = plan.contentLength, !plan.suppressBody, written < length {
            logger.error("Application wrote \(written) of its Content-Length \(length) for \(head.method) \(head.target); closing the connection")
            complete = false
        }
        ended = true
        waitingSince = Clock.monotonic()
        connection.exchangeEnded(self)
    }

    override func abort() {
        guard Loop.onLoopThread else { return loop.execute { self.abort() } }
        guard !ended else { return }
        if plan == nil, let bodyError, !disconnected {
            status = bodyError.status
            connection.queue(ResponseEncoder.errorResponse(bodyError, date: DateCache.shared.current(), server: "arbiter"))
        }
        aborted = true
        ended = true
        waitingSince = Clock.monotonic()
        connection.exchangeEnded(self)
    }

    /// A pending read or write has waited for the client longer than `limit`.
    func stalled(now: Double, limit: Double) -> Bool {
        let waiting = pendingRead != nil || pendingWrite != nil || (ended && connection.buffered > 0)
        guard waiting, let since = waitingSince else { return false }
        return now - since > limit
    }

    /// Progress on the connection (bytes arrived for a read, or drained for a write).
    func madeProgress() {
        if waitingSince != nil { waitingSince = Clock.monotonic() }
    }

    /// The request body stopped arriving: the read fails, and the response (if none started) is 408.
    func bodyStalled() {
        guard let read = pendingRead else { return }
        pendingRead = nil
        bodyError = HTTPError(408, "request body made no progress within body_timeout")
        read.callback(read.context, nil, 0, Status.badBody)
    }

    /// The client went away: fail what waits for it; the owner cancels the task.
    func clientGone() {
        guard !disconnected else { return }
        disconnected = true
        if let read = pendingRead {
            pendingRead = nil
            read.callback(read.context, nil, 0, Status.disconnected)
        }
        outputDrained()
    }
}

/// A C context pointer moved to the loop thread with the call it belongs to.
struct UnsafeCall: @unchecked Sendable {
    let context: UnsafeMutableRawPointer?
}
