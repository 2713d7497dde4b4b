import COpenSSL
import Platform

extension TLSContext {
    /// The session ID context: SHA-256 over the settings that decide who is let in (`cert_reqs`, the
    /// `ca_certs` path and its contents).
    ///
    /// OpenSSL resumes a session (a ticket) only under the context it was made in. Equal settings
    /// give equal values, so workers resume each other's sessions; a reload that turns on mutual TLS
    /// or changes the CAs gives a new value, so no ticket from before lets a client skip the
    /// certificate check. A connection that names a server joins the name to it
    /// (`ServerNameRouter`), so a session resumes only under the name it was made for.
    ///
    /// `loading` names where the files are read from (in-memory copies in a worker); the digest
    /// takes the configured path, so every worker computes the same value.
    static func sessionContext(for configuration: TLSConfiguration, loading: TLSConfiguration) throws(TLSError) -> [UInt8] {
        var input = Array("arbiter TLS session context 1\0cert_reqs=\(configuration.certReqs.rawValue)\0".utf8)
        if let caCerts = configuration.caCerts, !caCerts.isEmpty {
            input += Array("ca_certs=\(caCerts)\0".utf8)
            do {
                input += try Files.read(loading.caCerts ?? caCerts)
            } catch {
                throw TLSError(.caCertificates, "cannot read ca_certs \(caCerts): \(error)")
            }
        }
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        ErrorQueue.clear()
        guard cossl_EVP_Digest(input, input.count, &digest, &length, cossl_EVP_sha256(), nil) == 1, length == 32 else {
            throw ErrorQueue.error(.resources, "cannot compute the session ID context")
        }
        return digest
    }
}
