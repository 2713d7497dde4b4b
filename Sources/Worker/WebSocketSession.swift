import ArbiterABI
import WebSocket

/// A connection after its `101 Switching Protocols` to WebSocket: the protocol's machine
/// (`Sources/WebSocket`, RFC 6455 / RFC 7692), the bytes waiting to go out, and the application's
/// outstanding calls. The connection drives it in place of the HTTP/1 machine.
///
/// Owner: the connection's owner thread — in both worker classes the worker's epoll loop thread,
/// which does all WebSocket I/O; the application's calls are posted there.
final class WebSocketSession {
    private var machine: WebSocket.ConnectionStateMachine
    /// Output not yet written: `output[outputStart...]`.
    private var output: [UInt8] = []
    private var outputStart = 0
    /// Messages read ahead of the application's `receive`. Reading goes on past the first, so that
    /// pings and a close behind it are answered while the application does not receive (a feed
    /// that only sends; RFC 6455 §5.5.2–§5.5.3), and stops at `inboxLimit`: a client that floods
    /// costs that many messages of memory, then TCP holds it back.
    private var inbox: [Message] = []
    static let inboxLimit = 2
    private var pendingReceive: (context: UnsafeMutableRawPointer?, callback: arbiter_ws_message_cb)?
    /// Sends whose completion waits for the output to fall below `highWater`, in call order.
    private var pendingSends: [(context: UnsafeMutableRawPointer?, callback: arbiter_done_cb)] = []
    /// Why the connection ended, once the machine said so (then only the output is still flushed).
    private(set) var outcome: CloseOutcome?
    /// The transport failed or the peer hung up: nothing more can be written.
    private(set) var peerGone = false
    /// The worker asked every WebSocket to go away (1001) — once.
    private var retiring = false
    /// Accepted, while the HTTP/1 machine still completes the request: reading waits, so that the
    /// bytes it read after the request (`upgraded(buffered:)`) come first.
    private(set) var upgrading = true
    /// Output above this holds back the application's sends (backpressure).
    static let highWater = 64 * 1024

    /// The negotiated session; `pending` is the 101 response and anything the HTTP/1 machine had
    /// not written yet, which goes out first.
    init(settings: ConnectionSettings, deflate: DeflateParameters?, pending: [UInt8], now: Double) {
        machine = WebSocket.ConnectionStateMachine(settings: settings, deflate: deflate, now: now)
        output = pending
    }

    // MARK: the transport

    /// Read while the connection is open and fewer than `inboxLimit` messages wait for the application.
    var wantsRead: Bool { !upgrading && outcome == nil && !peerGone && inbox.count < Self.inboxLimit }
    var wantsWrite: Bool { outputStart < output.count && !peerGone }
    /// The connection is over and everything that could be written was: close the transport.
    var isFinished: Bool { outcome != nil && (outputStart == output.count || peerGone) }

    /// The HTTP/1 machine handed over the transport with the bytes it had read after the request.
    func upgraded(buffered: [UInt8], now: Double) {
        upgrading = false
        if !buffered.isEmpty { buffered.withUnsafeBytes { received($0, now: now) } }
    }

    func received(_ bytes: UnsafeRawBufferPointer, now: Double) {
        apply(machine.receive(bytes, now: now))
    }

    func transportClosed() {
        peerGone = true
        apply(machine.transportClosed())
    }

    func withOutbound<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        output.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[outputStart...])) }
    }

    func wrote(_ count: Int) {
        outputStart += count
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 1024)
            outputStart = 0
        } else if outputStart >= 64 * 1024 && outputStart * 2 >= output.count {
            output.removeSubrange(0..<outputStart)
            outputStart = 0
        }
    }

    /// Time passed: keep-alive pings, pong and close deadlines; true when something happened.
    func tick(now: Double) -> Bool {
        guard let deadline = machine.nextDeadline, now >= deadline else { return false }
        apply(machine.tick(now: now))
        return true
    }

    /// The worker retires (graceful stop, reload, recycling): close with 1001 (RFC 6455 §7.4.1).
    func goAway(now: Double) {
        guard !retiring else { return }
        retiring = true
        apply(machine.close(code: .goingAway, reason: "server shutting down", now: now))
    }

    private func apply(_ actions: [ConnectionAction]) {
        for action in actions {
            switch action {
            case .write(let bytes):
                if !peerGone { output += bytes }
            case .deliver(let message):
                inbox.append(message)
            case .closeTransport(let why):
                if outcome == nil { outcome = why }
            }
        }
    }

    // MARK: the application

    enum CallResult {
        case ok
        case invalidState
        case disconnected
    }

    func receive(context: UnsafeMutableRawPointer?, callback: arbiter_ws_message_cb) -> CallResult {
        guard pendingReceive == nil else { return .invalidState }
        pendingReceive = (context, callback)
        return .ok
    }

    /// Queues a message; its completion comes from `completeCalls` (backpressure).
    func send(kind: Int32, _ bytes: UnsafeRawBufferPointer, now: Double, context: UnsafeMutableRawPointer?, callback: arbiter_done_cb) -> CallResult {
        let message: Message
        switch kind {
        case Int32(ARBITER_WS_TEXT):
            let text = Array(bytes)
            guard UTF8Validator.isValid(text) else { return .invalidState }
            message = .text(String(decoding: text, as: UTF8.self))
        case Int32(ARBITER_WS_BINARY):
            message = .binary(Array(bytes))
        default:
            return .invalidState
        }
        guard outcome == nil, !peerGone, machine.closeState == .open else { return .disconnected }
        apply(machine.send(message, now: now))
        pendingSends.append((context, callback))
        return .ok
    }

    /// The application closes (a code of 0 sends a close frame without one).
    func close(code: UInt16, reason: String, now: Double) {
        let closeCode = code == 0 ? nil : CloseCode(code)
        apply(machine.close(code: closeCode.flatMap { $0.isValidOnWire ? $0 : nil } ?? (code == 0 ? nil : .internalError),
                            reason: reason, now: now))
    }

    /// Completes what can be completed: messages to a waiting receive, sends whose bytes are below
    /// the high-water mark, and everything once the connection is over. Callbacks may call back in.
    func completeCalls() {
        while true {
            if let receive = pendingReceive {
                if !inbox.isEmpty {
                    pendingReceive = nil
                    let message = inbox.removeFirst()
                    switch message {
                    case .text(var text):
                        text.withUTF8 { receive.callback(receive.context, Int32(ARBITER_WS_TEXT), $0.baseAddress, $0.count, Int32(ARBITER_OK)) }
                    case .binary(let bytes):
                        bytes.withUnsafeBufferPointer { receive.callback(receive.context, Int32(ARBITER_WS_BINARY), $0.baseAddress, $0.count, Int32(ARBITER_OK)) }
                    }
                    continue
                }
                if let outcome {
                    pendingReceive = nil
                    let (code, reason) = Self.describe(outcome)
                    var text = reason
                    text.withUTF8 { receive.callback(receive.context, Int32(code), $0.baseAddress, $0.count, Int32(ARBITER_END)) }
                    continue
                }
            }
            if !pendingSends.isEmpty, outcome != nil || peerGone || output.count - outputStart <= Self.highWater {
                let status = outcome == nil && !peerGone ? Int32(ARBITER_OK) : Int32(ARBITER_ERR_DISCONNECTED)
                let send = pendingSends.removeFirst()
                send.callback(send.context, status)
                continue
            }
            return
        }
    }

    /// The close code and reason an application sees for how the connection ended (RFC 6455 §7.1.5).
    static func describe(_ outcome: CloseOutcome) -> (code: UInt16, reason: String) {
        switch outcome {
        case .closed(let frame): (frame.code?.rawValue ?? CloseCode.noStatusReceived.rawValue, frame.reason)
        case .failed(let error): (error.code.rawValue, error.reason)
        case .closeTimedOut: (CloseCode.abnormalClosure.rawValue, "the peer did not answer the close frame in time")
        case .pongTimedOut: (CloseCode.abnormalClosure.rawValue, "the peer did not answer a ping in time")
        case .transportClosed: (CloseCode.abnormalClosure.rawValue, "the connection closed without a closing handshake")
        }
    }

    /// How the connection ended, for the log: nil for an ordinary close.
    var problem: String? {
        switch outcome {
        case .failed(let error): "failed the WebSocket connection: \(error)"
        case .closeTimedOut: "closed the WebSocket: the peer did not answer the close frame in time"
        case .pongTimedOut: "closed the WebSocket: the peer did not answer a ping in time"
        default: nil
        }
    }
}
