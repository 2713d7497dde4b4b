@testable import WebSocket
import Testing

@Suite struct ConnectionStateMachineTests {
    @Test func deliversMessagesAndAnswersPings() {
        var machine = ConnectionStateMachine(now: 0)
        let actions = machine.receive(clientText("hi") + clientFrame(.ping, [1, 2]) + clientFrame(.binary, [0, 255]), now: 1)
        #expect(delivered(actions) == [.text("hi"), .binary([0, 255])])
        #expect(serverFrames(written(actions)) == [Frame(opcode: .pong, payload: [1, 2])])
        #expect(closeOutcome(actions) == nil)
    }

    @Test func fragmentedTextWithCodePointSplitAcrossFragmentsAndReads() {
        let text = Array("a€😀b".utf8) // 3- and 4-byte sequences
        let stream = clientFrame(.text, Array(text[0..<2]), fin: false) + clientFrame(.ping, [7])
            + clientFrame(.continuation, Array(text[2..<5]), fin: false) + clientFrame(.continuation, Array(text[5...]))
        for split in 0...stream.count {
            var machine = ConnectionStateMachine(now: 0)
            let actions = machine.receive(stream[..<split], now: 0) + machine.receive(stream[split...], now: 0)
            #expect(delivered(actions) == [.text("a€😀b")], "split \(split)")
            #expect(serverFrames(written(actions)) == [Frame(opcode: .pong, payload: [7])])
        }
    }

    @Test func invalidUTF8FailsEarlyWith1007() {
        var machine = ConnectionStateMachine(now: 0)
        // The bad byte is in the first fragment; the connection fails before the message ends.
        let actions = machine.receive(clientFrame(.text, [0x61, 0xC0], fin: false), now: 0)
        #expect(sentCloseCode(actions) == 1007)
        #expect(closeOutcome(actions) == .failed(.invalidData("text message is not UTF-8")))
        #expect(machine.isClosed)
        #expect(machine.receive(clientText("more"), now: 0).isEmpty)

        var truncated = ConnectionStateMachine(now: 0)
        #expect(sentCloseCode(truncated.receive(clientFrame(.text, [0x61, 0xE2, 0x82]), now: 0)) == 1007)
    }

    @Test func invalidUTF8FailsInsideAFrameStillArriving() {
        // Autobahn 6.4.3: one text frame, cut in three; the second piece makes it invalid.
        let text = Array("κόσμε".utf8) + [0xF4, 0x90, 0x80, 0x80] + Array("edited".utf8)
        let frame = clientFrame(.text, text)
        let cut1 = 2 + 4 + 10, cut2 = cut1 + 4  // header and mask, "κόσμε", the bad sequence
        var machine = ConnectionStateMachine(now: 0)
        #expect(machine.receive(frame[..<cut1], now: 0).isEmpty)
        let actions = machine.receive(frame[cut1..<cut2], now: 0)
        #expect(sentCloseCode(actions) == 1007)
        #expect(machine.isClosed)

        // Also in a continuation frame, from the state the earlier fragments left: 0xAC completes
        // the € begun before (alone it would be invalid), then 0xFF is not UTF-8.
        let start = clientFrame(.text, [0xE2, 0x82], fin: false)
        var continued = ConnectionStateMachine(now: 0)
        #expect(continued.receive(start + clientFrame(.continuation, [0xAC, 0x61, 0x62, 0x63]).dropLast(1), now: 0).isEmpty)
        #expect(!continued.isClosed)
        var broken = ConnectionStateMachine(now: 0)
        #expect(sentCloseCode(broken.receive(start + clientFrame(.continuation, [0xAC, 0x61, 0xFF, 0x62, 0x63]).dropLast(1), now: 0)) == 1007)

        // Valid text arriving byte by byte is delivered whole, once.
        var valid = ConnectionStateMachine(now: 0)
        var messages: [Message] = []
        for byte in clientFrame(.text, Array("κόσμε edited".utf8)) { messages += delivered(valid.receive([byte], now: 0)) }
        #expect(messages == [.text("κόσμε edited")])
        #expect(!valid.isClosed)
    }

    @Test func violationsCloseWithTheirCode() {
        let cases: [([UInt8], UInt16)] = [
            (FrameEncoder.encode(Frame(opcode: .text, payload: [0x61])), 1002),
            (clientFrame(.continuation, [1]), 1002),
            (clientFrame(.close, [0x03]), 1002),
            (clientFrame(.close, [0x03, 0xED]), 1002),
            (clientFrame(.close, [0x03, 0xE8, 0xFF]), 1007),
            (clientFrame(.binary, [UInt8](repeating: 1, count: 101)), 1009),
            (clientFrame(.text, [UInt8](repeating: 0x61, count: 60), fin: false) + clientFrame(.continuation, [UInt8](repeating: 0x61, count: 41)), 1009),
        ]
        for (bytes, code) in cases {
            var machine = ConnectionStateMachine(settings: ConnectionSettings(maxMessageSize: 100), now: 0)
            let actions = machine.receive(bytes, now: 0)
            #expect(sentCloseCode(actions) == code, "\(bytes.prefix(4))")
            guard case .failed(let error) = closeOutcome(actions) else {
                Issue.record("no failure for \(bytes.prefix(4))")
                continue
            }
            #expect(error.code.rawValue == code)
        }
    }

    @Test func clientInitiatedClose() {
        var machine = ConnectionStateMachine(now: 0)
        let actions = machine.receive(clientFrame(.close, [0x0F, 0xA0] + Array("bye".utf8)), now: 0)
        #expect(serverFrames(written(actions)) == [Frame(opcode: .close, payload: [0x0F, 0xA0])])
        #expect(closeOutcome(actions) == .closed(CloseFrame(code: CloseCode(4000), reason: "bye")))
        #expect(machine.isClosed)
        #expect(machine.send(.text("late"), now: 0).isEmpty)
    }

    @Test func serverInitiatedCloseWaitsForTheAnswerWithADeadline() {
        var machine = ConnectionStateMachine(settings: ConnectionSettings(closeTimeout: 3), now: 0)
        let closing = machine.close(code: .goingAway, reason: "restart", now: 10)
        #expect(serverFrames(written(closing)) == [Frame(opcode: .close, payload: [0x03, 0xE9] + Array("restart".utf8))])
        #expect(closeOutcome(closing) == nil)
        #expect(machine.nextDeadline == 13)
        #expect(machine.send(.text("no more"), now: 11).isEmpty) // §5.5.1: no data after our close
        // Messages still arriving are delivered; pings are not answered any more.
        let late = machine.receive(clientText("in flight") + clientFrame(.ping), now: 11)
        #expect(delivered(late) == [.text("in flight")] && written(late).isEmpty)
        #expect(machine.tick(now: 12.9).isEmpty)
        let answered = machine.receive(clientFrame(.close, [0x03, 0xE9]), now: 12)
        #expect(written(answered).isEmpty)
        #expect(closeOutcome(answered) == .closed(CloseFrame(code: .goingAway)))

        var silent = ConnectionStateMachine(settings: ConnectionSettings(closeTimeout: 3), now: 0)
        _ = silent.close(now: 0)
        #expect(closeOutcome(silent.tick(now: 3)) == .closeTimedOut)
        #expect(silent.isClosed && silent.nextDeadline == nil)
    }

    @Test func keepAlivePingsAndPongTimeout() {
        var machine = ConnectionStateMachine(settings: ConnectionSettings(pingInterval: 10, pongTimeout: 5), now: 0)
        #expect(machine.nextDeadline == 10)
        #expect(machine.tick(now: 9).isEmpty)
        let first = serverFrames(written(machine.tick(now: 10)))
        #expect(first.count == 1 && first[0].opcode == .ping)
        #expect(machine.nextDeadline == 15)
        // An unsolicited pong with another payload does not count.
        #expect(machine.receive(clientFrame(.pong, [9]), now: 11).isEmpty)
        #expect(machine.receive(clientFrame(.pong, first[0].payload), now: 12).isEmpty)
        #expect(machine.nextDeadline == 20)
        let second = serverFrames(written(machine.tick(now: 20)))
        #expect(second.count == 1 && second[0].payload != first[0].payload)
        #expect(machine.tick(now: 24.9).isEmpty)
        #expect(closeOutcome(machine.tick(now: 25)) == .pongTimedOut)
        #expect(machine.isClosed)
    }

    @Test func outgoingMessagesAndFragmentation() {
        var machine = ConnectionStateMachine(settings: ConnectionSettings(outgoingFragmentSize: 4), now: 0)
        let frames = serverFrames(written(machine.send(.text("hello world"), now: 0)))
        #expect(frames.map(\.opcode) == [.text, .continuation, .continuation])
        #expect(frames.map(\.fin) == [false, false, true])
        #expect(frames.flatMap(\.payload) == Array("hello world".utf8))
        #expect(serverFrames(written(machine.ping([1], now: 0))) == [Frame(opcode: .ping, payload: [1])])
    }

    @Test func transportClosedIsReportedOnce() {
        var machine = ConnectionStateMachine(now: 0)
        #expect(machine.transportClosed() == [.closeTransport(.transportClosed)])
        #expect(machine.transportClosed().isEmpty)
    }
}

@Suite(.enabled(if: Zlib.unavailableReason == nil, "libz.so.1 is not loadable"))
struct CompressedConnectionTests {
    @Test(arguments: [false, true])
    func compressedMessagesBothWays(noContextTakeover: Bool) throws {
        let parameters = DeflateParameters(serverNoContextTakeover: noContextTakeover, clientNoContextTakeover: noContextTakeover, minimumSizeToCompress: 8)
        var machine = ConnectionStateMachine(deflate: parameters, now: 0)
        let client = try Deflater(windowBits: 15, level: 6, noContextTakeover: noContextTakeover)
        let reader = try Inflater(windowBits: 15, noContextTakeover: noContextTakeover)
        for round in 0..<3 {
            let text = String(repeating: "compress me \(round) ", count: 40)
            let payload = try client.compress(Array(text.utf8))
            // Split across two fragments, RSV1 on the first only (RFC 7692 §6.1).
            let half = payload.count / 2
            let bytes = clientFrame(.text, Array(payload[..<half]), fin: false, rsv1: true) + clientFrame(.continuation, Array(payload[half...]))
            #expect(delivered(machine.receive(bytes, now: 0)) == [.text(text)])

            let frames = serverFrames(written(machine.send(.text(text), now: 0)), compression: true)
            #expect(frames.count == 1 && frames[0].rsv1)
            #expect(try inflateMessage(reader, [frames[0].payload]) == Array(text.utf8))
        }
        // Short messages go out uncompressed; uncompressed messages from the client are fine too.
        #expect(serverFrames(written(machine.send(.binary([1, 2]), now: 0)), compression: true) == [Frame(opcode: .binary, payload: [1, 2])])
        #expect(delivered(machine.receive(clientFrame(.binary, [3]), now: 0)) == [.binary([3])])
    }

    @Test func bombIsStoppedWith1009() throws {
        let client = try Deflater(windowBits: 15, level: 9, noContextTakeover: false)
        let bomb = try client.compress([UInt8](repeating: 0x61, count: 32 << 20))
        var machine = ConnectionStateMachine(settings: ConnectionSettings(maxMessageSize: 1 << 20), deflate: DeflateParameters(), now: 0)
        let actions = machine.receive(clientFrame(.text, bomb, rsv1: true), now: 0)
        #expect(sentCloseCode(actions) == 1009)
        #expect(delivered(actions).isEmpty)
    }

    @Test func compressedInvalidUTF8Is1007() throws {
        let client = try Deflater(windowBits: 15, level: 6, noContextTakeover: false)
        var machine = ConnectionStateMachine(deflate: DeflateParameters(), now: 0)
        let actions = machine.receive(clientFrame(.text, try client.compress([0x61, 0xFF, 0x62]), rsv1: true), now: 0)
        #expect(sentCloseCode(actions) == 1007)
    }
}
