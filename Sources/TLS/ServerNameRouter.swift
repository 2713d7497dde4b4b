import COpenSSL

/// Chooses the certificate for a handshake from the client's server name (SNI, RFC 6066 §3), and
/// keeps a session from resuming under another name.
///
/// Both happen when the ClientHello arrives, before OpenSSL decides on resumption: a session (a
/// ticket) resumes only under the session ID context it was made in, and each connection's context
/// is the configuration's `sessionContext` joined with the name the client sent. So a session made
/// for one name starts a full handshake under another, with that name's certificate ("MUST NOT
/// accept the request to resume the session if the server_name extension contains a different
/// name", RFC 6066 §3), while every worker still resumes every worker's sessions for the same name.
///
/// Immutable after init, so OpenSSL may call it from any thread (each handshake on its own).
final class ServerNameRouter: @unchecked Sendable {
    /// Lower-cased exact names → context.
    private let exact: [String: OpaquePointer]
    /// Wildcard suffixes (".example.com" for "*.example.com") → context, in configuration order.
    private let wildcards: [(suffix: String, context: OpaquePointer)]
    /// The session ID context of a connection without a server name (`TLSContext.sessionContext`).
    let sessionContext: [UInt8]

    /// `routes` pairs each certificate's names with its SSL_CTX; earlier entries win.
    init(routes: [(names: [String], context: OpaquePointer)], sessionContext: [UInt8]) {
        self.sessionContext = sessionContext
        var exact: [String: OpaquePointer] = [:]
        var wildcards: [(suffix: String, context: OpaquePointer)] = []
        for route in routes {
            for name in route.names.map(Self.normalize) {
                if name.hasPrefix("*.") {
                    wildcards.append((String(name.dropFirst()), route.context))
                } else if exact[name] == nil {
                    exact[name] = route.context
                }
            }
        }
        self.exact = exact
        self.wildcards = wildcards
    }

    /// The context for `serverName`, or nil to keep the default certificate. An exact name wins over
    /// a wildcard, which covers exactly one label (RFC 6125 §6.4.3).
    func context(for serverName: String) -> OpaquePointer? {
        let name = Self.normalize(serverName)
        if let context = exact[name] { return context }
        for wildcard in wildcards where name.hasSuffix(wildcard.suffix) {
            let label = name.dropLast(wildcard.suffix.count)
            if !label.isEmpty && !label.contains(".") { return wildcard.context }
        }
        return nil
    }

    /// Host names compare case-insensitively and without a trailing dot (RFC 6066 §3).
    static func normalize(_ name: String) -> String {
        var lowered = name.lowercased()
        if lowered.hasSuffix(".") { lowered.removeLast() }
        return lowered
    }

    /// A host name of letters, digits, hyphens, underscores and dots, optionally with a leading "*." label.
    static func isValidPattern(_ pattern: String) -> Bool {
        let name = pattern.hasPrefix("*.") ? String(pattern.dropFirst(2)) : pattern
        let labels = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        return labels.allSatisfy { label in
            !label.isEmpty && label.utf8.count <= 63
                && label.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == 0x2D || $0 == 0x5F }
        }
    }

    /// The session ID context of a connection to `serverName`: SHA-256 over the configuration's
    /// context and the normalized name (32 bytes, OpenSSL's maximum); nil if hashing fails.
    func sessionContext(for serverName: String) -> [UInt8]? {
        var input = sessionContext
        input.append(0)
        input += Array(Self.normalize(serverName).utf8)
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard cossl_EVP_Digest(input, input.count, &digest, &length, cossl_EVP_sha256(), nil) == 1, length == 32 else {
            return nil
        }
        return digest
    }

    /// The host name in a ClientHello's `server_name` extension body (RFC 6066 §3: a list of
    /// typed names, of which `host_name` is the only type), or nil if there is none or the body is
    /// malformed (OpenSSL's own parse then refuses the handshake).
    static func hostName(inExtension body: UnsafeRawBufferPointer) -> String? {
        let bytes = body.bindMemory(to: UInt8.self)
        guard bytes.count >= 2, Int(bytes[0]) << 8 | Int(bytes[1]) == bytes.count - 2 else { return nil }
        var offset = 2
        while offset + 3 <= bytes.count {
            let type = bytes[offset]
            let length = Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2])
            let start = offset + 3
            guard length > 0, start + length <= bytes.count else { return nil }
            if type == UInt8(COSSL_TLSEXT_NAMETYPE_host_name) {
                let name = UnsafeBufferPointer(rebasing: bytes[start..<(start + length)])
                guard !name.contains(0) else { return nil }
                return String(decoding: name, as: UTF8.self)
            }
            offset = start + length
        }
        return nil
    }

    /// Installs the router's callbacks on `context`; the router must outlive `context`.
    func install(on context: OpaquePointer) {
        let argument = Unmanaged.passUnretained(self).toOpaque()
        cossl_SSL_CTX_set_client_hello_cb(context, clientHelloCallback, argument)
        _ = cossl_SSL_CTX_set_tlsext_servername_callback(context, serverNameCallback, argument)
    }
}

/// OpenSSL's ClientHello callback, called before resumption is decided: switches the connection to
/// the certificate its server name matches (an unknown or absent name keeps the default one, as
/// nginx does) and gives it the session ID context of that name.
private let clientHelloCallback: cossl_client_hello_cb = { ssl, alert, argument in
    guard let ssl, let argument else { return Int32(COSSL_SSL_CLIENT_HELLO_SUCCESS) }
    var data: UnsafePointer<UInt8>?
    var length = 0
    guard cossl_SSL_client_hello_get0_ext(ssl, UInt32(COSSL_TLSEXT_TYPE_server_name), &data, &length) == 1, let data,
          let name = ServerNameRouter.hostName(inExtension: UnsafeRawBufferPointer(start: data, count: length))
    else { return Int32(COSSL_SSL_CLIENT_HELLO_SUCCESS) }
    let router = Unmanaged<ServerNameRouter>.fromOpaque(argument).takeUnretainedValue()
    if let context = router.context(for: name) {
        _ = cossl_SSL_set_SSL_CTX(ssl, context)
    }
    guard let sessionContext = router.sessionContext(for: name),
          cossl_SSL_set_session_id_context(ssl, sessionContext, UInt32(sessionContext.count)) == 1
    else {
        alert?.pointee = Int32(COSSL_SSL_AD_INTERNAL_ERROR)
        return Int32(COSSL_SSL_CLIENT_HELLO_ERROR)
    }
    return Int32(COSSL_SSL_CLIENT_HELLO_SUCCESS)
}

/// OpenSSL's server-name callback: accepts the name (the certificate was chosen already), so that
/// OpenSSL acknowledges it and keeps it with the session.
private let serverNameCallback: cossl_servername_cb = { _, _, _ in Int32(COSSL_SSL_TLSEXT_ERR_OK) }
