import TestSupport
import Testing
@testable import TLS

/// Two contexts stand for two worker processes behind the same listener.
@Suite(.enabled(if: Requirement.commands("openssl") && Requirement.libssl, "needs the openssl command and libssl.so.3 (Debian: openssl, libssl3)")) struct ResumptionTests {
    let certificates: Certificates
    let configuration: TLSConfiguration
    init() throws {
        certificates = try Certificates.get()
        configuration = TLSConfiguration(certfile: certificates.path("alpha.crt"), keyfile: certificates.path("alpha.key"))
    }

    /// The first connection's session, saved after reading its tickets.
    func savedSession(from context: TLSContext, client: TestClient) throws -> TestClient.SavedSession {
        let (session, _) = try connect(client, to: context)
        // TLS 1.3 tickets arrive after the handshake (RFC 8446 §4.6.1); reading processes them.
        var plaintext: [UInt8] = []
        #expect(try session.readPlaintext(appendingTo: &plaintext) == .needsCiphertext)
        let saved = try #require(TestClient.savedSession(of: session))
        session.close()
        return saved
    }

    /// Connects to `first`, keeps the session, then connects again to `second` offering it.
    func resumes(from first: TLSContext, on second: TLSContext, version: TLSConfiguration.ProtocolVersion) throws -> Bool {
        let saved = try savedSession(from: first, client: TestClient(maximumVersion: version))
        let (again, server) = try connect(TestClient(maximumVersion: version, resume: saved), to: second)
        #expect(again.isResumed == server.isResumed)
        // A resumed connection works like any other.
        #expect(try transfer(Array("ping".utf8), from: again, to: server) == Array("ping".utf8))
        return server.isResumed
    }

    func mutualTLS(_ requirement: TLSConfiguration.CertificateRequirement, keys: TicketKeys) throws -> TLSContext {
        var settings = configuration
        settings.caCerts = certificates.path("ca.crt")
        settings.certReqs = requirement
        return try TLSContext(configuration: settings, ticketKeys: keys)
    }

    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func mutualTLSSessionsResumeWithTheirPeerCertificate(version: TLSConfiguration.ProtocolVersion) throws {
        let keys = try TicketKeys.generate()
        let client = TestClient(
            certfile: certificates.path("client.crt"), keyfile: certificates.path("client.key"), maximumVersion: version)
        var resuming = client
        resuming.resume = try savedSession(from: try mutualTLS(.required, keys: keys), client: client)
        let (_, server) = try connect(resuming, to: try mutualTLS(.required, keys: keys))
        #expect(server.isResumed)
        #expect(server.peerCertificate?.subject == "CN=client.test,O=Arbiter Tests")
    }

    /// A reload that turns on mutual TLS must not let a ticket from before skip the certificate.
    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func ticketsFromBeforeMutualTLSDoNotResume(version: TLSConfiguration.ProtocolVersion) throws {
        let keys = try TicketKeys.generate()
        let before = try TLSContext(configuration: configuration, ticketKeys: keys)
        let saved = try savedSession(from: before, client: TestClient(maximumVersion: version))
        let server = try mutualTLS(.required, keys: keys).makeSession()
        let failure = try #require(throws: PumpFailure.self) {
            try pump(TestClient(maximumVersion: version, resume: saved).connect(), server)
        }
        #expect(failure.side == "server")
        #expect(failure.error.message.contains("peer did not return a certificate"), "\(failure.error)")
        #expect(!server.isResumed)
        // The same settings built again (another worker, or a reload without changes) do resume.
        let optional = try mutualTLS(.optional, keys: keys)
        let optionalSaved = try savedSession(from: optional, client: TestClient(maximumVersion: version))
        let (_, again) = try connect(
            TestClient(maximumVersion: version, resume: optionalSaved), to: try mutualTLS(.optional, keys: keys))
        #expect(again.isResumed)
    }

    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func sharedTicketKeysResumeOnAnotherWorker(version: TLSConfiguration.ProtocolVersion) throws {
        let keys = try TicketKeys.generate()
        let worker1 = try TLSContext(configuration: configuration, ticketKeys: keys)
        let worker2 = try TLSContext(configuration: configuration, ticketKeys: keys)
        #expect(worker1.usesSharedTicketKeys)
        #expect(try resumes(from: worker1, on: worker2, version: version))
    }

    /// A client that moves from worker to worker, each time offering the newest ticket it got.
    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func renewedTicketsKeepResumingAcrossWorkers(version: TLSConfiguration.ProtocolVersion) throws {
        let keys = try TicketKeys.generate()
        let workers = [
            try TLSContext(configuration: configuration, ticketKeys: keys),
            try TLSContext(configuration: configuration, ticketKeys: keys),
        ]
        var saved: TestClient.SavedSession?
        var resumed: [Bool] = []
        for round in 0..<6 {
            let (client, server) = try connect(TestClient(maximumVersion: version, resume: saved), to: workers[round % 2])
            resumed.append(server.isResumed)
            var plaintext: [UInt8] = []
            #expect(try client.readPlaintext(appendingTo: &plaintext) == .needsCiphertext)
            saved = TestClient.savedSession(of: client)
            // OpenSSL clients forget the session of a connection freed without close_notify.
            client.close()
        }
        #expect(resumed == [false, true, true, true, true, true])
    }

    /// A session made for one server name does not resume under another (RFC 6066 §3): the
    /// second connection gets a full handshake and the other name's certificate. The same name
    /// still resumes on another worker (`ServerNameRouterTests` shows that its case and a trailing
    /// dot do not matter).
    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func sessionsResumeOnlyUnderTheirServerName(version: TLSConfiguration.ProtocolVersion) throws {
        var settings = configuration
        settings.serverCertificates = [
            .init(names: ["beta.test"], certfile: certificates.path("beta.crt"), keyfile: certificates.path("beta.key"))
        ]
        let keys = try TicketKeys.generate()
        let worker1 = try TLSContext(configuration: settings, ticketKeys: keys)
        let worker2 = try TLSContext(configuration: settings, ticketKeys: keys)
        let client = TestClient(caFile: certificates.path("ca.crt"), serverName: "alpha.test", maximumVersion: version)
        let saved = try savedSession(from: worker1, client: client)

        func resume(as name: String?) throws -> (resumed: Bool, subject: String?, serverName: String?) {
            var again = client
            again.serverName = name
            again.resume = saved
            let (session, server) = try connect(again, to: worker2)
            #expect(session.isResumed == server.isResumed)
            return (server.isResumed, session.peerCertificate?.subject, server.serverName)
        }
        let other = try resume(as: "beta.test")
        #expect(!other.resumed)
        #expect(other.subject == "CN=beta.test")
        #expect(other.serverName == "beta.test")
        // A name without a certificate of its own is still another name.
        #expect(try !resume(as: "gamma.test").resumed)
        #expect(try !resume(as: nil).resumed)
        #expect(try resume(as: "alpha.test").resumed)
    }

    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func differentTicketKeysDoNotResume(version: TLSConfiguration.ProtocolVersion) throws {
        let worker1 = try TLSContext(configuration: configuration, ticketKeys: try TicketKeys.generate())
        let worker2 = try TLSContext(configuration: configuration, ticketKeys: try TicketKeys.generate())
        #expect(try !resumes(from: worker1, on: worker2, version: version))
    }

    @Test func contextsWithoutSharedKeysDoNotResumeEachOthersSessions() throws {
        let worker1 = try TLSContext(configuration: configuration)
        let worker2 = try TLSContext(configuration: configuration)
        #expect(!worker1.usesSharedTicketKeys)
        #expect(try !resumes(from: worker1, on: worker2, version: .tls13))
        // OpenSSL's own keys still resume on the same context.
        #expect(try resumes(from: worker1, on: worker1, version: .tls13))
    }

    @Test func ticketsUnderThePreviousKeyResumeAfterRotation() throws {
        let keys = try TicketKeys.generate()
        let before = try TLSContext(configuration: configuration, ticketKeys: keys)
        let rotated = try keys.rotated()
        #expect(rotated.previous == keys.current)
        #expect(rotated.current != keys.current)
        let after = try TLSContext(configuration: configuration, ticketKeys: rotated)
        #expect(try resumes(from: before, on: after, version: .tls13))
        // Two rotations later the key is gone.
        let twice = try TLSContext(configuration: configuration, ticketKeys: try rotated.rotated())
        #expect(try !resumes(from: before, on: twice, version: .tls13))
    }

    /// A worker applies the master's rotations to the context it serves with.
    @Test func replacedKeysKeepThePreviousKeyForResumption() throws {
        let keys = try TicketKeys.generate()
        let worker = try TLSContext(configuration: configuration, ticketKeys: keys)
        let saved = try savedSession(from: worker, client: TestClient(maximumVersion: .tls13))
        let rotated = try keys.rotated()
        worker.replaceTicketKeys(rotated)
        let (again, _) = try connect(TestClient(maximumVersion: .tls13, resume: saved), to: worker)
        #expect(again.isResumed)
        worker.replaceTicketKeys(try rotated.rotated())
        let (late, _) = try connect(TestClient(maximumVersion: .tls13, resume: saved), to: worker)
        #expect(!late.isResumed)
    }

    @Test func ticketKeysSerializeForTheWorkers() throws {
        let keys = try TicketKeys.generate().rotated()
        #expect(keys.serialized.count == 2 * TicketKeys.Key.byteCount)
        #expect(try TicketKeys(serialized: keys.serialized) == keys)
        let single = try TicketKeys.generate()
        #expect(try TicketKeys(serialized: single.serialized) == single)
        #expect(throws: TLSError.self) { try TicketKeys(serialized: [1, 2, 3]) }
        #expect(throws: TLSError.self) { try TicketKeys.Key(bytes: [UInt8](repeating: 0, count: 79)) }
    }

    @Test func ticketKeysAreRandomAndNeverPrinted() throws {
        let a = try TicketKeys.generate()
        let b = try TicketKeys.generate()
        #expect(a != b)
        #expect(a.current.name.count == 16)
        let secret = a.current.bytes[16..<80].map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
        #expect(!"\(a)".contains(secret))
        #expect("\(a)".contains(a.current.name.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()))
    }
}
