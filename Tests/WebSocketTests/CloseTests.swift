@testable import WebSocket
import Testing

@Suite struct CloseTests {
    @Test func closeCodeTable() {
        var valid: [UInt16] = []
        for raw in UInt16(0)...UInt16(5999) where CloseCode(raw).isValidOnWire { valid.append(raw) }
        let expected = Array(1000...1003) + Array(1007...1011) + Array(3000...4999)
        #expect(valid == expected.map { UInt16($0) })
        for raw: UInt16 in [0, 999, 1004, 1005, 1006, 1012, 1015, 1016, 1999, 2000, 2999, 5000, 65535] {
            #expect(!CloseCode(raw).isValidOnWire, "\(raw)")
        }
    }

    @Test func closeFramePayloads() throws {
        #expect(try CloseFrame(payload: []) == CloseFrame(code: nil))
        #expect(try CloseFrame(payload: [0x03, 0xE8]) == CloseFrame(code: .normalClosure))
        #expect(try CloseFrame(payload: [0x0F, 0xA0] + Array("bye ✓".utf8)) == CloseFrame(code: CloseCode(4000), reason: "bye ✓"))
        let cases: [([UInt8], UInt16)] = [
            ([0x03], 1002), // one-byte payload
            ([0x03, 0xEC], 1002), // 1004
            ([0x03, 0xED], 1002), // 1005
            ([0x03, 0xEE], 1002), // 1006
            ([0x03, 0xF7], 1002), // 1015
            ([0x03, 0xE7], 1002), // 999
            ([0x07, 0xD0], 1002), // 2000
            ([0x13, 0x88], 1002), // 5000
            ([0x03, 0xE8, 0xC3, 0x28], 1007), // reason not UTF-8
            ([0x03, 0xE8, 0xED, 0xA0, 0x80], 1007), // surrogate in the reason
        ]
        for (payload, code) in cases {
            #expect(throws: ProtocolError.self) { _ = try CloseFrame(payload: payload) }
            do {
                _ = try CloseFrame(payload: payload)
            } catch {
                #expect(error.code.rawValue == code, "\(payload)")
            }
        }
    }

    @Test func reasonIsCutToFit() {
        let payload = CloseFrame(code: .goingAway, reason: String(repeating: "é", count: 100)).payload
        #expect(payload.count <= 125)
        #expect(payload.count == 124) // 2 + 61 × 2: the next "é" would pass 125
        #expect(UTF8Validator.isValid(Array(payload[2...])))
    }

    @Test func serverInitiatedClose() {
        var machine = CloseStateMachine(timeout: 5)
        #expect(machine.close(CloseFrame(code: .goingAway), now: 100) == .sendClose([0x03, 0xE9]))
        #expect(machine.deadline == 105)
        #expect(!machine.canSend)
        #expect(machine.close(CloseFrame(code: .normalClosure), now: 101) == .none) // only one close frame
        #expect(machine.tick(now: 104.9) == .none)
        #expect(machine.received(CloseFrame(code: .normalClosure)) == .finish)
        #expect(machine.state == .closed)
    }

    @Test func serverInitiatedCloseTimesOut() {
        var machine = CloseStateMachine(timeout: 5)
        _ = machine.close(CloseFrame(code: .normalClosure), now: 0)
        #expect(machine.tick(now: 5) == .finish)
        #expect(machine.state == .closed)
        #expect(machine.tick(now: 6) == .none)
    }

    @Test func clientInitiatedCloseIsEchoed() {
        var machine = CloseStateMachine(timeout: 5)
        #expect(machine.received(CloseFrame(code: CloseCode(4001), reason: "done")) == .sendCloseAndFinish([0x0F, 0xA1]))
        #expect(machine.state == .closed)
        var empty = CloseStateMachine(timeout: 5)
        #expect(empty.received(CloseFrame(code: nil)) == .sendCloseAndFinish([]))
    }

    @Test func failureSendsOneCloseFrame() {
        var open = CloseStateMachine(timeout: 5)
        #expect(open.fail(.protocolViolation("x")) == .sendCloseAndFinish([0x03, 0xEA, UInt8(ascii: "x")]))
        var closing = CloseStateMachine(timeout: 5)
        _ = closing.close(CloseFrame(code: .normalClosure), now: 0)
        #expect(closing.fail(.invalidData("y")) == .finish)
    }
}
