import ArbiterABI

/// The certificate a client proved it holds under mutual TLS (`cert_reqs` optional or required),
/// verified by the server against `ca_certs` before the request reached the application.
public struct ClientCertificate: Sendable, Equatable {
    /// The subject's distinguished name, RFC 2253 form (`CN=client,O=Example`).
    public let subject: String
    /// The issuer's distinguished name, RFC 2253 form.
    public let issuer: String
    /// The whole certificate, PEM-encoded, for checks beyond the names (extensions, fingerprints).
    public let pem: String

    public init(subject: String, issuer: String, pem: String) {
        self.subject = subject
        self.issuer = issuer
        self.pem = pem
    }

    /// The certificate a request view carries, nil when it has none or comes from a server whose
    /// view predates these fields (`struct_size` does not cover them).
    init?(view: arbiter_request) {
        let end = MemoryLayout<arbiter_request>.offset(of: \.client_cert_pem)! + MemoryLayout<arbiter_bytes>.size
        guard view.struct_size >= end, view.client_cert_subject.length > 0 else { return nil }
        func text(_ b: arbiter_bytes) -> String {
            guard let base = b.base, b.length > 0 else { return "" }
            return String(decoding: UnsafeBufferPointer(start: base, count: b.length), as: UTF8.self)
        }
        self.init(subject: text(view.client_cert_subject), issuer: text(view.client_cert_issuer), pem: text(view.client_cert_pem))
    }
}
