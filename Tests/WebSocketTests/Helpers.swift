@testable import WebSocket

/// A frame as a client sends it: masked with `key` (RFC 6455 §5.3).
func clientFrame(_ opcode: Opcode, _ payload: [UInt8] = [], fin: Bool = true, rsv1: Bool = false,
                 key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]) -> [UInt8] {
    FrameEncoder.encode(Frame(fin: fin, rsv1: rsv1, opcode: opcode, payload: payload), maskingKey: key)
}

/// A client text frame.
func clientText(_ text: String, fin: Bool = true) -> [UInt8] { clientFrame(.text, Array(text.utf8), fin: fin) }

/// Decodes every frame in `bytes`, or the error that stopped decoding.
func decodeAll(_ bytes: [UInt8], configuration: FrameDecoder.Configuration = .init()) -> Result<[Frame], ProtocolError> {
    var decoder = FrameDecoder(configuration: configuration)
    decoder.append(bytes)
    var frames: [Frame] = []
    do {
        while let frame = try decoder.nextFrame() { frames.append(frame) }
    } catch {
        return .failure(error)
    }
    return .success(frames)
}

/// The close code the decoder fails `bytes` with, or nil when it does not fail.
func failureCode(_ bytes: [UInt8], configuration: FrameDecoder.Configuration = .init()) -> UInt16? {
    if case .failure(let error) = decodeAll(bytes, configuration: configuration) { return error.code.rawValue }
    return nil
}

/// Server frames as a client decodes them (unmasked).
func serverFrames(_ bytes: [UInt8], compression: Bool = false) -> [Frame] {
    guard case .success(let frames) = decodeAll(bytes, configuration: .init(maxMessageSize: 1 << 30, requireMasking: false,
                                                                              compressionNegotiated: compression)) else { return [] }
    return frames
}

/// The bytes of all `.write` actions, in order.
func written(_ actions: [ConnectionAction]) -> [UInt8] {
    actions.flatMap { action -> [UInt8] in
        if case .write(let bytes) = action { return bytes }
        return []
    }
}

/// The messages delivered by `actions`.
func delivered(_ actions: [ConnectionAction]) -> [Message] {
    actions.compactMap { action in
        if case .deliver(let message) = action { return message }
        return nil
    }
}

/// The outcome of a `.closeTransport` in `actions`, if any.
func closeOutcome(_ actions: [ConnectionAction]) -> CloseOutcome? {
    for case .closeTransport(let outcome) in actions { return outcome }
    return nil
}

/// The close code of the last close frame written, if any.
func sentCloseCode(_ actions: [ConnectionAction]) -> UInt16? {
    guard let close = serverFrames(written(actions)).last(where: { $0.opcode == .close }), close.payload.count >= 2 else { return nil }
    return UInt16(close.payload[0]) << 8 | UInt16(close.payload[1])
}
