// libFuzzer target over the HTTP/1 connection machine (see Fuzz/run.sh): the input is a script of
// events — client bytes split at arbitrary points, application calls, writes drained, the clock,
// the peer leaving, a graceful stop — run against `ConnectionStateMachine` the way a driver would.
//
// Invariants checked after every event:
// - nothing after a framing error is parsed: no request starts once one was refused or a body
//   failed its framing;
// - nothing is written after close: the output stops growing and every poll is `.none`;
// - read-ahead never exceeds its bound: the buffered input stays within `inputBound`;
// - every started request completes at most once, and completions never outnumber starts.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConnection(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var script = Script(Array(UnsafeBufferPointer(start: data, count: size)))
    script.run()
    return 0
}

struct Script: ~Copyable {
    var input: [UInt8]
    var position = 0
    var machine: ConnectionStateMachine
    var now = 1000.0
    var closed = false
    var refused = false
    var started = 0
    var completed = 0
    var readPending = false
    var writePending = false
    var serving = false
    var outputAtClose = 0
    var inputEnded = false

    init(_ input: [UInt8]) {
        self.input = input
        let limits = Limits(requestLine: 256, fields: 16, fieldSize: 256, body: 4096)
        let configuration = ConnectionStateMachine.Configuration(
            limits: limits, keepAlive: 5, headerTimeout: 5, bodyTimeout: 5,
            proxyProtocol: input.first.map { $0 & 0x80 != 0 ? .auto : .off } ?? .off,
            readAhead: 512, highWater: 256, discardLimit: 2048, lingerTime: 1)
        machine = ConnectionStateMachine(configuration: configuration, now: now)
    }

    mutating func next() -> UInt8? {
        guard position < input.count else { return nil }
        defer { position += 1 }
        return input[position]
    }

    mutating func take(_ n: Int) -> [UInt8] {
        let end = min(input.count, position + n)
        defer { position = end }
        return Array(input[position..<end])
    }

    mutating func run() {
        while let op = next() {
            switch op % 13 {
            case 0, 1, 2:
                // Client bytes, as much as the driver may read now.
                let wanted = Int(next() ?? 0) + 1
                let bytes = take(min(wanted, machine.readBudget))
                machine.received(bytes, now: now)
            case 3:
                if serving && !readPending, machine.applicationRead(max: Int(next() ?? 1) * 16 + 1, now: now) == .ok { readPending = true }
            case 4:
                let codes = [200, 204, 304, 404, 500, 99, 600, 101, 101]
                let status = codes[Int(next() ?? 0) % codes.count]
                let length = Int64(next() ?? 0) - 128
                // Up to three fields of arbitrary bytes (names up to 39, values up to 255): invalid
                // ones must be refused, valid ones must fit the head's estimated size.
                var storage: [UInt8] = []
                var fields: [(name: Range<Int>, value: Range<Int>)] = []
                for _ in 0..<(Int(next() ?? 0) % 4) {
                    let name = take(Int(next() ?? 0) % 40)
                    let value = take(Int(next() ?? 0))
                    storage += name
                    storage += value
                    fields.append(((storage.count - value.count - name.count)..<(storage.count - value.count), (storage.count - value.count)..<storage.count))
                }
                storage.withUnsafeBufferPointer { bytes in
                    _ = machine.applicationSendHead(
                        status: status, fieldCount: fields.count,
                        field: { (UnsafeBufferPointer(rebasing: bytes[fields[$0].name]), UnsafeBufferPointer(rebasing: bytes[fields[$0].value])) },
                        contentLength: length)
                }
            case 5:
                if serving && !writePending, machine.applicationWrite(take(Int(next() ?? 0)), now: now) == .ok { writePending = true }
            case 6:
                machine.applicationFinish(trailers: [(Array("x-t".utf8), Array("1".utf8))], now: now)
            case 7:
                machine.applicationAbort(now: now)
            case 8:
                let count = min(machine.outboundCount, Int(next() ?? 0) * 8 + 1)
                machine.wrote(count, now: now)
            case 9:
                now += Double(next() ?? 0) / 16
                machine.tick(now: now)
            case 10:
                machine.peerClosed()
            case 11:
                machine.inputEnded()
                inputEnded = true
            default:
                machine.stopKeepAlive(drainUntil: now + 1)
            }
            drain()
            check()
        }
    }

    /// Polls like a driver, checking what comes out.
    mutating func drain() {
        for _ in 0..<10_000 {
            let action = machine.poll(now: now)
            if closed {
                guard case .none = action else { preconditionFailure("an action after close: \(action)") }
                return
            }
            switch action {
            case .none:
                return
            case .startRequest:
                precondition(!refused, "a request started after a framing error")
                precondition(!serving, "a request started while another is in flight")
                started += 1
                serving = true
            case .refused:
                refused = true
            case .readCompleted(let result):
                precondition(readPending, "a read completed that was not asked for")
                readPending = false
                if case .badBody = result { refused = true }
            case .writeCompleted:
                precondition(writePending, "a write completed that was not asked for")
                writePending = false
            case .requestCompleted:
                precondition(serving, "a completion without a request")
                precondition(!readPending && !writePending, "a request completed with a call outstanding")
                completed += 1
                serving = false
            case .close:
                closed = true
                outputAtClose = machine.outboundCount
            case .upgrade:
                // The connection now belongs to another protocol: the machine must stay silent.
                closed = true
                outputAtClose = machine.outboundCount
            case .cancelRequest, .proxied, .shutdownWrite, .log:
                break
            }
        }
        preconditionFailure("poll did not settle")
    }

    mutating func check() {
        precondition(machine.bufferedInput <= machine.inputBound, "read-ahead \(machine.bufferedInput) past its bound \(machine.inputBound)")
        precondition(completed <= started, "more completions than requests")
        if inputEnded { precondition(machine.readBudget == 0, "reading after the input ended") }
        if closed {
            precondition(machine.outboundCount <= outputAtClose, "bytes queued after close")
            precondition(!machine.wantsWrite || machine.outboundCount == outputAtClose, "writing after close")
        }
    }
}
