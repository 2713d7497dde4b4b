@testable import WebSocket
import Testing

func upgradeRequest(method: String = "GET", minor: Int = 1, dropping: Set<String> = [], adding extra: [(String, String)] = []) -> HandshakeRequest {
    let base: [(String, String)] = [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ]
    let headers = base.filter { !dropping.contains($0.0) } + extra
    return HandshakeRequest(method: method, versionMajor: 1, versionMinor: minor, headers: headers.map { (name: $0.0, value: $0.1) })
}

func refusal(_ result: HandshakeResult) -> HandshakeRefusal? {
    if case .refuse(let refusal) = result { return refusal }
    return nil
}

func acceptance(_ result: HandshakeResult) -> HandshakeAcceptance? {
    if case .accept(let acceptance) = result { return acceptance }
    return nil
}

func header(_ acceptance: HandshakeAcceptance?, _ name: String) -> String? {
    acceptance?.headers.first { $0.name == name }?.value
}

@Suite struct HandshakeTests {
    @Test func sha1Vectors() {
        // RFC 3174 §7.3 test 1 and 2, and the empty message.
        #expect(SHA1.hash(Array("abc".utf8)).hex == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)).hex == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(SHA1.hash([]).hex == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(SHA1.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hex == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    @Test func base64Vectors() {
        // RFC 4648 §10.
        let vectors = ["": "", "f": "Zg==", "fo": "Zm8=", "foo": "Zm9v", "foob": "Zm9vYg==", "fooba": "Zm9vYmE=", "foobar": "Zm9vYmFy"]
        for (plain, encoded) in vectors {
            #expect(Base64.encode(Array(plain.utf8)) == encoded)
            #expect(Base64.decode(encoded) == Array(plain.utf8))
        }
        let all = (0...255).map { UInt8($0) }
        #expect(Base64.decode(Base64.encode(all)) == all)
        for bad in ["Zg=", "Z===", "Zg=a", "Zh==", "Zm9=", "Zm 9", "Zm9v====", "Zm9*", "=Zm9"] {
            #expect(Base64.decode(bad) == nil, "\(bad)")
        }
    }

    @Test func acceptValueFromRFCExample() {
        // RFC 6455 §1.3.
        #expect(Handshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func accepts() throws {
        let accepted = try #require(acceptance(Handshake.respond(to: upgradeRequest(), policy: HandshakePolicy())))
        #expect(header(accepted, "Upgrade") == "websocket")
        #expect(header(accepted, "Connection") == "Upgrade")
        #expect(header(accepted, "Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(header(accepted, "Sec-WebSocket-Protocol") == nil)
        #expect(header(accepted, "Sec-WebSocket-Extensions") == nil)
        #expect(accepted.deflate == nil && accepted.subprotocol == nil && accepted.compressionDeclinedReason == nil)
    }

    @Test func tokenListsAreCaseInsensitive() {
        let request = HandshakeRequest(method: "GET", headers: [
            (name: "host", value: "a"), (name: "UPGRADE", value: "h2c, WebSocket"), (name: "connection", value: "close"),
            (name: "Connection", value: "UPGRADE"), (name: "sec-websocket-key", value: " dGhlIHNhbXBsZSBub25jZQ== "),
            (name: "SEC-WEBSOCKET-VERSION", value: "13"), (name: "Origin", value: "https://a"),
        ])
        #expect(acceptance(Handshake.respond(to: request, policy: HandshakePolicy())) != nil)
        #expect(acceptance(Handshake.respond(to: upgradeRequest(minor: 2), policy: HandshakePolicy())) != nil)
    }

    @Test func refusals() {
        let policy = HandshakePolicy()
        #expect(refusal(Handshake.respond(to: upgradeRequest(adding: [("Content-Length", "0")]), policy: policy)) == nil)
        let cases: [(HandshakeRequest, Int)] = [
            (upgradeRequest(method: "POST"), 405),
            (upgradeRequest(method: "get"), 405),
            (upgradeRequest(minor: 0), 400),
            (upgradeRequest(dropping: ["Host"]), 400),
            (upgradeRequest(adding: [("Host", "other")]), 400),
            (upgradeRequest(dropping: ["Upgrade"]), 400),
            (upgradeRequest(dropping: ["Upgrade"], adding: [("Upgrade", "websocket2")]), 400),
            (upgradeRequest(dropping: ["Connection"]), 400),
            (upgradeRequest(dropping: ["Connection"], adding: [("Connection", "keep-alive")]), 400),
            (upgradeRequest(dropping: ["Sec-WebSocket-Key"]), 400),
            (upgradeRequest(adding: [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]), 400),
            (upgradeRequest(dropping: ["Sec-WebSocket-Key"], adding: [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j")]), 400), // 15 bytes
            (upgradeRequest(dropping: ["Sec-WebSocket-Key"], adding: [("Sec-WebSocket-Key", "AAAAAAAAAAAAAAAAAAAAAAAA")]), 400), // 18 bytes
            (upgradeRequest(dropping: ["Sec-WebSocket-Key"], adding: [("Sec-WebSocket-Key", "not base64!")]), 400),
            (upgradeRequest(dropping: ["Sec-WebSocket-Version"]), 426),
            (upgradeRequest(dropping: ["Sec-WebSocket-Version"], adding: [("Sec-WebSocket-Version", "8")]), 426),
            (upgradeRequest(dropping: ["Sec-WebSocket-Version"], adding: [("Sec-WebSocket-Version", "13, 8")]), 426),
            (upgradeRequest(adding: [("Content-Length", "4")]), 400),
            (upgradeRequest(adding: [("Transfer-Encoding", "chunked")]), 400),
        ]
        for (request, status) in cases {
            let refused = refusal(Handshake.respond(to: request, policy: policy))
            #expect(refused?.status == status, "\(request.method) \(request.headers)")
            if status == 426 {
                #expect(refused?.headers["Sec-WebSocket-Version"] == "13")
                #expect(refused?.headers["Upgrade"] == "websocket")  // RFC 9110 §15.5.22
            }
            if status == 405 { #expect(refused?.headers["Allow"] == "GET") }
        }
    }

    @Test func originHook() {
        let policy = HandshakePolicy(checkOrigin: { $0 == "https://good.example" })
        #expect(refusal(Handshake.respond(to: upgradeRequest(adding: [("Origin", "https://evil.example")]), policy: policy))?.status == 403)
        #expect(refusal(Handshake.respond(to: upgradeRequest(), policy: policy))?.status == 403)
        #expect(acceptance(Handshake.respond(to: upgradeRequest(adding: [("Origin", "https://good.example")]), policy: policy)) != nil)
    }

    @Test func subprotocolIsTheApplicationsChoice() throws {
        let request = upgradeRequest(adding: [("Sec-WebSocket-Protocol", "chat, superchat"), ("Sec-WebSocket-Protocol", "v3")])
        let picksLast = HandshakePolicy(selectSubprotocol: { $0.last })
        let accepted = try #require(acceptance(Handshake.respond(to: request, policy: picksLast)))
        #expect(accepted.subprotocol == "v3")
        #expect(header(accepted, "Sec-WebSocket-Protocol") == "v3")
        let none = try #require(acceptance(Handshake.respond(to: request, policy: HandshakePolicy())))
        #expect(header(none, "Sec-WebSocket-Protocol") == nil)
        let bogus = HandshakePolicy(selectSubprotocol: { _ in "mqtt" })
        #expect(refusal(Handshake.respond(to: request, policy: bogus))?.status == 500)
    }
}

extension [UInt8] {
    var hex: String { map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
}
