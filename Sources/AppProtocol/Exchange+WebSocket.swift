import ArbiterABI

/// The WebSocket calls of an exchange (present when the server's call table has them).
extension Exchange {
    /// What a receive brings: a message, or the end of the connection with its close code.
    enum Received: Sendable {
        case message(WebSocket.Message)
        case closed(code: UInt16, reason: String)
    }

    private var webSocketCalls: arbiter_exchange_calls? {
        guard let table = pointer.pointee.calls,
              table.pointee.struct_size >= MemoryLayout<arbiter_exchange_calls>.size,
              table.pointee.websocket_accept != nil
        else { return nil }
        return table.pointee
    }

    /// Answers the handshake with 101; false when the server refused it (and answered the client).
    func acceptWebSocket(subprotocol: String?, headers: Headers) throws -> Bool {
        guard let calls = webSocketCalls, let accept = calls.websocket_accept else {
            throw HTTPError(.notImplemented, message: "this server does not offer WebSockets (its ABI predates them)")
        }
        let rc = headers.withCHeaders { views in
            if let subprotocol {
                return subprotocol.withCString { accept(pointer, $0, views.baseAddress, views.count) }
            }
            return accept(pointer, nil, views.baseAddress, views.count)
        }
        if rc == ARBITER_OK { return true }
        if rc == ARBITER_ERR_REFUSED { return false }
        throw ExchangeError(status: rc)
    }

    func receiveMessage() async throws -> Received {
        let completion = Completion<Received>()
        startReceive { completion.complete($0) }
        return try await completion.value()
    }

    func receiveMessageBlocking() throws -> Received {
        try Runtime.checkMayBlock("WebSocket.receive()")
        let waiter = Waiter<Received>()
        startReceive { waiter.resume($0) }
        return try waiter.wait()
    }

    private func startReceive(_ done: @escaping @Sendable (Result<Received, Error>) -> Void) {
        let box = Unmanaged.passRetained(Callback(done)).toOpaque()
        webSocketCalls!.websocket_receive(pointer, box) { ctx, kind, data, length, status in
            let callback = Unmanaged<Callback<Received>>.fromOpaque(ctx!).takeRetainedValue()
            let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? []
            switch Int32(status) {
            case Int32(ARBITER_OK):
                let message: WebSocket.Message = kind == Int32(ARBITER_WS_TEXT) ? .text(String(decoding: bytes, as: UTF8.self)) : .binary(bytes)
                callback.done(.success(.message(message)))
            case Int32(ARBITER_END):
                callback.done(.success(.closed(code: UInt16(clamping: kind), reason: String(decoding: bytes, as: UTF8.self))))
            case Int32(ARBITER_ERR_DISCONNECTED):
                callback.done(.success(.closed(code: 1006, reason: "the connection is gone")))
            default:
                callback.done(.failure(ExchangeError(status: status)))
            }
        }
    }

    func sendMessage(_ message: WebSocket.Message) async throws {
        let completion = Completion<Void>()
        startSend(message, Unmanaged.passRetained(completion).toOpaque()) { ctx, status in
            let completion = Unmanaged<Completion<Void>>.fromOpaque(ctx!).takeRetainedValue()
            completion.complete(status == ARBITER_OK ? .success(()) : .failure(ExchangeError(status: status)))
        }
        try await completion.value()
    }

    func sendMessageBlocking(_ message: WebSocket.Message) throws {
        try Runtime.checkMayBlock("WebSocket.send(_:) from synchronous code")
        let waiter = Waiter<Void>()
        startSend(message, Unmanaged.passRetained(waiter).toOpaque()) { ctx, status in
            let waiter = Unmanaged<Waiter<Void>>.fromOpaque(ctx!).takeRetainedValue()
            waiter.resume(status == ARBITER_OK ? .success(()) : .failure(ExchangeError(status: status)))
        }
        try waiter.wait()
    }

    private func startSend(_ message: WebSocket.Message, _ context: UnsafeMutableRawPointer, _ callback: arbiter_done_cb) {
        let send = webSocketCalls!.websocket_send!
        switch message {
        case .text(var text):
            text.withUTF8 { send(pointer, Int32(ARBITER_WS_TEXT), $0.baseAddress, $0.count, context, callback) }
        case .binary(let bytes):
            bytes.withUnsafeBufferPointer { send(pointer, Int32(ARBITER_WS_BINARY), $0.baseAddress, $0.count, context, callback) }
        }
    }

    func closeWebSocket(code: UInt16, reason: String) {
        var reason = reason
        reason.withUTF8 { webSocketCalls!.websocket_close(pointer, code, $0.baseAddress, $0.count) }
    }
}

