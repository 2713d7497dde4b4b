/// One server-side WebSocket connection without I/O: events in, actions out (RFC 6455, RFC 7692).
///
/// The driver feeds received bytes, the application's messages and close requests, and the clock
/// (`tick`, `nextDeadline`); it performs the returned actions in order. The machine answers pings,
/// assembles fragmented messages within the size limit, validates text as it arrives, inflates and
/// deflates with permessage-deflate, sends keep-alive pings, and runs the closing handshake.
/// Time is whatever monotonic seconds the caller passes as `now`.
public struct ConnectionStateMachine: Sendable {
    /// Limits and timers this connection runs with.
    public let settings: ConnectionSettings
    /// The agreed permessage-deflate parameters, nil when uncompressed.
    public let deflate: DeflateParameters?
    private var decoder: FrameDecoder
    private var close: CloseStateMachine
    private var assembly: Assembly?
    /// The text of a frame still arriving, checked as far as `checked` bytes (§8.1 fail-fast
    /// inside a frame); nil once the frame is complete.
    private var arrivingText: (validator: UTF8Validator, checked: Int)?
    /// Created at first use, so uncompressed traffic costs no zlib memory.
    private var inflater: Inflater?
    private var deflater: Deflater?
    /// Keep-alive: when the next ping is due, and the outstanding one with its pong deadline.
    private var nextPingAt: Double?
    private var outstandingPing: (payload: [UInt8], deadline: Double)?
    private var pingsSent: UInt64 = 0

    /// A data message being received (§5.4).
    private struct Assembly: Sendable {
        var text: Bool
        var compressed: Bool
        var bytes: [UInt8] = []
        var validator = UTF8Validator()
    }

    /// A connection that has just switched protocols at time `now`.
    public init(settings: ConnectionSettings = ConnectionSettings(), deflate: DeflateParameters? = nil, now: Double) {
        self.settings = settings
        self.deflate = deflate
        decoder = FrameDecoder(configuration: .init(maxMessageSize: settings.maxMessageSize, requireMasking: true,
                                                     compressionNegotiated: deflate != nil))
        close = CloseStateMachine(timeout: settings.closeTimeout)
        nextPingAt = settings.pingInterval.map { now + $0 }
    }

    /// Where the closing handshake stands.
    public var closeState: CloseStateMachine.State { close.state }

    /// Whether the connection is over: no more actions will come but for new input being ignored.
    public var isClosed: Bool { close.state == .closed }

    /// The earliest time `tick` has something to do, or nil.
    public var nextDeadline: Double? {
        [close.deadline, outstandingPing?.deadline, close.canSend && outstandingPing == nil ? nextPingAt : nil]
            .compactMap { $0 }.min()
    }

    /// Bytes arrived from the peer.
    public mutating func receive(_ bytes: some Sequence<UInt8>, now: Double) -> [ConnectionAction] {
        guard !isClosed else { return [] }
        decoder.append(bytes)
        var actions: [ConnectionAction] = []
        while !isClosed {
            do {
                guard let frame = try decoder.nextFrame() else {
                    try checkArrivingText()
                    break
                }
                arrivingText = nil
                try handle(frame, actions: &actions)
            } catch {
                actions += apply(close.fail(error), outcome: .failed(error))
            }
        }
        return actions
    }

    /// §8.1: a text message fails as soon as it cannot be valid UTF-8, also inside a frame whose
    /// payload is still arriving (Autobahn 6.4), not only once the frame is whole; an invalid
    /// frame up to the size limit is then never buffered whole. Uncompressed text only: compressed
    /// bytes are checked as they inflate, frame by frame. The whole frame is checked again when it
    /// completes, from the message's own validator.
    private mutating func checkArrivingText() throws(ProtocolError) {
        guard let partial = decoder.partialDataFrame else { return }
        var state: (validator: UTF8Validator, checked: Int)
        if let arrivingText {
            state = arrivingText
        } else if partial.opcode == .continuation, let assembly, assembly.text, !assembly.compressed {
            state = (assembly.validator, 0)
        } else if partial.opcode == .text, !partial.rsv1 {
            state = (UTF8Validator(), 0)
        } else {
            return
        }
        guard partial.received > state.checked else {
            arrivingText = state
            return
        }
        let valid = decoder.withPartialPayload(from: state.checked) { state.validator.feed($0) } ?? true
        guard valid else { throw .invalidData("text message is not UTF-8") }
        state.checked = partial.received
        arrivingText = state
    }

    /// The application sends a message. Ignored once a close frame has gone out (§5.5.1).
    public mutating func send(_ message: Message, now: Double) -> [ConnectionAction] {
        guard close.canSend else { return [] }
        let opcode: Opcode
        var payload: [UInt8]
        switch message {
        case .text(let text): opcode = .text; payload = Array(text.utf8)
        case .binary(let bytes): opcode = .binary; payload = bytes
        }
        var compressed = false
        if let deflate, payload.count >= deflate.minimumSizeToCompress {
            do {
                if deflater == nil {
                    deflater = try Deflater(windowBits: deflate.serverMaxWindowBits, level: deflate.compressionLevel,
                                            noContextTakeover: deflate.serverNoContextTakeover)
                }
                payload = try deflater!.compress(payload)
                compressed = true
            } catch {
                return apply(close.fail(error), outcome: .failed(error))
            }
        }
        return [.write(FrameEncoder.encodeMessage(opcode: opcode, payload: payload, rsv1: compressed,
                                                  fragmentSize: settings.outgoingFragmentSize))]
    }

    /// The application sends a ping with up to 125 bytes of payload (§5.5.2).
    public mutating func ping(_ payload: [UInt8] = [], now: Double) -> [ConnectionAction] {
        precondition(payload.count <= 125, "control frame payloads are at most 125 bytes (§5.5)")
        guard close.canSend else { return [] }
        return [.write(FrameEncoder.encode(Frame(opcode: .ping, payload: payload)))]
    }

    /// The application starts the closing handshake. `code` must be valid on the wire (or nil for
    /// a close frame without a code); nothing happens when a close frame already went out.
    public mutating func close(code: CloseCode? = .normalClosure, reason: String = "", now: Double) -> [ConnectionAction] {
        precondition(code?.isValidOnWire ?? true, "close code \(code!) must not be sent (§7.4)")
        // Starting the close only ever sends a frame; the outcome comes with the answer or the deadline.
        return apply(close.close(CloseFrame(code: code, reason: reason), now: now), outcome: .closeTimedOut)
    }

    /// Time passed: enforce the close and pong deadlines and send keep-alive pings.
    public mutating func tick(now: Double) -> [ConnectionAction] {
        if case .finish = close.tick(now: now) { return [.closeTransport(.closeTimedOut)] }
        guard close.canSend else { return [] }
        if let outstanding = outstandingPing {
            guard now >= outstanding.deadline else { return [] }
            close.transportClosed()
            return [.closeTransport(.pongTimedOut)]
        }
        guard let interval = settings.pingInterval, let due = nextPingAt, now >= due else { return [] }
        pingsSent += 1
        let payload = withUnsafeBytes(of: pingsSent.bigEndian) { Array($0) }
        outstandingPing = (payload, now + settings.pongTimeout)
        nextPingAt = now + interval
        return [.write(FrameEncoder.encode(Frame(opcode: .ping, payload: payload)))]
    }

    /// The transport closed (the peer hung up or a read failed).
    public mutating func transportClosed() -> [ConnectionAction] {
        guard !isClosed else { return [] }
        close.transportClosed()
        return [.closeTransport(.transportClosed)]
    }

    private mutating func handle(_ frame: Frame, actions: inout [ConnectionAction]) throws(ProtocolError) {
        switch frame.opcode {
        case .ping:
            // §5.5.2–§5.5.3: answer with the same payload, unless our close already went out.
            if close.canSend { actions.append(.write(FrameEncoder.encode(Frame(opcode: .pong, payload: frame.payload)))) }
        case .pong:
            // §5.5.3: unsolicited pongs are allowed; only the answer to our ping clears its deadline.
            if let outstanding = outstandingPing, outstanding.payload == frame.payload { outstandingPing = nil }
        case .close:
            let received = try CloseFrame(payload: frame.payload)
            actions += apply(close.received(received), outcome: .closed(received))
        case .text, .binary:
            assembly = Assembly(text: frame.opcode == .text, compressed: frame.rsv1)
            try append(frame, actions: &actions)
        case .continuation:
            try append(frame, actions: &actions)
        }
    }

    /// Adds a data frame to the message being received; delivers it on FIN.
    private mutating func append(_ frame: Frame, actions: inout [ConnectionAction]) throws(ProtocolError) {
        // The decoder admits a continuation only inside a message, so `assembly` is set.
        guard var message = assembly else { fatalError("continuation frame outside a message passed the decoder") }
        assembly = nil // leave `message` the only reference, so appends do not copy
        let before = message.bytes.count
        let limit = settings.maxMessageSize
        if message.compressed {
            if inflater == nil, let deflate {
                inflater = try Inflater(windowBits: deflate.clientMaxWindowBits, noContextTakeover: deflate.clientNoContextTakeover)
            }
            try inflater!.inflate(frame.payload, into: &message.bytes, limit: limit)
            if frame.fin { try inflater!.finishMessage(into: &message.bytes, limit: limit) }
        } else {
            guard before + frame.payload.count <= limit else { throw .tooBig("message over \(limit) bytes") }
            if before == 0 {
                message.bytes = frame.payload // a single-frame message keeps the decoder's buffer
            } else {
                message.bytes += frame.payload
            }
        }
        if message.text {
            // §8.1: fail as soon as the text cannot be valid, even mid-message.
            let valid = message.bytes.withUnsafeBytes { message.validator.feed(UnsafeRawBufferPointer(rebasing: $0[before...])) }
            guard valid else { throw .invalidData("text message is not UTF-8") }
        }
        guard frame.fin else {
            assembly = message
            return
        }
        if message.text {
            guard message.validator.isAtBoundary else { throw .invalidData("text message ends inside a UTF-8 sequence") }
            actions.append(.deliver(.text(String(decoding: message.bytes, as: UTF8.self))))
        } else {
            actions.append(.deliver(.binary(message.bytes)))
        }
    }

    private func apply(_ decision: CloseStateMachine.Decision, outcome: CloseOutcome) -> [ConnectionAction] {
        switch decision {
        case .none: return []
        case .sendClose(let payload): return [.write(FrameEncoder.encode(Frame(opcode: .close, payload: payload)))]
        case .sendCloseAndFinish(let payload):
            return [.write(FrameEncoder.encode(Frame(opcode: .close, payload: payload))), .closeTransport(outcome)]
        case .finish: return [.closeTransport(outcome)]
        }
    }
}
