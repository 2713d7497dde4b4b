extension ConnectionStateMachine {
    /// The request in flight and its response.
    ///
    /// Its fields are ordered widest first, so that the small ones share the tail instead of each
    /// padding to eight bytes: every connection holds room for one.
    struct Request: Sendable {
        let head: RequestHead
        let startedAt: Double
        /// Body bytes accepted from the application (for Content-Length checks).
        var written: Int64 = 0
        /// The status sent (0 before a head).
        var status = 0
        var bodyBytesSent = 0
        /// The body broke its framing or a limit (or stalled): reads fail; answered if no response started.
        var bodyError: HTTPError?
        var plan: ResponsePlan?
        /// The application's outstanding read, with its maximum.
        var readMax: Int?
        /// When the current wait for the client began (a pending read or write, the final flush).
        var waitingSince: Double?
        var decoder: BodyDecoder
        var end: End = .running
        /// `.startRequest` was returned for it.
        var announced = false
        var continueSent = false
        /// The application's outstanding write.
        var writePending = false
        var cancelAnnounced = false
        /// The client's input ended while the application worked on it: it is cancelled (the
        /// client may have left), and an abort then sends no error response (as for a client gone).
        var inputEndedWhileRunning = false

        init(head: RequestHead, bodyLimit: Int64, now: Double) {
            self.head = head
            decoder = BodyDecoder(framing: head.framing, limit: bodyLimit)
            startedAt = now
        }

        /// The placeholder while no request is in flight: made afresh each time (one retain of a
        /// shared empty head), which costs less than copying a stored one field by field through
        /// its optional payloads.
        static var idle: Request { Request(head: emptyHead, bodyLimit: 0, now: 0) }

        private static let emptyHead = RequestHead.empty()

        var label: String { "\(head.method) \(head.target)" }

        /// Whether the connection ends after this response, known when its head goes out, which
        /// then says `Connection: close` (RFC 9110 §10.1.1): the client still waits for `100
        /// Continue`, which cannot follow a final response, so its body's bytes could not be told
        /// from the next request's. (A body the application may still read after its head is not
        /// judged here: reading it keeps the connection; if it is left unread the close lingers.)
        var awaitsContinueAfterResponse: Bool {
            head.expectsContinue && !continueSent && !decoder.isComplete
        }

    }

    enum End: Sendable, Equatable {
        case running
        /// `finish`: `complete` is false when a fixed-length body came up short.
        case finished(complete: Bool)
        case aborted
    }

    /// What the driver should do next.
    public enum Action: Sendable {
        /// Nothing now: write `outbound`, read while `wantsRead`, and call `tick` from time to time.
        case none
        /// A request head arrived: start the application on it.
        case startRequest(RequestHead)
        /// A PROXY protocol header named the client (nil host: keep the peer address).
        case proxied(host: String?, port: UInt16)
        /// Complete the application's outstanding read.
        case readCompleted(ReadResult)
        /// Complete the application's outstanding write.
        case writeCompleted(CallStatus)
        /// The client went away while the application works on its request: cancel it (the
        /// application must still end the exchange).
        case cancelRequest
        /// The request is over (its response written, or its client gone): account for it.
        case requestCompleted(RequestSummary)
        /// The server refused a request (its answer is queued; the connection closes after it).
        case refused(HTTPError)
        /// A 101 response is out: hand the transport, with these bytes already received after the
        /// request, to the handler of the protocol named in the request's `Upgrade`. The machine is
        /// done with the connection.
        case upgrade(RequestHead, buffered: [UInt8])
        /// Shut the transport's write side (a refusal's answer is out; input is still drained).
        case shutdownWrite
        /// Close the transport; the machine is done.
        case close
        /// A line for the error log.
        case log(Diagnostic)
    }

    /// The outcome of an application read.
    public enum ReadResult: Sendable, Equatable {
        case data([UInt8])
        case end
        case disconnected
        case badBody
    }

    /// The immediate answer to an application call.
    public enum CallStatus: Sendable, Equatable {
        /// Accepted (a read or write completes later through `poll`).
        case ok
        case disconnected
        case invalidState
    }

    /// One served request, for access logs and metrics.
    public struct RequestSummary: Sendable {
        public let head: RequestHead
        /// 0 when no response was sent (the client left first).
        public let status: Int
        public let bodyBytesSent: Int
        /// The response ended as the application meant it (not aborted, not short, not cut off).
        public let complete: Bool
        public let startedAt: Double
        /// The response's fields, kept only when asked for (`keepResponseHeaders`).
        public let responseHeaders: [(name: [UInt8], value: [UInt8])]
    }
}
