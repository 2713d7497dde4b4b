import COpenSSL
import Testing
@testable import TLS

/// A TLS client over the same dlopen'd OpenSSL, wrapped in a `TLSSession` in the client role.
struct TestClient {
    /// A session the client may offer for resumption (SSL_SESSION).
    final class SavedSession {
        let pointer: OpaquePointer
        init(_ pointer: OpaquePointer) { self.pointer = pointer }
        deinit { cossl_SSL_SESSION_free(pointer) }
    }

    var caFile: String?
    var certfile: String?
    var keyfile: String?
    var serverName: String?
    var alpnProtocols: [String] = ["http/1.1"]
    var maximumVersion: TLSConfiguration.ProtocolVersion?
    var resume: SavedSession?

    /// A client session with its ClientHello already queued.
    func connect() throws -> TLSSession {
        try TLSLibrary.system.load()
        guard let context = cossl_SSL_CTX_new(cossl_TLS_client_method()) else { throw TestFailure("SSL_CTX_new") }
        // The session keeps its own reference to the context.
        defer { cossl_SSL_CTX_free(context) }
        if let caFile {
            #expect(cossl_SSL_CTX_load_verify_locations(context, caFile, nil) == 1)
            cossl_SSL_CTX_set_verify(context, Int32(COSSL_SSL_VERIFY_PEER), nil)
        }
        if let certfile, let keyfile {
            #expect(cossl_SSL_CTX_use_certificate_chain_file(context, certfile) == 1)
            #expect(cossl_SSL_CTX_use_PrivateKey_file(context, keyfile, Int32(COSSL_SSL_FILETYPE_PEM)) == 1)
        }
        if let maximumVersion {
            #expect(cossl_SSL_CTX_set_max_proto_version(context, maximumVersion.wireValue) == 1)
        }
        if !alpnProtocols.isEmpty {
            let wire = alpnProtocols.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
            // Returns 0 on success, unlike most OpenSSL functions.
            #expect(cossl_SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0)
        }
        guard let ssl = cossl_SSL_new(context) else { throw TestFailure("SSL_new") }
        if let serverName { #expect(cossl_SSL_set_tlsext_host_name(ssl, serverName) == 1) }
        if let resume { #expect(cossl_SSL_set_session(ssl, resume.pointer) == 1) }
        let session = try TLSSession(ssl: ssl, owner: nil, isServer: false)
        try session.advanceHandshake()
        return session
    }

    /// The session `client` may resume later (after it has read the server's tickets).
    static func savedSession(of client: TLSSession) -> SavedSession? {
        cossl_SSL_get1_session(client.ssl).map(SavedSession.init)
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Which side of a pumped handshake failed, and how.
struct PumpFailure: Error {
    let side: String
    let error: TLSError
}

/// Moves ciphertext both ways until neither side has anything queued (at most 50 rounds).
func pump(_ client: TLSSession, _ server: TLSSession) throws(PumpFailure) {
    for _ in 0..<50 {
        var moved = false
        if client.wantsWrite {
            moved = true
            do { try server.receive(ciphertext: client.takeCiphertext()) } catch { throw PumpFailure(side: "server", error: error) }
        }
        if server.wantsWrite {
            moved = true
            do { try client.receive(ciphertext: server.takeCiphertext()) } catch { throw PumpFailure(side: "client", error: error) }
        }
        if !moved { return }
    }
    Issue.record("the handshake did not settle in 50 rounds")
}

/// A client and a server session with a completed handshake.
func connect(_ client: TestClient, to context: TLSContext) throws -> (client: TLSSession, server: TLSSession) {
    let server = try context.makeSession()
    let session = try client.connect()
    try pump(session, server)
    #expect(server.state == .established)
    #expect(session.state == .established)
    return (session, server)
}

/// Sends `bytes` from `sender` to `receiver` in ciphertext chunks of at most 16 KiB; returns what
/// `receiver` decrypted.
func transfer(_ bytes: [UInt8], from sender: TLSSession, to receiver: TLSSession) throws -> [UInt8] {
    try sender.send(plaintext: bytes)
    var received: [UInt8] = []
    var rounds = 0
    while sender.wantsWrite && rounds < 10_000 {
        rounds += 1
        try receiver.receive(ciphertext: sender.takeCiphertext(maxCount: 16_384))
        #expect(try receiver.readPlaintext(appendingTo: &received) == .needsCiphertext)
    }
    return received
}
