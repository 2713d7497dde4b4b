/// A verified peer certificate's names, in the one-line RFC 2253 form ("CN=client,O=Example").
public struct PeerCertificate: Sendable, Equatable {
    /// The subject's distinguished name.
    public let subject: String
    /// The issuer's distinguished name.
    public let issuer: String
}
