import COpenSSL

/// The TLS settings of a server, named after Gunicorn's (`certfile`, `keyfile`, `ca_certs`,
/// `cert_reqs`, `ciphers`) plus the minimum protocol version, ALPN and SNI certificates.
///
/// A plain value: the settings registry fills it, `TLSContext` turns it into OpenSSL state.
public struct TLSConfiguration: Sendable, Equatable {
    /// Whether and how a client certificate is requested (Gunicorn's `cert_reqs`).
    public enum CertificateRequirement: String, Sendable, Equatable, CaseIterable {
        /// No certificate is requested.
        case none
        /// A certificate is requested; if the client sends one, it must verify against `ca_certs`.
        case optional
        /// Mutual TLS: the handshake fails unless the client sends a certificate that verifies.
        case required
    }

    /// A TLS protocol version a server may accept.
    public enum ProtocolVersion: String, Sendable, Equatable, Comparable, CaseIterable {
        case tls12 = "TLSv1.2"
        case tls13 = "TLSv1.3"

        /// The version number on the wire (RFC 8446 §4.2.1).
        var wireValue: Int32 {
            switch self {
            case .tls12: return Int32(COSSL_TLS1_2_VERSION)
            case .tls13: return Int32(COSSL_TLS1_3_VERSION)
            }
        }

        public static func < (lhs: Self, rhs: Self) -> Bool { lhs.wireValue < rhs.wireValue }
    }

    /// A certificate chosen when the client's server name (SNI, RFC 6066 §3) matches one of `names`.
    public struct ServerCertificate: Sendable, Equatable {
        /// Host names, exact (`api.example.com`) or with a leading wildcard label (`*.example.com`).
        public var names: [String]
        /// PEM certificate chain, leaf first.
        public var certfile: String
        /// PEM private key of the leaf certificate.
        public var keyfile: String

        public init(names: [String], certfile: String, keyfile: String) {
            self.names = names
            self.certfile = certfile
            self.keyfile = keyfile
        }
    }

    /// PEM certificate chain, leaf first: the default certificate.
    public var certfile: String
    /// PEM private key of the default certificate (unencrypted: a pass phrase is never prompted for).
    public var keyfile: String
    /// PEM file of the CAs that client certificates must chain to (Gunicorn's `ca_certs`).
    public var caCerts: String?
    /// Whether a client certificate is requested or required (Gunicorn's `cert_reqs`).
    public var certReqs: CertificateRequirement
    /// OpenSSL cipher list for TLS 1.2 (Gunicorn's `ciphers`); nil keeps OpenSSL's default.
    public var ciphers: String?
    /// TLS 1.3 cipher suites (`TLS_AES_128_GCM_SHA256:…`); nil keeps OpenSSL's default.
    public var cipherSuites: String?
    /// The oldest protocol version accepted.
    public var minimumVersion: ProtocolVersion
    /// ALPN protocols offered, most preferred first (RFC 7301); empty disables ALPN.
    public var alpnProtocols: [String]
    /// Certificates chosen by server name; `certfile`/`keyfile` serve every other name.
    public var serverCertificates: [ServerCertificate]

    public init(
        certfile: String, keyfile: String, caCerts: String? = nil, certReqs: CertificateRequirement = .none,
        ciphers: String? = nil, cipherSuites: String? = nil, minimumVersion: ProtocolVersion = .tls12,
        alpnProtocols: [String] = ["http/1.1"], serverCertificates: [ServerCertificate] = []
    ) {
        self.certfile = certfile
        self.keyfile = keyfile
        self.caCerts = caCerts
        self.certReqs = certReqs
        self.ciphers = ciphers
        self.cipherSuites = cipherSuites
        self.minimumVersion = minimumVersion
        self.alpnProtocols = alpnProtocols
        self.serverCertificates = serverCertificates
    }
}

extension TLSConfiguration {
    /// Refuses settings that are wrong before any file is read.
    func validate() throws(TLSError) {
        if certfile.isEmpty || keyfile.isEmpty {
            throw TLSError(.invalidConfiguration, "certfile and keyfile are both required for TLS")
        }
        if certReqs != .none && (caCerts ?? "").isEmpty {
            throw TLSError(.invalidConfiguration, "cert_reqs=\(certReqs.rawValue) needs ca_certs to verify client certificates")
        }
        for name in alpnProtocols where name.utf8.isEmpty || name.utf8.count > 255 {
            throw TLSError(.invalidConfiguration, "ALPN protocol name '\(name)' must be 1 to 255 bytes (RFC 7301 §3.1)")
        }
        for entry in serverCertificates {
            if entry.names.isEmpty {
                throw TLSError(.invalidConfiguration, "SNI certificate \(entry.certfile) has no server names")
            }
            for name in entry.names where !ServerNameRouter.isValidPattern(name) {
                throw TLSError(.invalidConfiguration, "SNI name '\(name)' for \(entry.certfile) is not a host name or *.domain pattern")
            }
        }
    }

    /// The ALPN list as the shim expects it: a 2-byte big-endian length, then the wire format
    /// (each name preceded by its length, RFC 7301 §3.1).
    func alpnList() -> [UInt8] {
        var wire: [UInt8] = []
        for name in alpnProtocols {
            wire.append(UInt8(name.utf8.count))
            wire.append(contentsOf: name.utf8)
        }
        return [UInt8(wire.count >> 8), UInt8(wire.count & 0xFF)] + wire
    }
}
