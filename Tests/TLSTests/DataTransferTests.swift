import COpenSSL
import TestSupport
import Testing
@testable import TLS

@Suite(.enabled(if: Requirement.commands("openssl") && Requirement.libssl, "needs the openssl command and libssl.so.3 (Debian: openssl, libssl3)")) struct DataTransferTests {
    let context: TLSContext
    init() throws {
        let certificates = try Certificates.get()
        context = try TLSContext(configuration: TLSConfiguration(
            certfile: certificates.path("alpha.crt"), keyfile: certificates.path("alpha.key")))
    }

    /// Deterministic, non-repeating-looking test data.
    static func pattern(_ count: Int) -> [UInt8] {
        var state: UInt32 = 2_166_136_261
        return (0..<count).map { _ in
            state = state &* 16_777_619 ^ 0x9E37_79B9
            return UInt8(truncatingIfNeeded: state >> 13)
        }
    }

    @Test(arguments: TLSConfiguration.ProtocolVersion.allCases)
    func dataRoundTripsBothWays(version: TLSConfiguration.ProtocolVersion) throws {
        let (client, server) = try connect(TestClient(maximumVersion: version), to: context)
        let request = Array("GET / HTTP/1.1\r\nHost: alpha.test\r\n\r\n".utf8)
        #expect(try transfer(request, from: client, to: server) == request)
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".utf8)
        #expect(try transfer(response, from: server, to: client) == response)
    }

    @Test func oneMebibyteRoundTripsBothWays() throws {
        let (client, server) = try connect(TestClient(), to: context)
        let payload = Self.pattern(1 << 20)
        let upstream = try transfer(payload, from: client, to: server)
        #expect(upstream.count == payload.count)
        #expect(upstream == payload)
        let downstream = try transfer(payload, from: server, to: client)
        #expect(downstream == payload)
    }

    @Test func plaintextComesOutInPiecesOfTheCallersSize() throws {
        let (client, server) = try connect(TestClient(), to: context)
        try client.send(plaintext: Self.pattern(1000))
        try server.receive(ciphertext: client.takeCiphertext())
        var collected: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        var reads = 0
        while reads < 100 {
            reads += 1
            let read = try buffer.withUnsafeMutableBytes { try server.readPlaintext(into: $0) }
            guard case .bytes(let count) = read else {
                #expect(read == .needsCiphertext)
                break
            }
            #expect(count <= 64)
            collected += buffer.prefix(count)
        }
        #expect(collected == Self.pattern(1000))
    }

    @Test func ciphertextMayArriveOneByteAtATime() throws {
        let server = try context.makeSession()
        let client = try TestClient().connect()
        var rounds = 0
        while (client.wantsWrite || server.wantsWrite) && rounds < 100 {
            rounds += 1
            for byte in client.takeCiphertext() { try server.receive(ciphertext: [byte]) }
            for byte in server.takeCiphertext() { try client.receive(ciphertext: [byte]) }
        }
        #expect(server.state == .established)
        #expect(try transfer(Array("ping".utf8), from: client, to: server) == Array("ping".utf8))
    }

    /// A TLS 1.3 KeyUpdate asking for an update in return (RFC 8446 §4.6.3): the server's own
    /// KeyUpdate goes out before its next application data, and traffic continues under new keys.
    @Test func keyUpdateIsAnswered() throws {
        let (client, server) = try connect(TestClient(), to: context)
        #expect(cossl_SSL_key_update(client.ssl, Int32(COSSL_SSL_KEY_UPDATE_REQUESTED)) == 1)
        try client.send(plaintext: Array("after update".utf8))
        try server.receive(ciphertext: client.takeCiphertext())
        #expect(!server.wantsWrite)
        var plaintext: [UInt8] = []
        #expect(try server.readPlaintext(appendingTo: &plaintext) == .needsCiphertext)
        #expect(plaintext == Array("after update".utf8))
        #expect(try transfer(Array("both ways".utf8), from: server, to: client) == Array("both ways".utf8))
        #expect(try transfer(Array("still".utf8), from: client, to: server) == Array("still".utf8))
    }

    @Test func closeNotifyEndsBothDirections() throws {
        let (client, server) = try connect(TestClient(), to: context)
        client.close()
        #expect(client.state == .closed)
        #expect(client.wantsWrite)
        try server.receive(ciphertext: client.takeCiphertext())
        var plaintext: [UInt8] = []
        #expect(try server.readPlaintext(appendingTo: &plaintext) == .closed(.closeNotify))
        #expect(!server.wantsRead)
        // The server may still answer, then closes with its own close_notify.
        server.close()
        #expect(server.state == .closed)
        let alert = server.takeCiphertext()
        #expect(!alert.isEmpty)
        #expect(throws: TLSError.self) { try server.send(plaintext: [1]) }
        #expect(throws: TLSError.self) { try server.readPlaintext(appendingTo: &plaintext) }
        #expect(throws: TLSError.self) { try server.receive(ciphertext: [1]) }
    }

    @Test func serverCloseNotifyReachesTheClient() throws {
        let (client, server) = try connect(TestClient(), to: context)
        try server.send(plaintext: Array("bye".utf8))
        server.close()
        try client.receive(ciphertext: server.takeCiphertext())
        var plaintext: [UInt8] = []
        #expect(try client.readPlaintext(appendingTo: &plaintext) == .closed(.closeNotify))
        #expect(plaintext == Array("bye".utf8))
    }

    @Test func endOfStreamWithoutCloseNotifyIsTruncation() throws {
        let (client, server) = try connect(TestClient(), to: context)
        try client.send(plaintext: Array("partial".utf8))
        try server.receive(ciphertext: client.takeCiphertext())
        try server.receiveEndOfStream()
        var plaintext: [UInt8] = []
        #expect(try server.readPlaintext(appendingTo: &plaintext) == .closed(.truncated))
        #expect(plaintext == Array("partial".utf8))
        #expect(!server.wantsRead)
    }

    @Test func endOfStreamDuringTheHandshakeFails() throws {
        let server = try context.makeSession()
        let client = try TestClient().connect()
        let hello = client.takeCiphertext()
        try server.receive(ciphertext: Array(hello.prefix(10)))
        let error = try #require(throws: TLSError.self) { try server.receiveEndOfStream() }
        #expect(error.code == .handshakeFailed)
        #expect(error.message.contains("the peer closed the connection"), "\(error)")
        #expect(server.state == .failed)
    }

    @Test(arguments: [
        Array("GET / HTTP/1.1\r\nHost: alpha.test\r\n\r\n".utf8),
        [0x16, 0x03, 0x01, 0x00, 0x05, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF],
        DataTransferTests.pattern(4096),
    ])
    func garbageInsteadOfAClientHelloFailsCleanly(garbage: [UInt8]) throws {
        let server = try context.makeSession()
        let error = try #require(throws: TLSError.self) { try server.receive(ciphertext: garbage) }
        #expect(error.code == .handshakeFailed)
        #expect(error.message.hasPrefix("TLS handshake failed: error:"), "\(error)")
        #expect(!error.reasons.isEmpty)
        #expect(server.state == .failed)
        #expect(!server.wantsRead)
        // The next connection on the same context and thread is unaffected by the error.
        _ = try connect(TestClient(), to: context)
    }

    @Test func corruptedRecordFailsTheSession() throws {
        let (client, server) = try connect(TestClient(), to: context)
        try client.send(plaintext: Array("hello".utf8))
        var record = client.takeCiphertext()
        record[record.count - 1] ^= 0xFF
        try server.receive(ciphertext: record)
        var plaintext: [UInt8] = []
        let error = try #require(throws: TLSError.self) { try server.readPlaintext(appendingTo: &plaintext) }
        #expect(error.code == .protocolError)
        #expect(error.message.contains("bad record mac") || error.message.contains("decryption failed"), "\(error)")
        #expect(server.state == .failed)
        #expect(plaintext.isEmpty)
    }
}
