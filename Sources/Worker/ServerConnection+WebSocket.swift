import ArbiterABI
import CArbiter
import HTTP1
import Platform
import WebSocket

/// Close codes the application's `finish` and `abort` end a WebSocket with (RFC 6455 §7.4.1).
enum CloseCodeValue {
    static let normal: UInt16 = 1000
    static let internalError: UInt16 = 1011
}

/// The application's WebSocket calls, on the owner thread.
extension ServerConnection {
    /// Checks the request as an opening handshake (RFC 6455 §4.2.1, in `Handshake`) and answers
    /// it: `101` and the upgrade, or the refusal the RFC names (then the exchange has ended).
    func applicationAcceptWebSocket(_ exchange: Exchange, subprotocol: String?, fields: [(name: [UInt8], value: [UInt8])]) -> Int32 {
        guard current === exchange, !exchange.webSocketAccepted, webSocket == nil else { return Status.invalidState }
        let head = exchange.head
        let request = HandshakeRequest(
            method: head.method.name, versionMajor: Int(head.version.major), versionMinor: Int(head.version.minor),
            headers: head.headers.map { (name: $0.0, value: $0.1) })
        let settings = server.context.settings
        let policy = HandshakePolicy(
            selectSubprotocol: { _ in subprotocol }, checkOrigin: { _ in true },
            deflate: settings.wsPerMessageDeflate == .on ? Self.deflateOptions : nil)
        switch Handshake.respond(to: request, policy: policy) {
        case .refuse(let refusal):
            server.context.logger.debug("WebSocket handshake refused for \(head.method) \(head.target) from \(remote?.display ?? "-"): \(refusal)")
            var answer: [(name: [UInt8], value: [UInt8])] = refusal.headers.map { (Array($0.key.utf8), Array($0.value.utf8)) }
            answer.append((Array("Content-Type".utf8), Array("text/plain; charset=utf-8".utf8)))
            let body = Array("\(HTTPStatus.reasonPhrase(refusal.status)): \(refusal.reason)\n".utf8)
            let status = answer.withFieldViews { views in
                body.withUnsafeBytes { applicationRespond(exchange, status: refusal.status, fieldCount: views.count, field: { views[$0] }, body: $0) }
            }
            return status == Status.ok ? Status.refused : status
        case .accept(let acceptance):
            if let reason = acceptance.compressionDeclinedReason {
                server.context.logger.debug("permessage-deflate declined for \(head.target): \(reason)")
            }
            var answer = acceptance.headers.map { (name: Array($0.name.utf8), value: Array($0.value.utf8)) }
            answer += fields
            let result = answer.withFieldViews { views in
                machine.applicationSendHead(status: 101, fieldCount: views.count, field: { views[$0] }, contentLength: 0)
            }
            guard result == .ok else {
                kick()
                return Status.of(result)
            }
            // The session exists from here on, so the application's next calls find it; the 101
            // goes out as its first bytes, and the machine hands over what it read after the
            // request once it has completed it (`drive`, `.upgrade`).
            let now = Clock.monotonic()
            let response = machine.withOutbound { Array($0) }
            machine.wrote(response.count, now: now)
            machine.applicationFinish(trailers: [], now: now)
            webSocket = WebSocketSession(
                settings: ConnectionSettings(
                    maxMessageSize: settings.wsMaxSize, pingInterval: settings.wsPingInterval > 0 ? settings.wsPingInterval : nil,
                    pongTimeout: settings.wsPingTimeout, closeTimeout: settings.wsCloseTimeout),
                deflate: acceptance.deflate, pending: response, now: now)
            exchange.webSocketAccepted = true
            webSocketExchange = exchange
            kick()
            return Status.ok
        }
    }

    /// Compression with 4 KiB windows both ways where the client allows: a compressing socket keeps
    /// about 40 KiB of zlib state (32 KiB deflating, 4 KiB window and tables inflating) instead of
    /// 300 KiB with full windows, for a small loss of ratio on chatty traffic.
    static let deflateOptions = DeflateOptions(serverMaxWindowBits: 12, clientMaxWindowBits: 12)

    func applicationWebSocketReceive(_ exchange: Exchange, context: UnsafeMutableRawPointer?, callback: arbiter_ws_message_cb) {
        guard exchange.webSocketAccepted, !exchange.ended, let session = webSocket else {
            return callback(context, 0, nil, 0, Status.invalidState)
        }
        switch session.receive(context: context, callback: callback) {
        case .ok:
            // Once the connection is over no driver looks at it: answer from here.
            if exchange.connectionEnded { session.completeCalls() } else { kick() }
        case .invalidState: callback(context, 0, nil, 0, Status.invalidState)
        case .disconnected: callback(context, 0, nil, 0, Status.disconnected)
        }
    }

    func applicationWebSocketSend(_ exchange: Exchange, kind: Int32, _ bytes: UnsafeRawBufferPointer,
                                  context: UnsafeMutableRawPointer?, callback: arbiter_done_cb) {
        guard exchange.webSocketAccepted, !exchange.ended, let session = webSocket else { return callback(context, Status.invalidState) }
        if exchange.connectionEnded { return callback(context, Status.disconnected) }
        switch session.send(kind: kind, bytes, now: Clock.monotonic(), context: context, callback: callback) {
        case .ok: kick()
        case .invalidState: callback(context, Status.invalidState)
        case .disconnected: callback(context, Status.disconnected)
        }
    }

    func applicationWebSocketClose(_ exchange: Exchange, code: UInt16, reason: String) {
        guard exchange.webSocketAccepted, !exchange.ended, !exchange.connectionEnded, let session = webSocket else { return }
        session.close(code: code, reason: reason, now: Clock.monotonic())
        kick()
    }

    /// The application ended the exchange (`finish` or `abort`): close the WebSocket with `code`
    /// if it is still open; the exchange is complete once the connection is over too.
    func webSocketEnded(_ exchange: Exchange, code: UInt16) {
        guard !exchange.ended else { return }
        exchange.ended = true
        if exchange.connectionEnded {
            exchange.markCompleted()
            return
        }
        webSocket?.close(code: code, reason: "", now: Clock.monotonic())
        kick()
    }

    /// Reads what the transport has for the WebSocket; true when anything arrived or the peer left.
    func readWebSocket(_ session: WebSocketSession) -> Bool {
        var news = false
        let scratch = UnsafeMutableRawBufferPointer(start: arbiter_thread_scratch(), count: Int(ARBITER_SCRATCH_SIZE))
        while session.wantsRead {
            switch transport.read(into: scratch) {
            case .bytes(let n):
                WorkerCounters.add(WorkerCounters.Field.bytesReceived, n)
                session.received(UnsafeRawBufferPointer(rebasing: scratch[0..<n]), now: Clock.monotonic())
                news = true
                if n < scratch.count && !transport.hasBufferedInput { return news }
            case .wouldBlock:
                return news
            case .eof, .error:
                session.transportClosed()
                return true
            }
        }
        return news
    }

    /// Writes the WebSocket's output that the transport takes now.
    func writeWebSocket(_ session: WebSocketSession) -> Bool {
        var news = false
        if transport.wantsWrite { transport.flush() }
        while session.wantsWrite {
            switch session.withOutbound({ transport.write($0) }) {
            case .bytes(let n) where n > 0:
                WorkerCounters.add(WorkerCounters.Field.bytesSent, n)
                session.wrote(n)
                news = true
            case .wouldBlock, .bytes:
                return news
            case .eof, .error:
                session.transportClosed()
                return true
            }
        }
        return news
    }
}
