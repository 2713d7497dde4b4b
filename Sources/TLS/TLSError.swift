import COpenSSL

/// A failure of the TLS layer: loading OpenSSL, building a context, or one connection's session.
///
/// Session errors concern one connection only; the driver closes that connection and carries on.
public struct TLSError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What failed.
    public enum Code: String, Sendable, Equatable {
        /// `libssl.so.3` or `libcrypto.so.3` could not be loaded, lacks a function, or is older than 3.0.
        case libraryUnavailable
        /// A setting is invalid on its face (empty ALPN name, `cert_reqs` without `ca_certs`, …).
        case invalidConfiguration
        /// A certificate file (`certfile`, an SNI certificate) could not be loaded.
        case certificate
        /// A private key file could not be loaded.
        case privateKey
        /// A private key does not belong to its certificate.
        case keyMismatch
        /// The `ca_certs` file could not be loaded.
        case caCertificates
        /// The cipher list or TLS 1.3 cipher suites matched nothing.
        case ciphers
        /// Session-ticket keys have the wrong length, or no random bytes could be drawn for them.
        case ticketKeys
        /// OpenSSL could not allocate a context, session or buffer.
        case resources
        /// The handshake failed (bad ClientHello, no shared cipher, refused client certificate, …).
        case handshakeFailed
        /// The peer broke the protocol after the handshake (bad record, MAC failure, …).
        case protocolError
        /// The session is closed or failed, or not yet established for application data.
        case unusableSession
    }

    /// What failed.
    public let code: Code
    /// What happened, naming the file or setting involved and OpenSSL's reasons.
    public let message: String
    /// OpenSSL's packed error codes (`ERR_get_error`), oldest first.
    public let openSSLErrors: [UInt]
    /// OpenSSL's texts for `openSSLErrors` (`ERR_error_string_n`), already part of `message`.
    public let reasons: [String]

    public init(_ code: Code, _ message: String, openSSLErrors: [UInt] = [], reasons: [String] = []) {
        self.code = code
        self.message = reasons.isEmpty ? message : "\(message): \(reasons.joined(separator: "; "))"
        self.openSSLErrors = openSSLErrors
        self.reasons = reasons
    }

    public var description: String { "\(code.rawValue): \(message)" }

    private init(code: Code, message: String, openSSLErrors: [UInt], reasons: [String]) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
        self.reasons = reasons
    }

    /// The same error with its message passed through `transform` (a file's path put back).
    func mappingMessage(_ transform: (String) -> String) -> TLSError {
        TLSError(code: code, message: transform(message), openSSLErrors: openSSLErrors, reasons: reasons)
    }
}

extension TLSError {
    /// Whether one of the OpenSSL errors is `reason` of library `library` (`ERR_GET_LIB`/`ERR_GET_REASON`).
    func contains(library: Int, reason: Int) -> Bool {
        openSSLErrors.contains { Int(cossl_ERR_GET_LIB($0)) == library && Int(cossl_ERR_GET_REASON($0)) == reason }
    }
}
