@testable import AppProtocol
import Testing

@Suite struct WebSocketOptionsTests {
    private func handshake(origin: String? = nil, protocols: String? = nil) -> Request {
        var headers: Headers = ["Upgrade": "websocket", "Connection": "Upgrade"]
        if let origin { headers["Origin"] = origin }
        if let protocols { headers["Sec-WebSocket-Protocol"] = protocols }
        return Request(method: "GET", target: "/live", headers: headers)
    }

    @Test func offeredSubprotocolsAreReadAsAList() {
        #expect(handshake(protocols: "chat.v2, chat.v1 ,,x").webSocketSubprotocols == ["chat.v2", "chat.v1", "x"])
        #expect(handshake().webSocketSubprotocols.isEmpty)
        #expect(handshake().isWebSocketUpgrade)
        #expect(!Request(method: "GET", target: "/").isWebSocketUpgrade)
    }

    @Test func theRoutesPreferenceChoosesAmongTheOffered() {
        let options = WebSocketOptions(subprotocols: ["chat.v1", "chat.v2"])
        #expect(options.subprotocol(for: handshake(protocols: "chat.v2, chat.v1")) == "chat.v1")
        #expect(options.subprotocol(for: handshake(protocols: "chat.v2")) == "chat.v2")
        #expect(options.subprotocol(for: handshake(protocols: "other")) == nil)
        #expect(options.subprotocol(for: handshake()) == nil)
    }

    @Test func originsOutsideTheListAreRefusedWith403() throws {
        let options = WebSocketOptions(allowedOrigins: ["https://shop.example"])
        try options.checkOrigin(handshake(origin: "https://SHOP.example"))
        try options.checkOrigin(handshake())  // not a browser: no Origin
        #expect(throws: HTTPError.self) { try options.checkOrigin(handshake(origin: "https://evil.example")) }
        do {
            try options.checkOrigin(handshake(origin: "https://evil.example"))
        } catch let error as HTTPError {
            #expect(error.status == .forbidden)
        }
        try WebSocketOptions().checkOrigin(handshake(origin: "https://anything.example"))
    }

    @Test func aWebSocketResponseSaysSwitchingProtocols() {
        let response = Response.webSocket(subprotocol: "chat.v1") { _ in }
        #expect(response.status.code == 101)
        guard case .webSocket(let handler) = response.body else {
            Issue.record("not a WebSocket body")
            return
        }
        #expect(handler.subprotocol == "chat.v1")
    }
}
