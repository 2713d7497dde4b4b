import COpenSSL

/// What the handshake settled, available once it completes.
extension TLSSession {
    /// The protocol version ("TLSv1.2", "TLSv1.3"), nil before the handshake completes.
    public var protocolVersion: String? {
        guard isNegotiated, let name = cossl_SSL_get_version(ssl) else { return nil }
        return String(cString: name)
    }

    /// The cipher suite in OpenSSL's naming ("TLS_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256").
    public var cipher: String? {
        guard isNegotiated, let cipher = cossl_SSL_get_current_cipher(ssl),
              let name = cossl_SSL_CIPHER_get_name(cipher) else { return nil }
        return String(cString: name)
    }

    /// The application protocol agreed by ALPN (RFC 7301), nil when none was.
    public var alpnProtocol: String? {
        var data: UnsafePointer<UInt8>?
        var length: UInt32 = 0
        cossl_SSL_get0_alpn_selected(ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The host name the client asked for (SNI, RFC 6066 §3), nil when it sent none.
    public var serverName: String? {
        guard let name = cossl_SSL_get_servername(ssl, Int32(COSSL_TLSEXT_NAMETYPE_host_name)) else { return nil }
        return String(cString: name)
    }

    /// Whether the handshake resumed an earlier session (from a ticket) instead of a full one.
    public var isResumed: Bool { isNegotiated && cossl_SSL_session_reused(ssl) == 1 }

    /// The peer's certificate, when it sent one and it verified (under `cert_reqs` optional or required).
    public var peerCertificate: PeerCertificate? {
        withVerifiedPeer { certificate in
            PeerCertificate(
                subject: Self.rfc2253(cossl_X509_get_subject_name(certificate)),
                issuer: Self.rfc2253(cossl_X509_get_issuer_name(certificate)))
        }
    }

    /// The verified peer certificate in PEM form, for applications that want the whole certificate.
    public func peerCertificatePEM() -> String? {
        withVerifiedPeer { certificate in
            Self.printed { bio in cossl_PEM_write_bio_X509(bio, certificate) == 1 }
        } ?? nil
    }

    private var isNegotiated: Bool { state != .handshaking && cossl_SSL_is_init_finished(ssl) == 1 }

    private func withVerifiedPeer<T>(_ body: (OpaquePointer) -> T) -> T? {
        guard isNegotiated, let certificate = cossl_SSL_get1_peer_certificate(ssl) else { return nil }
        defer { cossl_X509_free(certificate) }
        guard cossl_SSL_get_verify_result(ssl) == COSSL_X509_V_OK else { return nil }
        return body(certificate)
    }

    private static func rfc2253(_ name: OpaquePointer?) -> String {
        guard let name else { return "" }
        return printed { bio in cossl_X509_NAME_print_ex(bio, name, 0, COSSL_XN_FLAG_RFC2253) >= 0 } ?? ""
    }

    /// What `write` prints into a temporary memory BIO, or nil when it fails.
    private static func printed(_ write: (OpaquePointer) -> Bool) -> String? {
        guard let bio = cossl_BIO_new(cossl_BIO_s_mem()) else { return nil }
        defer { _ = cossl_BIO_free(bio) }
        guard write(bio) else { return nil }
        var bytes = [UInt8](repeating: 0, count: cossl_BIO_pending(bio))
        let count = bytes.withUnsafeMutableBytes { cossl_BIO_read(bio, $0.baseAddress, Int32($0.count)) }
        return String(decoding: bytes.prefix(max(0, Int(count))), as: UTF8.self)
    }
}
