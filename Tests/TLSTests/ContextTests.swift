import TestSupport
import Testing
@testable import TLS

@Suite(.enabled(if: Requirement.commands("openssl") && Requirement.libssl, "needs the openssl command and libssl.so.3 (Debian: openssl, libssl3)")) struct ContextTests {
    let certificates: Certificates
    init() throws { certificates = try Certificates.get() }

    func settings(certfile: String = "alpha.crt", keyfile: String = "alpha.key") -> TLSConfiguration {
        TLSConfiguration(certfile: certificates.path(certfile), keyfile: certificates.path(keyfile))
    }

    @Test func aKeyThatDoesNotMatchItsCertificateNamesBothFiles() throws {
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: settings(keyfile: "beta.key")) }
        #expect(error.code == .keyMismatch)
        #expect(error.message.contains("keyfile \(certificates.path("beta.key")) does not match certfile \(certificates.path("alpha.crt"))"), "\(error)")
        #expect(error.message.contains("key values mismatch"), "\(error)")
    }

    @Test func anSNIKeyMismatchNamesItsFiles() throws {
        var configuration = settings()
        configuration.serverCertificates = [
            .init(names: ["beta.test"], certfile: certificates.path("beta.crt"), keyfile: certificates.path("client.key"))
        ]
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .keyMismatch)
        #expect(error.message.contains(certificates.path("beta.crt")) && error.message.contains(certificates.path("client.key")))
    }

    @Test func aMissingCertificateFileIsNamed() throws {
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: settings(certfile: "missing.crt")) }
        #expect(error.code == .certificate)
        #expect(error.message.contains("cannot load certfile \(certificates.path("missing.crt"))"), "\(error)")
        #expect(error.message.contains("No such file or directory"), "\(error)")
    }

    @Test func aKeyFileThatIsNotAKeyIsNamed() throws {
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: settings(keyfile: "alpha.crt")) }
        #expect(error.code == .privateKey)
        #expect(error.message.contains("cannot load keyfile \(certificates.path("alpha.crt"))"), "\(error)")
    }

    @Test func aMissingCAFileIsNamed() throws {
        var configuration = settings()
        configuration.caCerts = certificates.path("missing-ca.crt")
        configuration.certReqs = .required
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .caCertificates)
        #expect(error.message.contains(certificates.path("missing-ca.crt")), "\(error)")
    }

    @Test func clientVerificationNeedsCACertificates() throws {
        var configuration = settings()
        configuration.certReqs = .required
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .invalidConfiguration)
        #expect(error.message == "cert_reqs=required needs ca_certs to verify client certificates")
    }

    @Test func anUnknownCipherListIsRefused() throws {
        var configuration = settings()
        configuration.ciphers = "NO-SUCH-CIPHER"
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .ciphers)
        #expect(error.message.contains("NO-SUCH-CIPHER"))
    }

    @Test(arguments: [[""], [String(repeating: "x", count: 256)]])
    func invalidALPNNamesAreRefused(names: [String]) throws {
        var configuration = settings()
        configuration.alpnProtocols = names
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .invalidConfiguration)
    }

    @Test(arguments: [[], ["bad name"], ["*"], ["a..b"], ["*.*.test"]])
    func invalidServerNamesAreRefused(names: [String]) throws {
        var configuration = settings()
        configuration.serverCertificates = [.init(names: names, certfile: certificates.path("beta.crt"), keyfile: certificates.path("beta.key"))]
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: configuration) }
        #expect(error.code == .invalidConfiguration)
    }

    @Test func aMissingLibsslIsNamedWithItsPackage() throws {
        let library = TLSLibrary(ssl: "libssl-absent.so.3", crypto: TLSLibrary.system.crypto)
        let error = try #require(throws: TLSError.self) { try TLSContext(configuration: settings(), library: library) }
        #expect(error.code == .libraryUnavailable)
        #expect(error.message.hasPrefix("cannot load libssl-absent.so.3 (TLS needs OpenSSL 3; on Debian and Ubuntu install the package libssl3): "), "\(error)")
        #expect(error.message.contains("No such file"), "\(error)")
    }

    @Test func aMissingLibcryptoIsNamedWithItsPackage() throws {
        let library = TLSLibrary(ssl: TLSLibrary.system.ssl, crypto: "libcrypto-absent.so.3")
        let error = try #require(throws: TLSError.self) { try library.load() }
        #expect(error.code == .libraryUnavailable)
        #expect(error.message.contains("cannot load libcrypto-absent.so.3"))
        #expect(error.message.contains("libssl3"))
    }

    @Test func aLibraryWithoutOpenSSLFunctionsIsRefused() throws {
        // libz is no OpenSSL: the first function looked up is missing.
        let library = TLSLibrary(ssl: TLSLibrary.system.ssl, crypto: "libz.so.1")
        let error = try #require(throws: TLSError.self) { try library.load() }
        #expect(error.code == .libraryUnavailable)
        #expect(error.message.contains("lacks the function OpenSSL_version_num"), "\(error)")
    }

    @Test func sessionsKeepTheContextTheyWereMadeFrom() throws {
        var context: TLSContext? = try TLSContext(configuration: settings())
        let server = try #require(context).makeSession()
        let client = try TestClient(caFile: certificates.path("ca.crt")).connect()
        // A reload replaces the context; the open connection keeps the old one.
        context = try TLSContext(configuration: settings(certfile: "beta.crt", keyfile: "beta.key"))
        try pump(client, server)
        #expect(server.state == .established)
        #expect(client.peerCertificate?.subject == "CN=alpha.test")
        let (fresh, _) = try connect(TestClient(caFile: certificates.path("ca.crt")), to: try #require(context))
        #expect(fresh.peerCertificate?.subject == "CN=beta.test")
    }
}
