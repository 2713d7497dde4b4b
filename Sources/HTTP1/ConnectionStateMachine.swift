/// Every rule of one HTTP/1.1 server connection, without I/O (RFC 9112): reading request heads,
/// 100-continue, decoding request bodies, framing responses, keep-alive and pipelining, discarding
/// unread bodies, refusing malformed input, lingering close and timeouts.
///
/// A driver feeds it events — bytes read, bytes written, the peer closing, the clock — and the
/// application's calls on the request in flight; it asks `poll` what to do next until the answer is
/// `.none`, writes `outbound` to the transport, and reads while `wantsRead` says so. The driver owns
/// the transport (a socket today; TLS sits between the socket and this machine), the threads and the
/// application; the machine owns every protocol decision, so both worker classes share them.
///
/// The machine is a value: one owner mutates it, on one thread at a time.
public struct ConnectionStateMachine: ~Copyable, Sendable {
    /// Limits and timeouts (seconds; 0 disables a timeout where noted).
    public struct Configuration: Sendable {
        public var limits: Limits
        /// How long an idle keep-alive connection may wait for its next request; 0: no keep-alive.
        public var keepAlive: Double
        /// How long a request head may take to arrive, from its first byte (or the accept).
        public var headerTimeout: Double
        /// How long a body read or a response write may wait for the client; 0: no limit.
        public var bodyTimeout: Double
        /// The connection starts with a PROXY protocol header of this version (`.off`: none owed).
        public var proxyProtocol: ProxyProtocol.Version
        /// Input read ahead of the application while it is not reading the body (bounds memory).
        public var readAhead: Int
        /// Buffered output above which an application write waits (backpressure).
        public var highWater: Int
        /// Unread request body discarded to keep a connection; past this it is closed instead.
        public var discardLimit: Int64
        /// How long a refused connection keeps reading (and dropping) input before it closes.
        public var lingerTime: Double
        /// The `Server` header value (nil: none).
        public var server: String?
        /// Each response's fields are kept with its request's summary (an access log format names
        /// response headers).
        public var keepResponseHeaders: Bool

        /// The most input held while a head arrives: the largest head, its final CRLF and the empty
        /// lines allowed before it, and a PROXY protocol header (v2 carries up to 16 + 65 535 bytes).
        var headWindow: Int { limits.maxHeadSize + 20 + (proxyProtocol != .off ? 16 + 65_535 : 0) }

        public init(limits: Limits = Limits(), keepAlive: Double = 2, headerTimeout: Double = 10, bodyTimeout: Double = 60,
                    proxyProtocol: ProxyProtocol.Version = .off, readAhead: Int = 65_536, highWater: Int = 65_536,
                    discardLimit: Int64 = 1 << 20, lingerTime: Double = 2, server: String? = "arbiter",
                    keepResponseHeaders: Bool = false) {
            self.limits = limits
            self.keepAlive = keepAlive
            self.headerTimeout = headerTimeout
            self.bodyTimeout = bodyTimeout
            self.proxyProtocol = proxyProtocol
            self.readAhead = readAhead
            self.highWater = highWater
            self.discardLimit = discardLimit
            self.lingerTime = lingerTime
            self.server = server
            self.keepResponseHeaders = keepResponseHeaders
        }
    }

    /// A configuration shared by the connections that use it, so that each machine holds a
    /// reference instead of its own copy. Immutable.
    public final class SharedConfiguration: Sendable {
        public let configuration: Configuration
        /// `Server: …\r\n`, made once (nil without a `Server` header).
        let serverLine: [UInt8]?
        /// `configuration.headWindow`, computed once.
        let headWindow: Int

        public init(_ configuration: Configuration) {
            self.configuration = configuration
            serverLine = configuration.server.map { Array("Server: \($0)\r\n".utf8) }
            headWindow = configuration.headWindow
        }
    }

    enum Phase: Sendable, Equatable {
        /// Waiting for (or receiving) a request head.
        case head
        /// A request is in flight (`request` is set).
        case request
        /// Refused: the answer is queued; once written, the write side is shut and input dropped
        /// until the peer closes or `until` passes, so that unread request bytes do not make the
        /// kernel reset the connection before the client reads the answer (RFC 9112 §9.6).
        case lingering(until: Double)
        /// Switched to another protocol (a 101 response went out): the transport and the input
        /// after the request belong to that protocol's handler now.
        case upgraded
        /// Closing once the output is written.
        case closing
        case closed
    }

    // Stored widest first, so that the small fields share the tail instead of each padding to
    // eight bytes: every open connection holds one machine.
    let shared: SharedConfiguration
    public var configuration: Configuration { _read { yield shared.configuration } }

    /// Received bytes not consumed yet, from `inputStart`.
    var input: [UInt8] = []
    var inputStart = 0
    /// The head parser's progress (`HeadParser.Progress`); its limits are the configuration's, so
    /// a connection holds no copy of them.
    var headProgress = HeadParser.Progress()
    /// Bytes to write, from `outputStart`.
    var output: [UInt8] = []
    var outputStart = 0
    /// The last progress on the connection (bytes either way).
    var lastActivity: Double
    /// Requests completed on this connection.
    public internal(set) var requestsServed = 0
    /// The request that switched protocols, until `poll` reported the upgrade.
    var upgradedHead: RequestHead?
    /// Messages for the error log, drained by `poll`.
    var diagnostics: [Diagnostic] = []
    /// The request in flight while `phase == .request`; otherwise `Request.idle`, a placeholder,
    /// so that reading a field needs no optional check (a request's fields are read dozens of
    /// times per request).
    var request = Request.idle
    var phase: Phase = .head
    /// A PROXY protocol header must come first.
    var proxyOwed: Bool
    var writeShutAnnounced = false
    /// The peer is gone or the transport failed: nothing more can be read or written.
    var peerGone = false
    /// The client ended its input (end of stream, perhaps a half-close): what is buffered is all
    /// there will be, and responses are still written (RFC 9293 §3.6).
    var inputClosed = false
    /// Keep-alive is still allowed by the server (false while the worker stops or recycles).
    var serverKeepAlive = true
    /// State few connections ever need, out of line (nil until one does): a worker holds one
    /// machine per open connection, and 10,000 idle ones would each carry it inline.
    var rare: Rare?
    /// When the head being received began (accept, or first byte after idle); nil while idle.
    var headStartedAt: Double?

    /// The machine's rarely used state. Owned by its machine alone (one thread at a time, like the
    /// machine itself), which never shares the reference.
    final class Rare: @unchecked Sendable {
        /// A refusal not yet reported by `poll`.
        var pendingRefusal: HTTPError?
        /// The previous request's unread body, skipped before the next head is parsed.
        var discard: BodyDecoder?
        /// While stopping: idle connections close at this time.
        var drainDeadline: Double?
    }

    /// The rare state, made on first use.
    private var rareState: Rare {
        mutating get {
            if let rare { return rare }
            let made = Rare()
            rare = made
            return made
        }
    }

    var pendingRefusal: HTTPError? {
        get { rare?.pendingRefusal }
        set { if newValue != nil || rare != nil { rareState.pendingRefusal = newValue } }
    }

    var discard: BodyDecoder? {
        get { rare?.discard }
        set { if newValue != nil || rare != nil { rareState.discard = newValue } }
    }

    var drainDeadline: Double? {
        get { rare?.drainDeadline }
        set { if newValue != nil || rare != nil { rareState.drainDeadline = newValue } }
    }

    public init(configuration: Configuration, now: Double) {
        self.init(shared: SharedConfiguration(configuration), now: now)
    }

    public init(shared: SharedConfiguration, now: Double) {
        self.shared = shared
        let configuration = shared.configuration
        proxyOwed = configuration.proxyProtocol != .off
        lastActivity = now
        headStartedAt = now
    }

    /// Bytes waiting to be written.
    public var outboundCount: Int { mutating get { output.count - outputStart } }

    /// Calls `body` with the bytes waiting to be written; report what was written with `wrote`.
    public mutating func withOutbound<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try output.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[outputStart...])) }
    }

    /// Input buffered and not consumed yet.
    public var bufferedInput: Int { mutating get { input.count - inputStart } }

    /// Whether the driver should read from the transport now, and at most how many bytes: heads up
    /// to their limit, bodies while the application reads them, and otherwise only a bounded
    /// read-ahead, so memory per connection does not depend on what the client sends.
    public var readBudget: Int { mutating get {
        if peerGone || inputClosed { return 0 }
        switch phase {
        case .closed, .closing, .upgraded: return 0
        case .lingering: return 65_536  // dropped as it arrives
        case .head:
            if discard != nil { return max(0, configuration.readAhead - bufferedInput) }
            return max(0, shared.headWindow - bufferedInput)
        case .request:
            // Also while the application reads the body: the decoder makes progress within any
            // window larger than a chunk line.
            return max(0, configuration.readAhead - bufferedInput)
        }
    } }

    public var wantsRead: Bool { mutating get { readBudget > 0 } }

    /// The most input this machine ever holds (its driver reading within `readBudget`).
    public var inputBound: Int { max(shared.headWindow, configuration.readAhead, 65_536) }

    public var wantsWrite: Bool { mutating get { outboundCount > 0 && !peerGone } }

    /// The connection is between requests with nothing buffered (a graceful stop may close it).
    public var isIdle: Bool { mutating get {
        phase == .head && bufferedInput == 0 && discard == nil && outboundCount == 0
    } }

    /// The peer is gone or the transport failed.
    public var peerIsGone: Bool { mutating get { peerGone } }

    /// The client ended its input (`inputEnded`).
    public var inputHasEnded: Bool { mutating get { inputClosed } }

    /// A request is in flight.
    public var isServing: Bool { mutating get { phase == .request } }

    /// A request is in flight and its application has finished or aborted it.
    public var applicationEnded: Bool { mutating get { phase == .request && request.end != .running } }
}

/// A message for the error log about a connection.
public struct Diagnostic: Sendable, Equatable {
    public enum Level: Sendable, Equatable { case error, warning, info, debug }
    public let level: Level
    public let message: String
}
