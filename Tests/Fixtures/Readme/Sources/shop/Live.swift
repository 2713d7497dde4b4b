// Sources/shop/Live.swift — a live feed of new items, added to the router with `addLiveFeed(to:)`
import AppProtocol

/// The sockets open in this worker, each told about every item added here.
actor Subscribers {
    private var sockets: [ObjectIdentifier: WebSocket] = [:]

    func add(_ socket: WebSocket) { sockets[ObjectIdentifier(socket)] = socket }
    func remove(_ socket: WebSocket) { sockets[ObjectIdentifier(socket)] = nil }

    func publish(_ text: String) async {
        for socket in sockets.values {
            try? await socket.send(text)  // waits while that client is slow to read
        }
    }
}

func addLiveFeed(to router: Router, subscribers: Subscribers) {
    // Only pages of this site may open it from a browser; non-browser clients send no Origin.
    let options = WebSocketOptions(subprotocols: ["shop.v1"], allowedOrigins: ["https://shop.example"])
    router.webSocket("/live", options: options) { request, socket in
        await subscribers.add(socket)
        for try await message in socket {
            if case .text("ping") = message { try await socket.send("pong") }
        }
        await subscribers.remove(socket)  // the client closed, or the worker is retiring (1001)
    }
}
