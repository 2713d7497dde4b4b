import COpenSSL
import TestSupport
import Testing
@testable import TLS

@Suite(.enabled(if: Requirement.commands("openssl") && Requirement.libssl, "needs the openssl command and libssl.so.3 (Debian: openssl, libssl3)")) struct HandshakeTests {
    let certificates: Certificates
    init() throws { certificates = try Certificates.get() }

    func configuration() -> TLSConfiguration {
        TLSConfiguration(
            certfile: certificates.path("alpha.crt"), keyfile: certificates.path("alpha.key"),
            serverCertificates: [
                .init(names: ["beta.test", "*.beta.test"], certfile: certificates.path("beta.crt"), keyfile: certificates.path("beta.key"))
            ])
    }

    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func handshakeCompletes(version: TLSConfiguration.ProtocolVersion) throws {
        let context = try TLSContext(configuration: configuration())
        let (client, server) = try connect(
            TestClient(caFile: certificates.path("ca.crt"), serverName: "alpha.test", maximumVersion: version), to: context)
        #expect(server.protocolVersion == version.rawValue)
        #expect(client.protocolVersion == version.rawValue)
        #expect(server.cipher != nil)
        #expect(server.cipher == client.cipher)
        #expect(server.alpnProtocol == "http/1.1")
        #expect(client.alpnProtocol == "http/1.1")
        #expect(server.serverName == "alpha.test")
        #expect(!server.isResumed)
        // The client verified the server's chain against the CA.
        #expect(client.peerCertificate == PeerCertificate(subject: "CN=alpha.test", issuer: "CN=Arbiter Test CA,O=Arbiter Tests"))
        // Without cert_reqs, no client certificate is requested.
        #expect(server.peerCertificate == nil)
        #expect(server.wantsRead && !server.wantsWrite)
    }

    @Test func negotiatedValuesAreAbsentDuringTheHandshake() throws {
        let server = try TLSContext(configuration: configuration()).makeSession()
        let client = try TestClient().connect()
        try server.receive(ciphertext: client.takeCiphertext())
        #expect(server.state == .handshaking)
        #expect(server.protocolVersion == nil)
        #expect(server.cipher == nil)
        #expect(server.peerCertificate == nil)
        #expect(server.wantsRead && server.wantsWrite)
        var plaintext: [UInt8] = []
        #expect(try server.readPlaintext(appendingTo: &plaintext) == .needsCiphertext)
        #expect(throws: TLSError.self) { try server.send(plaintext: [1]) }
    }

    @Test(arguments: [
        ("alpha.test", "CN=alpha.test"), ("beta.test", "CN=beta.test"), ("BETA.test.", "CN=beta.test"),
        ("www.beta.test", "CN=beta.test"), ("a.b.beta.test", "CN=alpha.test"), ("unknown.test", "CN=alpha.test"),
    ])
    func serverNameChoosesTheCertificate(name: String, subject: String) throws {
        let context = try TLSContext(configuration: configuration())
        let (client, server) = try connect(TestClient(caFile: certificates.path("ca.crt"), serverName: name), to: context)
        #expect(client.peerCertificate?.subject == subject)
        #expect(server.serverName == name)
        // The SNI certificate's context keeps ALPN.
        #expect(server.alpnProtocol == "http/1.1")
    }

    @Test func noServerNameGetsTheDefaultCertificate() throws {
        let context = try TLSContext(configuration: configuration())
        let (client, server) = try connect(TestClient(caFile: certificates.path("ca.crt")), to: context)
        #expect(client.peerCertificate?.subject == "CN=alpha.test")
        #expect(server.serverName == nil)
    }

    @Test func alpnFollowsTheServersPreference() throws {
        var settings = configuration()
        settings.alpnProtocols = ["h2", "http/1.1"]
        let context = try TLSContext(configuration: settings)
        let (_, server) = try connect(TestClient(alpnProtocols: ["http/1.1", "h2"]), to: context)
        #expect(server.alpnProtocol == "h2")
        let (_, other) = try connect(TestClient(alpnProtocols: ["http/1.1"]), to: context)
        #expect(other.alpnProtocol == "http/1.1")
    }

    @Test func alpnWithoutOverlapIsAFatalAlert() throws {
        // RFC 7301 §3.2: no_application_protocol, not a connection in a protocol not asked for.
        let context = try TLSContext(configuration: configuration())
        let failure = try #require(throws: (any Error).self) { try connect(TestClient(alpnProtocols: ["h2"]), to: context) }
        #expect("\(failure)".contains("no application protocol"))
        // A client that offers no ALPN at all is served (HTTP/1.1 by default).
        let (_, silent) = try connect(TestClient(alpnProtocols: []), to: context)
        #expect(silent.alpnProtocol == nil)
    }

    @Test func cipherListAppliesToTLS12() throws {
        var settings = configuration()
        settings.ciphers = "ECDHE-ECDSA-AES256-GCM-SHA384"
        let context = try TLSContext(configuration: settings)
        let (client, server) = try connect(TestClient(maximumVersion: .tls12), to: context)
        #expect(server.cipher == "ECDHE-ECDSA-AES256-GCM-SHA384")
        #expect(client.cipher == "ECDHE-ECDSA-AES256-GCM-SHA384")
    }

    @Test func cipherSuitesApplyToTLS13() throws {
        var settings = configuration()
        settings.cipherSuites = "TLS_CHACHA20_POLY1305_SHA256"
        let context = try TLSContext(configuration: settings)
        let (_, server) = try connect(TestClient(), to: context)
        #expect(server.cipher == "TLS_CHACHA20_POLY1305_SHA256")
    }

    @Test func minimumVersionRefusesOlderClients() throws {
        var settings = configuration()
        settings.minimumVersion = .tls13
        let server = try TLSContext(configuration: settings).makeSession()
        let client = try TestClient(maximumVersion: .tls12).connect()
        let failure = try #require(throws: PumpFailure.self) { try pump(client, server) }
        #expect(failure.side == "server")
        #expect(failure.error.code == .handshakeFailed)
        #expect(failure.error.message.contains("unsupported protocol"))
        #expect(server.state == .failed)
        // The alert for the client is queued.
        #expect(server.wantsWrite)
    }

    /// Client-initiated renegotiation costs the server a full handshake per request and is refused
    /// (OpenSSL 3's default, and SSL_OP_NO_RENEGOTIATION); the connection itself carries on.
    @Test func renegotiationIsRefused() throws {
        let (client, server) = try connect(TestClient(maximumVersion: .tls12), to: TLSContext(configuration: configuration()))
        #expect(cossl_SSL_renegotiate(client.ssl) == 1)
        _ = cossl_SSL_do_handshake(client.ssl)
        #expect(client.wantsWrite)
        try server.receive(ciphertext: client.takeCiphertext())
        var plaintext: [UInt8] = []
        #expect(try server.readPlaintext(appendingTo: &plaintext) == .needsCiphertext)
        #expect(server.state == .established)
        // The server answered with a no_renegotiation warning alert instead of a handshake.
        let answer = server.takeCiphertext()
        #expect(answer.first == 21)  // content type alert (RFC 5246 §6.2.1)
        try server.send(plaintext: Array("still here".utf8))
        #expect(server.wantsWrite)
    }
}
