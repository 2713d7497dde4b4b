import ArbiterABI
import Glibc
import Dispatch
import HTTP1
import Platform

/// An exchange served with blocking I/O by a request thread that owns the connection (`sync` worker).
/// The application's calls may come from that thread or, for an async application, from its task's
/// thread; they are sequential by the exchange contract, and `done` orders them with the waiter.
final class BlockingExchange: ExchangeBase, @unchecked Sendable {
    let connection: Connection
    let head: RequestHead
    let ioTimeout: Double
    /// Whether the server would keep the connection (asked when the response starts).
    let serverKeepAlive: () -> Bool
    let logger: Logger
    private var decoder: BodyDecoder
    private var continueSent = false
    /// A framing error in the body; answered with its status if the response has not started.
    private(set) var bodyError: HTTPError?

    private var plan: ResponsePlan?
    private var output: [UInt8] = []
    private var written: Int64 = 0
    private(set) var status = 0
    private(set) var bodyBytesSent = 0
    private(set) var ended = false
    /// The connection may serve another request after this one.
    private(set) var reusable = false
    private let done = DispatchSemaphore(value: 0)

    /// The client as resolved through trusted proxies (for the access log).
    var client: Client?
    /// Copy response fields for the access log.
    var keepHeaders = false
    /// The request thread's heartbeat slot, stamped on every read and write (progress).
    private let heartbeat: (page: Heartbeat, slot: Int)

    init(connection: Connection, head: RequestHead, bodyLimit: Int64, ioTimeout: Double, keepAlive: @escaping () -> Bool, logger: Logger,
         heartbeat: (page: Heartbeat, slot: Int)) {
        self.heartbeat = heartbeat
        self.connection = connection
        self.head = head
        self.ioTimeout = ioTimeout
        self.serverKeepAlive = keepAlive
        self.logger = logger
        decoder = BodyDecoder(framing: head.framing, limit: bodyLimit)
        super.init()
    }

    var responseHeaders: [(name: [UInt8], value: [UInt8])] { plan?.headers ?? [] }

    /// Blocks until the application ends the exchange. An asynchronous application runs on other
    /// threads meanwhile: if its client hangs up, `cancel` is called (once) so its task can stop.
    func waitUntilEnded(cancel: () -> Void) {
        var cancelled = false
        while done.wait(timeout: .now() + .milliseconds(250)) == .timedOut {
            if !cancelled && connection.peerClosed() {
                cancelled = true
                cancel()
            }
        }
    }

    override func read(max: Int, context: UnsafeMutableRawPointer?, callback: arbiter_read_cb) {
        if ended { return callback(context, nil, 0, Status.invalidState) }
        if bodyError != nil { return callback(context, nil, 0, Status.badBody) }
        if decoder.isComplete { return callback(context, nil, 0, Status.end) }
        if head.expectsContinue && !continueSent && plan == nil {
            continueSent = true
            if !connection.writeBlocking(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), timeout: ioTimeout) {
                return callback(context, nil, 0, Status.disconnected)
            }
        }
        while true {
            if connection.pending > 0 {
                let step: BodyDecoder.Step
                do {
                    step = try connection.buffer.withUnsafeBufferPointer { all throws(HTTPError) in
                        try decoder.decode(UnsafeBufferPointer(rebasing: all[connection.start...]), maxData: max)
                    }
                } catch {
                    bodyError = error
                    return callback(context, nil, 0, Status.badBody)
                }
                if let data = step.data, !data.isEmpty {
                    heartbeat.page.progress(slot: heartbeat.slot)
                    // Consumed before the callback, which may read again (re-entrantly).
                    let chunk = Array(connection.buffer[(connection.start + data.lowerBound)..<(connection.start + data.upperBound)])
                    connection.consume(step.consumed)
                    chunk.withUnsafeBufferPointer { callback(context, $0.baseAddress, $0.count, Status.ok) }
                    return
                }
                connection.consume(step.consumed)
                if decoder.isComplete { return callback(context, nil, 0, Status.end) }
                if step.consumed > 0 { continue }
            }
            switch connection.readBlocking(timeout: ioTimeout) {
            case .data:
                continue
            case .error(ETIMEDOUT):
                bodyError = HTTPError(408, "request body made no progress within body_timeout")
                return callback(context, nil, 0, Status.badBody)
            case .eof, .error, .wouldBlock:
                return callback(context, nil, 0, Status.disconnected)
            }
        }
    }

    override func sendHead(status: Int, headers: UnsafeBufferPointer<arbiter_header>, contentLength: Int64) -> Int32 {
        guard !ended, plan == nil else { return Status.invalidState }
        guard ResponsePlan.isFinal(status) else {
            logger.error("Invalid response status \(status) from the application for \(head.method) \(head.target)")
            return Status.invalidState
        }
        do {
            plan = try ResponsePlan.make(
                status: status, headers: headers, contentLength: contentLength, request: head, keepAlive: serverKeepAlive(), keepHeaders: keepHeaders)
        } catch {
            logger.error("Invalid response header '\(error.name)' from the application for \(head.method) \(head.target)")
            return Status.invalidState
        }
        self.status = status
        output = plan!.head
        return Status.ok
    }

    override func write(_ bytes: UnsafeRawBufferPointer, context: UnsafeMutableRawPointer?, callback: arbiter_done_cb) {
        guard !ended, let plan else { return callback(context, Status.invalidState) }
        if plan.suppressBody || bytes.isEmpty { return callback(context, Status.ok) }
        var count = bytes.count
        if let length = plan.contentLength {
            count = Int(min(Int64(count), max(0, length - written)))
            if count < bytes.count {
                logger.error("Application wrote more than its Content-Length (\(length)) for \(head.method) \(head.target); extra bytes dropped")
            }
        }
        if count == 0 { return callback(context, Status.ok) }
        if plan.chunked { output.append(contentsOf: ResponseEncoder.chunkHeader(size: count)) }
        output.append(contentsOf: bytes[0..<count])
        if plan.chunked { output.append(contentsOf: ResponseEncoder.chunkTrailer) }
        written += Int64(count)
        bodyBytesSent += count
        heartbeat.page.progress(slot: heartbeat.slot)
        if output.count >= 65_536, !flush() { return callback(context, Status.disconnected) }
        callback(context, Status.ok)
    }

    override func finish(trailers: UnsafeBufferPointer<arbiter_header>) {
        guard !ended, let plan else { return abort() }
        if plan.chunked { output.append(contentsOf: ResponseEncoder.lastChunk(trailers: Self.trailerFields(trailers))) }
        var complete = true
        if let length = plan.contentLength, !plan.suppressBody, written < length {
            logger.error("Application wrote \(written) of its Content-Length \(length) for \(head.method) \(head.target); closing the connection")
            complete = false
        }
        let sent = flush()
        reusable = sent && complete && plan.keepAlive && bodyError == nil && drainRequestBody()
        end()
    }

    override func abort() {
        guard !ended else { return }
        if plan == nil, let bodyError {
            // The body broke its framing before the application answered: answer for it.
            status = bodyError.status
            _ = connection.writeBlocking(
                ResponseEncoder.errorResponse(bodyError, date: DateCache.shared.current(), server: "arbiter"), timeout: ioTimeout)
        }
        reusable = false
        end()
    }

    private func end() {
        ended = true
        done.signal()
    }

    private func flush() -> Bool {
        defer { output.removeAll(keepingCapacity: true) }
        return connection.writeBlocking(output, timeout: ioTimeout)
    }

    /// Reads and discards what is left of the request body so the next request starts at its head;
    /// gives up (closing the connection) past 1 MiB, or when the client waits for `100 Continue`.
    private func drainRequestBody() -> Bool {
        if decoder.isComplete { return true }
        if head.expectsContinue && !continueSent { return false }
        var discarded = 0
        var failed = false
        while !decoder.isComplete && discarded < 1 << 20 && !failed {
            withUnsafeMutablePointer(to: &failed) { flag in
                read(max: 65_536, context: flag) { context, _, _, status in
                    if status != Status.ok && status != Status.end {
                        context!.assumingMemoryBound(to: Bool.self).pointee = true
                    }
                }
            }
            discarded += 65_536
        }
        return decoder.isComplete && !failed
    }
}
