import Glibc
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
/// Owner: the thread that owns the connection (`ServerConnection`), one at a time.
final class TLSTransport: Transport {
    let fd: Int32
    private let session: TLSSession
    /// The peer, for the one log line a failing connection gets.
    private let peer: String
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
    /// A TLS error ended the connection (logged once).
    private var failed = false
    /// Whether the peer sent anything: one that connects and leaves silently (a port probe) is
    /// not a TLS failure worth a log line.
    private var receivedAny = false
    private(set) var closed = false

    /// Plaintext per record, and so per encrypted write: one TLS record (RFC 8446 §5.1).
    static let recordSize = 16_384
    /// A socket read: one full record with its header and the largest expansion (RFC 8446 §5.2).
    static let readSize = 16_384 + 256 + 5

    init(fd: Int32, session: TLSSession, peer: String, logger: Logger, handshakeTimeout: Double, now: Double) {
        self.fd = fd
        self.session = session
        self.peer = peer
        self.logger = logger
        handshakeDeadline = now + handshakeTimeout
    }

    var isSecure: Bool { true }
    var wantsWrite: Bool { !pendingOutput.isEmpty || session.wantsWrite }
    var hasBufferedInput: Bool { !failed && !draining && !ended && session.hasBufferedInput }

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
        logger.debug("TLS handshake from \(peer) not completed within the handshake timeout; closing the connection")
        failed = true
        return true
    }

    // MARK: Reading

    func read(into buffer: UnsafeMutableRawBufferPointer) -> IOResult {
        if failed { return .error(EPROTO) }
        if draining { return readRaw(into: buffer) }
        while true {
            do {
                switch try session.readPlaintext(into: buffer) {
                case .bytes(let count): return .bytes(count)
                case .closed:
                    ended = true
                    return .eof
                case .needsCiphertext: break
                }
            } catch {
                return fail(error)
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
                do { try session.receiveEndOfStream() } catch { return fail(error) }
            case .error(let code):
                ended = true
                return .error(code)
            }
        }
    }

    /// One socket read into the session; advances the handshake and sends its flights.
    private func receiveCiphertext() -> IOResult {
        withUnsafeTemporaryAllocation(byteCount: Self.readSize, alignment: 16) { scratch -> IOResult in
            let result = readRaw(into: scratch)
            guard case .bytes(let count) = result else { return result }
            receivedAny = true
            do throws(TLSError) {
                try session.receive(ciphertext: UnsafeRawBufferPointer(rebasing: scratch[0..<count]))
            } catch {
                return fail(error)
            }
            if handshakeDeadline != nil, session.state == .established { handshakeDeadline = nil }
            flush()
            return result
        }
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
        // The common case: records go from the session to the socket through a stack buffer; only
        // what the socket does not take is kept.
        while !failed && session.wantsWrite {
            let more = withUnsafeTemporaryAllocation(byteCount: Self.readSize, alignment: 16) { scratch -> Bool in
                let taken = session.takeCiphertext(into: scratch)
                guard taken > 0 else { return false }
                let sent = sendSome(UnsafeRawBufferPointer(rebasing: scratch[0..<taken]))
                if sent < taken {
                    if !failed { pendingOutput = Array(scratch[max(0, sent)..<taken]) }
                    return false
                }
                return true
            }
            if !more { return }
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
        if session.state == .established { session.close() }
        flush()
        shutdown(fd, Int32(SHUT_WR))
    }

    /// Queues close_notify (RFC 8446 §6.1), sends what the socket takes now, and closes.
    func close() {
        guard !closed else { return }
        if !failed && session.state == .established { session.close() }
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
