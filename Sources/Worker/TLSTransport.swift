import Glibc
import HTTP1
import Platform
import TLS

/// TLS over a connected, non-blocking socket: ciphertext moves between the socket and a
/// `TLSSession` (memory BIOs), plaintext between the session and the HTTP machine.
///
/// The handshake runs inside `read`: whenever the driver reads (the socket was readable), the
/// session advances and its flights are sent; the driver sees `.wouldBlock` until plaintext
/// arrives, so a handshaking connection is one more connection waiting for its head, never a
/// blocked thread. It costs its descriptor, a timer (`expired`) and the session's buffers.
///
/// Ciphertext crosses the calling thread's buffer (`TLSSession.threadBuffer`), never a buffer of the
/// connection's: an idle connection holds nothing but the session. The transport remembers what it
/// knows of the session's buffers (nothing queued for the socket after a flush drained it, no
/// input left after OpenSSL asked for more) so that the common request asks OpenSSL nothing twice.
///
/// Owner: the thread that owns the connection (`ServerConnection`), one at a time.
final class TLSTransport: Transport {
    let fd: Int32
    private let session: TLSSession
    /// The peer, for the one log line a failing connection gets (formatted only then).
    private let remote: SocketName?
    private let logger: Logger
    /// Until when the handshake may run; nil once it completed.
    private var handshakeDeadline: Double?
    /// Plaintext the HTTP machine offered that is encrypted but not yet all on the socket: it is
    /// reported written once the socket took its ciphertext, so the machine never closes early.
    private var unacknowledged = 0
    /// Ciphertext taken from the session that the socket did not take yet.
    private var pendingOutput: [UInt8] = []
    /// After `shutdownWrite`: close_notify is sent and input is only drained (RFC 8446 §6.1).
    private var draining = false
    /// The peer's input ended (end of stream, close_notify, an error): nothing buffered is read.
    private var ended = false
    /// The verified client certificate as the request view carries it, made at the first request.
    private var certificateBytes: ClientCertificateBytes?
    /// The session may hold ciphertext for the socket: set by every call that can queue some,
    /// cleared when a flush found it empty.
    private var outputQueued = false
    /// The session may hold input (ciphertext not yet decrypted, or plaintext of a record not yet
    /// read): set when ciphertext went in or plaintext came out, cleared when OpenSSL asked for
    /// more. While clear, a read goes straight to the socket instead of asking `SSL_read` first.
    private var inputQueued = false
    /// A TLS error ended the connection (logged once).
    private var failed = false
    /// Whether the peer sent anything: one that connects and leaves silently (a port probe) is
    /// not a TLS failure worth a log line.
    private var receivedAny = false
    private(set) var closed = false
    /// The `Server` field of the answer to a plain HTTP request (nil: none).
    private let serverHeader: String?

    /// Plaintext per record, and so per encrypted write: one TLS record (RFC 8446 §5.1).
    static let recordSize = 16_384

    init(fd: Int32, session: TLSSession, remote: SocketName?, logger: Logger, handshakeTimeout: Double, now: Double,
         serverHeader: String? = nil) {
        self.fd = fd
        self.session = session
        self.remote = remote
        self.logger = logger
        self.serverHeader = serverHeader
        handshakeDeadline = now + handshakeTimeout
    }

    private var peer: String { remote?.display ?? "-" }

    var isSecure: Bool { true }

    var wantsWrite: Bool {
        if !pendingOutput.isEmpty { return true }
        guard outputQueued else { return false }
        if session.wantsWrite { return true }
        outputQueued = false
        return false
    }

    var hasBufferedInput: Bool {
        guard !failed, !draining, !ended, inputQueued else { return false }
        if session.hasBufferedInput { return true }
        inputQueued = false
        return false
    }

    /// The verified client certificate (mutual TLS) for the request view: empty without one.
    /// Made once per connection: every request on it has the same client.
    var clientCertificate: ClientCertificateBytes {
        if let certificateBytes { return certificateBytes }
        var made = ClientCertificateBytes()
        if let certificate = session.peerCertificate {
            made = ClientCertificateBytes(
                subject: Array(certificate.subject.utf8), issuer: Array(certificate.issuer.utf8),
                pem: Array((session.peerCertificatePEM() ?? "").utf8))
        }
        certificateBytes = made
        return made
    }

    func expired(now: Double) -> Bool {
        guard let deadline = handshakeDeadline, now >= deadline, !failed else { return false }
        // One that sent nothing at all (a port probe, a pre-opened connection) is not a failure worth a line.
        let line = "TLS connection from \(peer) failed: handshake not completed within the handshake timeout"
        if receivedAny { logger.info(line) } else { logger.debug(line) }
        failed = true
        return true
    }

    // MARK: Reading

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        if failed { return .error(EPROTO) }
        if draining { return readRaw(into: buffer) }
        while true {
            if inputQueued {
                // SSL_read may also queue output: a KeyUpdate's answer, an alert.
                outputQueued = true
                do {
                    switch try session.readPlaintext(into: buffer) {
                    case .bytes(let count): return .bytes(count)
                    case .closed:
                        ended = true
                        return .eof
                    case .needsCiphertext: inputQueued = false
                    }
                } catch {
                    return fail(error)
                }
            }
            switch receiveCiphertext() {
            case .bytes: continue
            case .wouldBlock: return .wouldBlock
            case .eof:
                if !receivedAny {
                    ended = true
                    failed = true
                    return .eof
                }
                // Plaintext decrypted before the end is still read; then `.closed` ends it.
                inputQueued = true
                outputQueued = true
                do { try session.receiveEndOfStream() } catch { return fail(error) }
            case .error(let code):
                ended = true
                return .error(code)
            }
        }
    }

    /// One socket read into the session; advances the handshake and sends its flights.
    private func receiveCiphertext() -> IOResult {
        guard let scratch = TLSSession.threadBuffer else { return .error(ENOMEM) }
        let result = readRaw(into: scratch)
        guard case .bytes(let count) = result else { return result }
        if !receivedAny && Self.startsPlainHTTP(scratch[0]) {
            receivedAny = true
            return answerPlainHTTP()
        }
        receivedAny = true
        inputQueued = true
        outputQueued = true
        do throws(TLSError) {
            try session.receive(ciphertext: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
        } catch {
            return fail(error)
        }
        if handshakeDeadline != nil, session.state == .established { handshakeDeadline = nil }
        flush()  // may reuse the buffer: the session holds the ciphertext now
        return result
    }

    /// A TLS connection starts with a record, whose first byte is its content type (20–23, RFC 8446
    /// §5.1; a ClientHello's 22); an HTTP/1 request starts with its method, a token the standard
    /// methods spell in capitals (RFC 9110 §9.1).
    static func startsPlainHTTP(_ first: UInt8) -> Bool {
        first >= UInt8(ascii: "A") && first <= UInt8(ascii: "Z")
    }

    /// A plain HTTP request on a TLS listener: answered 400 in plain text, saying so (as nginx
    /// does), so that the client learns its mistake instead of seeing the connection drop; then
    /// the connection ends.
    private func answerPlainHTTP() -> IOResult {
        let answer = ResponseEncoder.errorResponse(
            HTTPError(400, "plain HTTP on a TLS listener"), date: DateCache.shared.current(), server: serverHeader,
            explanation: "this port speaks HTTPS, and the request came as plain HTTP")
        _ = answer.withUnsafeBytes { sendSome($0) }
        logger.info("Plain HTTP request from \(peer) on a TLS listener: answered 400")
        failed = true
        ended = true
        shutdown(fd, Int32(SHUT_WR))
        return .error(EPROTO)
    }

    private func readRaw(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        SocketTransport.read(fd, into: buffer)
    }

    // MARK: Writing

    func write(_ bytes: UnsafeRawBufferPointer) -> IOResult {
        if failed || draining { return .error(EPIPE) }
        // Before the handshake completes there is no channel for application data (a 408 for a
        // client that never finished it): the connection just closes.
        guard session.state == .established else { return .error(EPROTO) }
        flush()
        if failed { return .error(EPIPE) }
        if unacknowledged > 0 {
            if wantsWrite { return .wouldBlock }
            defer { unacknowledged = 0 }
            return .bytes(unacknowledged)
        }
        if wantsWrite { return .wouldBlock }
        let count = min(bytes.count, Self.recordSize)
        outputQueued = true
        do {
            try session.send(plaintext: UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
        } catch {
            return fail(error)
        }
        flush()
        if failed { return .error(EPIPE) }
        if wantsWrite {
            unacknowledged = count
            return .wouldBlock
        }
        return .bytes(count)
    }

    func flush() {
        guard !closed else { return }
        while !failed && !pendingOutput.isEmpty {
            let sent = pendingOutput.withUnsafeBytes { sendSome($0) }
            guard sent > 0 else { return }
            if sent == pendingOutput.count {
                pendingOutput = []  // gives the buffer back: an idle connection holds none
            } else {
                pendingOutput.removeFirst(sent)
                return
            }
        }
        // The common case: records go from the session to the socket through the thread's buffer;
        // only what the socket does not take is kept.
        guard outputQueued, !failed else { return }
        guard let scratch = TLSSession.threadBuffer else {
            failed = true
            return
        }
        while !failed {
            let taken = session.takeCiphertext(into: scratch)
            if taken > 0 {
                let sent = sendSome(UnsafeRawBufferPointer(rebasing: scratch[0..<taken]))
                if sent < taken {
                    if !failed { pendingOutput = Array(scratch[max(0, sent)..<taken]) }
                    return
                }
            }
            if taken < scratch.count {
                outputQueued = false  // the session gave all it held
                return
            }
        }
    }

    /// Sends what the socket takes of `bytes` now; 0 when it takes nothing (also on an error,
    /// which marks the transport failed).
    private func sendSome(_ bytes: UnsafeRawBufferPointer) -> Int {
        while true {
            let n = send(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            if errno != EAGAIN && errno != EWOULDBLOCK { failed = true }
            return 0
        }
    }

    // MARK: Closing

    /// Sends close_notify and half-closes: the peer sees the end of the response; what it still
    /// sends is read and dropped (the machine's lingering close).
    func shutdownWrite() {
        guard !closed, !draining else { return }
        draining = true
        if session.state == .established {
            session.close()
            outputQueued = true
        }
        flush()
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Queues close_notify (RFC 8446 §6.1), sends what the socket takes now, and closes.
    func close() {
        guard !closed else { return }
        if !failed && session.state == .established {
            session.close()
            outputQueued = true
        }
        flush()
        closed = true
        Descriptor.close(fd)
    }

    /// Logs the connection's TLS failure once, sends any alert the session queued, and reports an
    /// error to the driver, which closes the connection.
    private func fail(_ error: TLSError) -> IOResult {
        ended = true
        if !failed {
            // Handshake failures are the client's problem (scanners, old clients, refused
            // certificates): info, not error, so they cannot flood an operator's error log level.
            logger.info("TLS connection from \(peer) failed: \(error.message)")
            outputQueued = true  // an alert, perhaps
            flush()
            failed = true
        }
        return .error(EPROTO)
    }
}

/// A verified client certificate as bytes for the C request view (all empty without one).
struct ClientCertificateBytes {
    var subject: [UInt8] = []
    var issuer: [UInt8] = []
    var pem: [UInt8] = []
}
