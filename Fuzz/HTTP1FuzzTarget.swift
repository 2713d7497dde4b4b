// libFuzzer target over the HTTP/1.1 request parser and body decoder (see Fuzz/run.sh).
//
// Besides "no crash, no hang, no sanitizer report", it checks invariants: a head parsed from the
// whole input equals the head parsed from the same bytes fed in two pieces, and the head parsed from
// the input behind consumed bytes (as a connection parses its buffer) equals it and does not change
// when that buffer is overwritten (a head holds its own copy); `consumed` never exceeds the input;
// a chunked body decoded whole equals the body decoded byte by byte.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    checkHead(bytes)
    checkChunked(bytes)
    return 0
}

func summary(_ result: HeadParser.Result) -> String {
    switch result {
    case .incomplete: return "incomplete"
    case .failure(let error): return "failure \(error.status)"
    case .complete(let head, let consumed):
        let fields = head.fields.map { "\(Array(head.bytes[$0.name])):\(Array(head.bytes[$0.value]))" }
        return "complete \(consumed) \(Array(head.bytes[head.methodRange])) \(Array(head.bytes[head.targetRange])) "
            + "\(head.version) \(fields) \(head.framing) \(head.keepAlive) \(head.expectsContinue)"
    }
}

func checkHead(_ bytes: [UInt8]) {
    let limits = Limits(requestLine: 256, fields: 20, fieldSize: 256)
    var whole = HeadParser(limits: limits)
    let result = whole.parse(bytes)
    if case .complete(_, let consumed) = result { precondition(consumed <= bytes.count, "consumed past the input") }
    // From a buffer behind bytes already consumed, the same verdict; the head is its own copy.
    let skipped = bytes.isEmpty ? 0 : Int(bytes[bytes.count - 1]) % 8
    var buffer = [UInt8](repeating: UInt8(ascii: "x"), count: skipped) + bytes
    var behind = HeadParser(limits: limits)
    let parsed = buffer.withUnsafeBufferPointer { behind.parse(UnsafeBufferPointer(rebasing: $0[skipped...])) }
    let before = summary(parsed)
    switch (result, parsed) {
    case (.failure(let a), .failure(let b)): precondition(a.status == b.status, "offset parse fails differently: \(a) vs \(b)")
    default: precondition(summary(result) == before, "offset parse differs: \(summary(result)) vs \(before)")
    }
    for i in buffer.indices { buffer[i] = 0 }
    precondition(summary(parsed) == before, "a head changed with the buffer it was parsed from")
    // Fed in two pieces (as from two reads), the parser must reach the same verdict.
    let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
    var pieces = HeadParser(limits: limits)
    var second = pieces.parse(Array(bytes[0..<split]))
    if case .incomplete = second { second = pieces.parse(bytes) }
    switch (result, second) {
    case (.complete, .complete), (.incomplete, .incomplete):
        precondition(summary(result) == summary(second), "split parse differs: \(summary(result)) vs \(summary(second))")
    case (.failure(let a), .failure(let b)):
        precondition(a.status == b.status || a.status == 414 || b.status == 414 || a.status == 431 || b.status == 431,
                     "split parse fails differently: \(a) vs \(b)")
    default:
        // An early prefix may already be refused for size; otherwise verdicts must agree.
        if case .failure(let e) = second, e.status == 414 || e.status == 431 { return }
        preconditionFailure("split parse differs: \(summary(result)) vs \(summary(second))")
    }
}

func checkChunked(_ bytes: [UInt8]) {
    var whole = BodyDecoder(framing: .chunked, limit: 1 << 20)
    var body: [UInt8] = []
    var offset = 0
    var failedWhole = false
    do {
        while offset < bytes.count && !whole.isComplete {
            let step = try whole.decode(Array(bytes[offset...]))
            precondition(step.consumed <= bytes.count - offset, "decoder consumed past the input")
            if let data = step.data { body += bytes[(offset + data.lowerBound)..<(offset + data.upperBound)] }
            if step.consumed == 0 { break }
            offset += step.consumed
        }
    } catch {
        failedWhole = true
    }
    // Byte by byte, as from a client trickling the body.
    var trickle = BodyDecoder(framing: .chunked, limit: 1 << 20)
    var buffer: [UInt8] = []
    var trickled: [UInt8] = []
    var failedTrickle = false
    outer: for byte in bytes {
        buffer.append(byte)
        while !trickle.isComplete {
            do {
                let step = try trickle.decode(buffer)
                if let data = step.data { trickled += buffer[data] }
                buffer.removeFirst(step.consumed)
                if step.consumed == 0 { break }
            } catch {
                failedTrickle = true
                break outer
            }
        }
        if trickle.isComplete { break }
    }
    if !failedWhole && !failedTrickle && whole.isComplete {
        precondition(trickle.isComplete && body == trickled, "byte-by-byte decoding differs")
    }
}
