import COpenSSL

/// A server's TLS configuration turned into OpenSSL state: certificates, keys, CAs, ciphers, ALPN,
/// SNI certificates and session-ticket keys.
///
/// Immutable once built. A reload builds a new context and hands it to new connections; each
/// `TLSSession` keeps the context it was made from alive, so open connections are unaffected and the
/// old context is freed when its last session ends.
public final class TLSContext: @unchecked Sendable {
    // Sendable: every stored property is immutable after init, and a configured SSL_CTX is safe for
    // concurrent SSL_new from any thread (OpenSSL locks its reference counts).

    /// The settings this context was built from.
    public let configuration: TLSConfiguration
    /// Whether tickets are encrypted with shared `TicketKeys` (else with keys private to this context).
    public let usesSharedTicketKeys: Bool
    /// The context of the default certificate, on which every session starts.
    let defaultContext: OpaquePointer
    private let resources: Resources

    /// Loads OpenSSL (once per process), then every file named by `configuration`.
    ///
    /// - Parameters:
    ///   - files: the files' bytes, read earlier (by the master); nil reads them from the disk now.
    ///   - ticketKeys: keys shared by all workers so any worker resumes any worker's sessions; nil
    ///     lets OpenSSL draw keys private to this context.
    ///   - library: the OpenSSL shared libraries to load.
    public init(
        configuration: TLSConfiguration, files: TLSFiles? = nil, ticketKeys: TicketKeys? = nil, library: TLSLibrary = .system
    ) throws(TLSError) {
        let built: (defaultContext: OpaquePointer, resources: Resources)
        if let files {
            // Built while the in-memory files are open; messages name the configured paths.
            built = try files.materialized(configuration) { (loading, back) throws(TLSError) in
                do throws(TLSError) {
                    return try Self.build(configuration: configuration, loading: loading, ticketKeys: ticketKeys, library: library)
                } catch {
                    throw error.mappingMessage(back)
                }
            }
        } else {
            built = try Self.build(configuration: configuration, loading: configuration, ticketKeys: ticketKeys, library: library)
        }
        self.configuration = configuration
        self.usesSharedTicketKeys = ticketKeys != nil
        self.defaultContext = built.defaultContext
        self.resources = built.resources
    }

    /// The OpenSSL state of `configuration`, built from the files named in `loading` (the same
    /// configuration, or one naming in-memory copies of its files).
    private static func build(
        configuration: TLSConfiguration, loading: TLSConfiguration, ticketKeys: TicketKeys?, library: TLSLibrary
    ) throws(TLSError) -> (defaultContext: OpaquePointer, resources: Resources) {
        try loading.validate()
        try library.load()
        let resources = Resources()
        resources.sessionContext = try sessionContext(for: configuration, loading: loading)
        if !configuration.alpnProtocols.isEmpty {
            let list = configuration.alpnList()
            let storage = UnsafeMutablePointer<UInt8>.allocate(capacity: list.count)
            storage.initialize(from: list, count: list.count)
            resources.alpnList = storage
        }
        if let ticketKeys { resources.ticketKeys = copy(ticketKeys) }
        let defaultContext = try makeContext(
            certfile: loading.certfile, keyfile: loading.keyfile, configuration: loading, resources: resources)
        var routes: [(names: [String], context: OpaquePointer)] = []
        for entry in loading.serverCertificates {
            let context = try makeContext(
                certfile: entry.certfile, keyfile: entry.keyfile, configuration: loading, resources: resources)
            routes.append((entry.names, context))
        }
        let router = ServerNameRouter(routes: routes, sessionContext: resources.sessionContext)
        router.install(on: defaultContext)
        resources.router = router
        return (defaultContext, resources)
    }

    /// Installs rotated session-ticket keys: new tickets use `keys.current`; tickets under
    /// `keys.previous` still resume. Safe while handshakes run on other threads. Does nothing for a
    /// context built without shared keys.
    public func replaceTicketKeys(_ keys: TicketKeys) {
        guard let installed = resources.ticketKeys else { return }
        let fresh = Self.copy(keys)
        defer {
            cossl_cleanse(fresh, MemoryLayout<cossl_ticket_keys>.size)
            fresh.deallocate()
        }
        cossl_ticket_keys_replace(installed, fresh)
    }

    /// A session for one accepted connection, in the server role.
    public func makeSession() throws(TLSError) -> TLSSession {
        try TLSSession(context: self)
    }

    /// One SSL_CTX with every setting shared by the default and the SNI certificates.
    private static func makeContext(
        certfile: String, keyfile: String, configuration: TLSConfiguration, resources: Resources
    ) throws(TLSError) -> OpaquePointer {
        ErrorQueue.clear()
        guard let context = cossl_SSL_CTX_new(cossl_TLS_server_method()) else {
            throw ErrorQueue.error(.resources, "cannot create an OpenSSL context")
        }
        resources.contexts.append(context)
        // Renegotiation is a denial-of-service lever and unused by HTTP/1.1 servers (RFC 7540 §9.2.1
        // forbids it under HTTP/2); the server's cipher order wins; TLS compression leaks (CRIME).
        _ = cossl_SSL_CTX_set_options(
            context, COSSL_SSL_OP_NO_RENEGOTIATION | COSSL_SSL_OP_CIPHER_SERVER_PREFERENCE | COSSL_SSL_OP_NO_COMPRESSION)
        guard cossl_SSL_CTX_set_min_proto_version(context, configuration.minimumVersion.wireValue) == 1 else {
            throw ErrorQueue.error(.invalidConfiguration, "cannot set the minimum protocol version \(configuration.minimumVersion.rawValue)")
        }
        // Idle connections give their 16 KiB record buffers back.
        _ = cossl_SSL_CTX_set_mode(context, COSSL_SSL_MODE_RELEASE_BUFFERS)
        // A per-process session cache cannot resume across workers; tickets (stateless) can.
        _ = cossl_SSL_CTX_set_session_cache_mode(context, COSSL_SSL_SESS_CACHE_OFF)
        _ = cossl_SSL_CTX_set_session_id_context(context, resources.sessionContext, UInt32(resources.sessionContext.count))
        cossl_SSL_CTX_refuse_passwords(context)

        if let ciphers = configuration.ciphers, cossl_SSL_CTX_set_cipher_list(context, ciphers) != 1 {
            throw ErrorQueue.error(.ciphers, "ciphers '\(ciphers)' selects no TLS 1.2 cipher")
        }
        if let suites = configuration.cipherSuites, cossl_SSL_CTX_set_ciphersuites(context, suites) != 1 {
            throw ErrorQueue.error(.ciphers, "TLS 1.3 cipher suites '\(suites)' are invalid")
        }
        try loadCertificate(context: context, certfile: certfile, keyfile: keyfile)
        try loadClientVerification(context: context, configuration: configuration)
        if let alpn = resources.alpnList {
            cossl_SSL_CTX_set_alpn_protocols(context, alpn)
        }
        if let keys = resources.ticketKeys, cossl_SSL_CTX_use_ticket_keys(context, keys) != 1 {
            throw ErrorQueue.error(.ticketKeys, "cannot install the session-ticket keys")
        }
        return context
    }

    /// Loads `certfile` (chain) and `keyfile` and checks that they belong together.
    private static func loadCertificate(context: OpaquePointer, certfile: String, keyfile: String) throws(TLSError) {
        if cossl_SSL_CTX_use_certificate_chain_file(context, certfile) != 1 {
            throw ErrorQueue.error(.certificate, "cannot load certfile \(certfile)")
        }
        // OpenSSL checks the key against the loaded certificate here already.
        if cossl_SSL_CTX_use_PrivateKey_file(context, keyfile, Int32(COSSL_SSL_FILETYPE_PEM)) != 1 {
            let failure = ErrorQueue.error(.privateKey, "cannot load keyfile \(keyfile)")
            if failure.contains(library: COSSL_ERR_LIB_X509, reason: COSSL_X509_R_KEY_VALUES_MISMATCH)
                || failure.contains(library: COSSL_ERR_LIB_X509, reason: COSSL_X509_R_KEY_TYPE_MISMATCH) {
                throw mismatch(certfile: certfile, keyfile: keyfile, failure: failure)
            }
            throw failure
        }
        if cossl_SSL_CTX_check_private_key(context) != 1 {
            throw mismatch(certfile: certfile, keyfile: keyfile, failure: ErrorQueue.error(.keyMismatch, ""))
        }
    }

    private static func mismatch(certfile: String, keyfile: String, failure: TLSError) -> TLSError {
        TLSError(
            .keyMismatch, "keyfile \(keyfile) does not match certfile \(certfile)",
            openSSLErrors: failure.openSSLErrors, reasons: failure.reasons)
    }

    /// Loads `ca_certs` for verifying client certificates and sets `cert_reqs`.
    private static func loadClientVerification(context: OpaquePointer, configuration: TLSConfiguration) throws(TLSError) {
        if let caCerts = configuration.caCerts, !caCerts.isEmpty {
            if cossl_SSL_CTX_load_verify_locations(context, caCerts, nil) != 1 {
                throw ErrorQueue.error(.caCertificates, "cannot load ca_certs \(caCerts)")
            }
            // The CA names go into the CertificateRequest (RFC 8446 §4.3.2) so clients pick a matching cert.
            guard let names = cossl_SSL_load_client_CA_file(caCerts) else {
                throw ErrorQueue.error(.caCertificates, "ca_certs \(caCerts) holds no CA certificate")
            }
            cossl_SSL_CTX_set_client_CA_list(context, names)
        }
        let mode: Int
        switch configuration.certReqs {
        case .none: mode = COSSL_SSL_VERIFY_NONE
        case .optional: mode = COSSL_SSL_VERIFY_PEER
        case .required: mode = COSSL_SSL_VERIFY_PEER | COSSL_SSL_VERIFY_FAIL_IF_NO_PEER_CERT
        }
        cossl_SSL_CTX_set_verify(context, Int32(mode), nil)
    }

    /// The keys in C memory, where the ticket callback reads them.
    private static func copy(_ keys: TicketKeys) -> UnsafeMutablePointer<cossl_ticket_keys> {
        let storage = UnsafeMutablePointer<cossl_ticket_keys>.allocate(capacity: 1)
        storage.initialize(to: cossl_ticket_keys())
        let all = keys.serialized
        storage.pointee.count = keys.previous == nil ? 1 : 2
        withUnsafeMutableBytes(of: &storage.pointee.keys) { raw in
            raw.copyBytes(from: all)
        }
        return storage
    }
}
