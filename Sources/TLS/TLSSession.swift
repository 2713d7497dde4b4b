import COpenSSL

/// One connection's TLS session, free of I/O: the driver moves bytes between it and the socket.
///
/// Ciphertext from the socket goes in with `receive(ciphertext:)`; plaintext for the HTTP machine
/// comes out of `readPlaintext(into:)`; plaintext from the HTTP machine goes in with
/// `send(plaintext:)`; ciphertext for the socket comes out of `takeCiphertext(into:)`. OpenSSL sees
/// two memory BIOs and never a descriptor, so the same session serves a non-blocking epoll driver
/// and a blocking thread driver. After every call, the driver sends what `wantsWrite` reports: a
/// handshake flight, an alert or close_notify may have been queued.
///
/// A driver's loop, the same for both (a blocking driver simply blocks in read and write):
///
/// ```swift
/// let session = try context.makeSession()          // the context current at accept time
/// // socket readable:
/// let n = read(fd, input.baseAddress, input.count)   // input, plain, output: the driver's buffers
/// if n == 0 { try session.receiveEndOfStream() } else { try session.receive(ciphertext: input[..<n]) }
/// readLoop: while true {
///     switch try session.readPlaintext(into: plain) {
///     case .bytes(let count): http.feed(plain[..<count])
///     case .needsCiphertext: break readLoop
///     case .closed(let how): http.peerClosed(how); break readLoop
///     }
/// }
/// // the HTTP machine's output:
/// try session.send(plaintext: responseBytes)
/// // after every step, and on socket writable:
/// while session.wantsWrite { let k = session.takeCiphertext(into: output); write(fd, output.baseAddress, k) }
/// // closing: queue close_notify, flush, then close the descriptor
/// session.close()
/// ```
///
/// `send` queues all the ciphertext it produces; a driver that applies back-pressure stops taking
/// output from the HTTP machine while `pendingCiphertextCount` is above its high-water mark. On a
/// thrown `TLSError` the driver may flush what is queued (an alert) and closes the connection.
///
/// Not Sendable: the thread that owns the connection owns its session.
public final class TLSSession {
    /// Where the session is in its life.
    public enum State: Sendable, Equatable {
        /// The handshake needs more bytes from the peer (or has queued bytes for it).
        case handshaking
        /// Application data flows both ways.
        case established
        /// `close()` was called; close_notify is queued if the handshake had completed.
        case closed
        /// A handshake or record error ended the session; an alert for the peer may be queued.
        case failed
    }

    /// The outcome of `readPlaintext(into:)`.
    public enum PlaintextRead: Sendable, Equatable {
        /// This many plaintext bytes were written to the buffer; call again, more may be decrypted.
        case bytes(Int)
        /// Nothing more can be decrypted until more ciphertext arrives.
        case needsCiphertext
        /// The peer is done sending.
        case closed(Closure)
    }

    /// How the peer stopped sending.
    public enum Closure: Sendable, Equatable {
        /// With close_notify (RFC 8446 §6.1): every byte it sent has arrived.
        case closeNotify
        /// The stream ended without close_notify; framing at the HTTP level tells if data is missing.
        case truncated
    }

    /// Where the session is in its life.
    public private(set) var state: State = .handshaking

    let ssl: OpaquePointer
    /// Ciphertext from the peer, read by OpenSSL (owned by `ssl`).
    private let incoming: OpaquePointer
    /// Ciphertext for the peer, written by OpenSSL (owned by `ssl`).
    private let outgoing: OpaquePointer
    /// Keeps the SSL_CTX objects, ALPN list and ticket keys alive while this session uses them.
    private let owner: AnyObject?
    /// Set once the peer stopped sending.
    private var peerClosure: Closure?
    /// Set by `receiveEndOfStream()`.
    private var endOfStream = false

    /// A server session using `context` (a later reload does not affect it).
    public convenience init(context: TLSContext) throws(TLSError) {
        ErrorQueue.clear()
        guard let ssl = cossl_SSL_new(context.defaultContext) else {
            throw ErrorQueue.error(.resources, "cannot create a TLS session")
        }
        try self.init(ssl: ssl, owner: context, isServer: true)
    }

    /// Wraps `ssl` (taking ownership) between two memory BIOs.
    init(ssl: OpaquePointer, owner: AnyObject?, isServer: Bool) throws(TLSError) {
        guard let incoming = cossl_BIO_new(cossl_BIO_s_mem()) else {
            cossl_SSL_free(ssl)
            throw ErrorQueue.error(.resources, "cannot create a memory BIO")
        }
        guard let outgoing = cossl_BIO_new(cossl_BIO_s_mem()) else {
            _ = cossl_BIO_free(incoming)
            cossl_SSL_free(ssl)
            throw ErrorQueue.error(.resources, "cannot create a memory BIO")
        }
        // An empty input BIO means "wait for more" (retry), not end of stream.
        _ = cossl_BIO_set_mem_eof_return(incoming, -1)
        cossl_SSL_set_bio(ssl, incoming, outgoing)
        if isServer { cossl_SSL_set_accept_state(ssl) } else { cossl_SSL_set_connect_state(ssl) }
        self.ssl = ssl
        self.incoming = incoming
        self.outgoing = outgoing
        self.owner = owner
    }

    deinit {
        cossl_SSL_free(ssl)
    }

    // MARK: Bytes from the socket

    /// Takes ciphertext read from the socket and advances the handshake with it.
    ///
    /// - Throws: `.handshakeFailed` (with OpenSSL's reason) when the handshake cannot succeed; the
    ///   session is then `.failed` and may have queued an alert to send before closing.
    public func receive(ciphertext: UnsafeRawBufferPointer) throws(TLSError) {
        guard state == .handshaking || state == .established, !endOfStream else {
            throw TLSError(.unusableSession, "cannot receive on a session that is \(state) or at end of stream")
        }
        var offset = 0
        // Without clearing the error queue first: SSL_get_error plays no part here, and a memory
        // BIO's write fails only when memory runs out.
        while offset < ciphertext.count {
            let chunk = Int32(min(ciphertext.count - offset, Int(Int32.max)))
            let written = cossl_BIO_write(incoming, ciphertext.baseAddress! + offset, chunk)
            guard written > 0 else { throw ErrorQueue.error(.resources, "cannot buffer received ciphertext") }
            offset += Int(written)
        }
        if state == .handshaking { try advanceHandshake() }
    }

    /// Takes ciphertext read from the socket.
    public func receive(ciphertext: some Collection<UInt8>) throws(TLSError) {
        try Self.withBytes(of: ciphertext) { (bytes) throws(TLSError) in try receive(ciphertext: bytes) }
    }

    /// Tells the session the socket reached end of stream (read returned 0).
    ///
    /// - Throws: `.handshakeFailed` if the handshake was still running.
    public func receiveEndOfStream() throws(TLSError) {
        guard !endOfStream else { return }
        endOfStream = true
        _ = cossl_BIO_set_mem_eof_return(incoming, 0)
        if state == .handshaking { try advanceHandshake() }
    }

    /// Runs the handshake as far as the buffered bytes allow. Starts it, for a client session.
    func advanceHandshake() throws(TLSError) {
        ErrorQueue.clear()
        let result = cossl_SSL_do_handshake(ssl)
        if result == 1 {
            state = .established
            return
        }
        let reason = Int(cossl_SSL_get_error(ssl, result))
        if reason == COSSL_SSL_ERROR_WANT_READ || reason == COSSL_SSL_ERROR_WANT_WRITE {
            if endOfStream {
                state = .failed
                throw ErrorQueue.error(.handshakeFailed, "TLS handshake failed: the peer closed the connection")
            }
            return
        }
        state = .failed
        var message = "TLS handshake failed"
        let verification = cossl_SSL_get_verify_result(ssl)
        if verification != COSSL_X509_V_OK, let text = cossl_X509_verify_cert_error_string(verification) {
            message += " (certificate verification: \(String(cString: text)))"
        }
        if endOfStream { message += " (the peer closed the connection)" }
        throw ErrorQueue.error(.handshakeFailed, message)
    }

    // MARK: Plaintext for the HTTP machine

    /// Decrypts buffered ciphertext into `buffer`. Call until it returns `.needsCiphertext` or `.closed`.
    ///
    /// - Throws: `.protocolError` for a bad record; the session is then `.failed`.
    public func readPlaintext(into buffer: UnsafeMutableRawBufferPointer) throws(TLSError) -> PlaintextRead {
        precondition(!buffer.isEmpty, "readPlaintext needs room for at least one byte")
        switch state {
        case .handshaking: return .needsCiphertext
        case .closed, .failed: throw TLSError(.unusableSession, "cannot read from a session that is \(state)")
        case .established: break
        }
        if let peerClosure { return .closed(peerClosure) }
        ErrorQueue.clear()
        let count = cossl_SSL_read(ssl, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        if count > 0 { return .bytes(Int(count)) }
        let reason = Int(cossl_SSL_get_error(ssl, count))
        switch reason {
        case COSSL_SSL_ERROR_WANT_READ, COSSL_SSL_ERROR_WANT_WRITE:
            return .needsCiphertext
        case COSSL_SSL_ERROR_ZERO_RETURN:
            peerClosure = .closeNotify
            return .closed(.closeNotify)
        default:
            let failure = ErrorQueue.error(.protocolError, "TLS record error")
            if endOfStream
                && (reason == COSSL_SSL_ERROR_SYSCALL
                    || failure.contains(library: COSSL_ERR_LIB_SSL, reason: COSSL_SSL_R_UNEXPECTED_EOF_WHILE_READING)) {
                peerClosure = .truncated
                return .closed(.truncated)
            }
            state = .failed
            throw failure
        }
    }

    /// Decrypts everything buffered, appending it to `plaintext`; returns `.needsCiphertext` or `.closed`.
    public func readPlaintext(appendingTo plaintext: inout [UInt8]) throws(TLSError) -> PlaintextRead {
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let read = try chunk.withUnsafeMutableBytes { buffer in Result { () throws(TLSError) in try readPlaintext(into: buffer) } }.get()
            guard case .bytes(let count) = read else { return read }
            plaintext.append(contentsOf: chunk.prefix(count))
        }
    }

    // MARK: Plaintext from the HTTP machine

    /// Encrypts all of `plaintext` into records queued for the socket (see `takeCiphertext`).
    ///
    /// - Throws: `.unusableSession` before the handshake completes or after `close()`.
    public func send(plaintext: UnsafeRawBufferPointer) throws(TLSError) {
        guard state == .established else {
            throw TLSError(.unusableSession, "cannot send application data on a session that is \(state)")
        }
        var offset = 0
        while offset < plaintext.count {
            let chunk = Int32(min(plaintext.count - offset, 1 << 30))
            ErrorQueue.clear()
            let written = cossl_SSL_write(ssl, plaintext.baseAddress! + offset, chunk)
            guard written > 0 else {
                state = .failed
                throw ErrorQueue.error(.protocolError, "cannot encrypt application data")
            }
            offset += Int(written)
        }
    }

    /// Encrypts all of `plaintext` into records queued for the socket.
    public func send(plaintext: some Collection<UInt8>) throws(TLSError) {
        try Self.withBytes(of: plaintext) { (bytes) throws(TLSError) in try send(plaintext: bytes) }
    }

    /// Runs `body` over the bytes of `collection`, copying only if they are not contiguous.
    private static func withBytes(
        of collection: some Collection<UInt8>, _ body: (UnsafeRawBufferPointer) throws(TLSError) -> Void
    ) throws(TLSError) {
        let result = collection.withContiguousStorageIfAvailable { buffer in
            Result { () throws(TLSError) in try body(UnsafeRawBufferPointer(buffer)) }
        }
        if let result { return try result.get() }
        try Array(collection).withUnsafeBytes { bytes in Result { () throws(TLSError) in try body(bytes) } }.get()
    }

    // MARK: Bytes for the socket

    /// Ciphertext bytes queued for the socket.
    public var pendingCiphertextCount: Int { cossl_BIO_pending(outgoing) }

    /// Whether ciphertext is queued for the socket.
    public var wantsWrite: Bool { pendingCiphertextCount > 0 }

    /// Whether the session expects more ciphertext from the socket: the handshake is running, or
    /// the connection is established and the peer has not stopped sending.
    public var wantsRead: Bool {
        (state == .handshaking || state == .established) && peerClosure == nil && !endOfStream
    }

    /// Whether input is buffered inside the session (decrypted bytes of a record, or ciphertext not
    /// yet decrypted), which the socket's readiness no longer announces: a driver that stopped
    /// reading must call `readPlaintext` again before waiting for the socket.
    public var hasBufferedInput: Bool {
        cossl_BIO_pending(incoming) > 0 || (state == .established && cossl_SSL_pending(ssl) > 0)
    }

    /// Moves up to `buffer.count` queued ciphertext bytes into `buffer`; returns how many. Fewer
    /// than `buffer.count` means nothing is left queued (a memory BIO gives all it holds).
    public func takeCiphertext(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        guard !buffer.isEmpty else { return 0 }
        // An empty BIO answers -1 (retry), which is cheaper than asking how much it holds first.
        let count = cossl_BIO_read(outgoing, buffer.baseAddress, Int32(min(buffer.count, Int(Int32.max))))
        return max(0, Int(count))
    }

    /// The calling thread's buffer for ciphertext between the socket and a session: one whole
    /// record with its header and largest expansion fits (RFC 8446 §5.2). It lives as long as the
    /// thread, so a driver needs no buffer of its own per connection; its contents last until the
    /// thread's next use. Nil only when it cannot be allocated.
    public static var threadBuffer: UnsafeMutableRawBufferPointer? {
        cossl_thread_buffer().map { UnsafeMutableRawBufferPointer(start: $0, count: Int(COSSL_THREAD_BUFFER_SIZE)) }
    }

    /// Takes up to `maxCount` queued ciphertext bytes.
    public func takeCiphertext(maxCount: Int = .max) -> [UInt8] {
        let count = min(maxCount, pendingCiphertextCount)
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let taken = bytes.withUnsafeMutableBytes { takeCiphertext(into: $0) }
        bytes.removeSubrange(taken...)
        return bytes
    }

    // MARK: Closing

    /// Ends the session. After a completed handshake, queues close_notify (RFC 8446 §6.1) for the
    /// driver to send; the peer's close_notify is not awaited (RFC 8446 §6.1 allows closing the read
    /// side). Further reads and sends throw `.unusableSession`.
    public func close() {
        if state == .established {
            ErrorQueue.clear()
            _ = cossl_SSL_shutdown(ssl)
            ErrorQueue.clear()
        }
        if state != .failed { state = .closed }
    }
}
