import TestSupport
import Testing
@testable import TLS

@Suite(.enabled(if: Requirement.commands("openssl") && Requirement.libssl, "needs the openssl command and libssl.so.3 (Debian: openssl, libssl3)")) struct MutualTLSTests {
    let certificates: Certificates
    init() throws { certificates = try Certificates.get() }

    func context(_ requirement: TLSConfiguration.CertificateRequirement) throws -> TLSContext {
        try TLSContext(
            configuration: TLSConfiguration(
                certfile: certificates.path("alpha.crt"), keyfile: certificates.path("alpha.key"),
                caCerts: certificates.path("ca.crt"), certReqs: requirement))
    }

    func client(_ name: String?, version: TLSConfiguration.ProtocolVersion) -> TestClient {
        TestClient(
            caFile: certificates.path("ca.crt"), certfile: name.map { certificates.path("\($0).crt") },
            keyfile: name.map { certificates.path("\($0).key") }, maximumVersion: version)
    }

    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func requiredAcceptsAGoodClientCertificate(version: TLSConfiguration.ProtocolVersion) throws {
        let (_, server) = try connect(client("client", version: version), to: context(.required))
        #expect(server.peerCertificate == PeerCertificate(
            subject: "CN=client.test,O=Arbiter Tests", issuer: "CN=Arbiter Test CA,O=Arbiter Tests"))
        #expect(server.peerCertificatePEM() == (try certificates.contents("client.crt")))
    }

    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func requiredRefusesAMissingCertificate(version: TLSConfiguration.ProtocolVersion) throws {
        let server = try context(.required).makeSession()
        let failure = try #require(throws: PumpFailure.self) { try pump(client(nil, version: version).connect(), server) }
        #expect(failure.side == "server")
        #expect(failure.error.code == .handshakeFailed)
        #expect(failure.error.message.contains("peer did not return a certificate"), "\(failure.error)")
        #expect(server.state == .failed)
        #expect(server.peerCertificate == nil)
    }

    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func requiredRefusesACertificateFromAnotherCA(version: TLSConfiguration.ProtocolVersion) throws {
        let server = try context(.required).makeSession()
        let failure = try #require(throws: PumpFailure.self) { try pump(client("intruder", version: version).connect(), server) }
        #expect(failure.side == "server")
        #expect(failure.error.code == .handshakeFailed)
        #expect(failure.error.message.contains("certificate verify failed"), "\(failure.error)")
        #expect(failure.error.message.contains("certificate verification: unable to get local issuer certificate"), "\(failure.error)")
        #expect(server.peerCertificate == nil)
        #expect(server.peerCertificatePEM() == nil)
    }

    @Test func optionalAcceptsNoCertificate() throws {
        let (_, server) = try connect(client(nil, version: .tls13), to: context(.optional))
        #expect(server.peerCertificate == nil)
    }

    @Test func optionalVerifiesACertificateWhenSent() throws {
        let (_, server) = try connect(client("client", version: .tls13), to: context(.optional))
        #expect(server.peerCertificate?.subject == "CN=client.test,O=Arbiter Tests")
        let refused = try context(.optional).makeSession()
        #expect(throws: PumpFailure.self) { try pump(client("intruder", version: .tls13).connect(), refused) }
    }

    @Test func noneDoesNotAskForACertificate() throws {
        let (_, server) = try connect(client("client", version: .tls13), to: context(.none))
        #expect(server.peerCertificate == nil)
    }
}
