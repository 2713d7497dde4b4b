import COpenSSL

/// Chooses the certificate for a handshake from the client's server name (SNI, RFC 6066 §3).
///
/// Immutable after init, so OpenSSL may call it from any thread (each handshake on its own).
final class ServerNameRouter: @unchecked Sendable {
    /// Lower-cased exact names → context.
    private let exact: [String: OpaquePointer]
    /// Wildcard suffixes (".example.com" for "*.example.com") → context, in configuration order.
    private let wildcards: [(suffix: String, context: OpaquePointer)]

    /// `routes` pairs each certificate's names with its SSL_CTX; earlier entries win.
    init(routes: [(names: [String], context: OpaquePointer)]) {
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

    /// Installs the router as `context`'s server-name callback; the router must outlive `context`.
    func install(on context: OpaquePointer) {
        _ = cossl_SSL_CTX_set_tlsext_servername_callback(context, serverNameCallback, Unmanaged.passUnretained(self).toOpaque())
    }
}

/// OpenSSL's server-name callback: switches the connection to the matching certificate's context.
/// An unknown or absent name keeps the default certificate, as nginx does.
private let serverNameCallback: cossl_servername_cb = { ssl, _, argument in
    guard let ssl, let argument,
          let name = cossl_SSL_get_servername(ssl, Int32(COSSL_TLSEXT_NAMETYPE_host_name))
    else { return Int32(COSSL_SSL_TLSEXT_ERR_OK) }
    let router = Unmanaged<ServerNameRouter>.fromOpaque(argument).takeUnretainedValue()
    if let context = router.context(for: String(cString: name)) {
        _ = cossl_SSL_set_SSL_CTX(ssl, context)
    }
    return Int32(COSSL_SSL_TLSEXT_ERR_OK)
}
