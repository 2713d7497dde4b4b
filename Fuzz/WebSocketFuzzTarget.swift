// libFuzzer target over the WebSocket protocol layer (see Fuzz/run-websocket.sh).
//
// Besides "no crash, no hang, no sanitizer report", it checks invariants:
// - the connection machine reaches the same actions whether the bytes arrive whole or in pieces;
// - it never delivers a message larger than the limit, nor text that is not UTF-8, and every message
//   it delivers is the one an independent model of the frames expects (with deflate: inflated by a
//   separate inflater);
// - the incremental UTF-8 validator agrees with the standard library;
// - the inflater never produces more than its limit.
//
// The first input byte picks a mode: raw bytes fed to the decoder as they are, or a list of frame
// descriptions the harness serialises (masked, correct lengths) so the fuzzer reaches the message,
// compression and close rules instead of stopping at the masking check.
import CZlib

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let mode = bytes.first else { return 0 }
    let rest = Array(bytes.dropFirst())
    checkUTF8(rest)
    switch mode % 4 {
    case 0: checkConnection(wire: rest, split: Int(mode >> 2), model: nil, compressed: mode & 0x10 != 0)
    case 1, 2: checkStructured(rest, compressed: mode % 4 == 2, split: Int(mode >> 2))
    default: checkInflater(rest)
    }
    return 0
}

let maxMessageSize = 300

func checkUTF8(_ bytes: [UInt8]) {
    var validator = UTF8Validator()
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    let pieces = validator.feed(Array(bytes[..<split])) && validator.feed(Array(bytes[split...])) && validator.isAtBoundary
    precondition(pieces == (String(validating: bytes, as: UTF8.self) != nil), "UTF-8 validator disagrees with the standard library")
}

func checkInflater(_ bytes: [UInt8]) {
    guard Zlib.unavailableReason == nil, let inflater = try? Inflater(windowBits: 15, noContextTakeover: false) else { return }
    var output: [UInt8] = []
    let limit = 4096
    do {
        let half = bytes.count / 2
        try inflater.inflate(Array(bytes[..<half]), into: &output, limit: limit)
        try inflater.inflate(Array(bytes[half...]), into: &output, limit: limit)
        try inflater.finishMessage(into: &output, limit: limit)
    } catch {
        precondition(error.code == .messageTooBig || error.code == .invalidPayloadData, "unexpected inflate error \(error)")
    }
    precondition(output.count <= limit, "inflater passed its limit")
}

/// Serialises frame descriptions: [b0: FIN/RSV/opcode as on the wire][n: length][n bytes], each frame
/// masked with a key taken from the input. Returns the wire bytes and the messages a conforming
/// server delivers for them (nil entries stop the model: past that point nothing may be delivered).
func serialise(_ input: [UInt8], compressed: Bool) -> (wire: [UInt8], expected: [Message]) {
    var wire: [UInt8] = []
    var expected: [Message] = []
    var index = 0
    var open: (text: Bool, compressed: Bool, bytes: [UInt8])?
    var modelStopped = false
    while index + 2 <= input.count {
        let first = input[index]
        let length = min(Int(input[index + 1]), input.count - index - 2)
        let payload = Array(input[(index + 2)..<(index + 2 + length)])
        index += 2 + length
        let key: [UInt8] = [first, UInt8(truncatingIfNeeded: length), 0x5A, 0xA5]
        // Minimal length encoding (RFC 6455 §5.2), mask bit set.
        wire += length <= 125 ? [first, 0x80 | UInt8(length)] : [first, 0x80 | 126, 0, UInt8(length)]
        wire += key
        var masked = payload
        masked.withUnsafeMutableBytes { Masking.apply(key: key, offset: 0, to: $0) }
        wire += masked
        guard !modelStopped else { continue }
        // The model of RFC 6455 §5 and RFC 7692 §6, written independently of the decoder.
        let fin = first & 0x80 != 0
        let rsv1 = first & 0x40 != 0
        let opcode = first & 0x0F
        let control = opcode >= 8
        if first & 0x30 != 0 || ![0, 1, 2, 8, 9, 10].contains(opcode) || (control && (!fin || rsv1 || length > 125))
            || opcode == 8 {
            modelStopped = true
            continue
        }
        if control { continue }
        if opcode == 0 {
            guard open != nil, !rsv1 else { modelStopped = true; continue }
            open!.bytes += payload
        } else {
            guard open == nil, !rsv1 || compressed else { modelStopped = true; continue }
            open = (opcode == 1, rsv1, payload)
        }
        guard fin, let message = open else { continue }
        open = nil
        var content = message.bytes
        if message.compressed {
            guard let inflater = try? Inflater(windowBits: 15, noContextTakeover: true) else { modelStopped = true; continue }
            var inflated: [UInt8] = []
            do {
                try inflater.inflate(content, into: &inflated, limit: maxMessageSize)
                try inflater.finishMessage(into: &inflated, limit: maxMessageSize)
            } catch {
                modelStopped = true
                continue
            }
            content = inflated
        } else if FrameDecoder.wireLimit(maxMessageSize: maxMessageSize, compressed: false) < content.count {
            modelStopped = true
            continue
        }
        if content.count > maxMessageSize { modelStopped = true; continue }
        if message.text {
            guard let text = String(validating: content, as: UTF8.self) else { modelStopped = true; continue }
            expected.append(.text(text))
        } else {
            expected.append(.binary(content))
        }
    }
    return (wire, expected)
}

func checkStructured(_ input: [UInt8], compressed: Bool, split: Int) {
    if compressed && Zlib.unavailableReason != nil { return }
    let (wire, expected) = serialise(input, compressed: compressed)
    checkConnection(wire: wire, split: split, model: expected, compressed: compressed)
}

func run(_ pieces: [ArraySlice<UInt8>], compressed: Bool) -> [ConnectionAction] {
    let deflate = compressed ? DeflateParameters(clientNoContextTakeover: true) : nil
    var machine = ConnectionStateMachine(settings: ConnectionSettings(maxMessageSize: maxMessageSize, pingInterval: 1), deflate: deflate, now: 0)
    var actions: [ConnectionAction] = []
    for (offset, piece) in pieces.enumerated() {
        actions += machine.receive(piece, now: Double(offset))
    }
    actions += machine.tick(now: 100)
    return actions
}

func checkConnection(wire: [UInt8], split: Int, model: [Message]?, compressed: Bool) {
    let whole = run([wire[...]], compressed: compressed)
    // In pieces of `split + 1` bytes, as from short reads.
    let step = split + 1
    let pieces = stride(from: 0, to: wire.count, by: step).map { wire[$0..<min($0 + step, wire.count)] }
    let piecewise = run(pieces, compressed: compressed)
    let wholeMessages = delivered(whole)
    precondition(wholeMessages == delivered(piecewise), "delivered messages depend on how bytes were split")
    precondition(outcome(whole) == outcome(piecewise), "close outcome depends on how bytes were split")
    for message in wholeMessages {
        switch message {
        case .text(let text):
            precondition(text.utf8.count <= maxMessageSize, "text message over the limit")
        case .binary(let bytes):
            precondition(bytes.count <= maxMessageSize, "binary message over the limit")
        }
    }
    if let model {
        precondition(wholeMessages.count <= model.count, "delivered a message the model refuses")
        precondition(Array(model.prefix(wholeMessages.count)) == wholeMessages, "delivered message differs from the model")
    }
}

func delivered(_ actions: [ConnectionAction]) -> [Message] {
    actions.compactMap { if case .deliver(let message) = $0 { return message } else { return nil } }
}

func outcome(_ actions: [ConnectionAction]) -> CloseOutcome? {
    for case .closeTransport(let outcome) in actions { return outcome }
    return nil
}
