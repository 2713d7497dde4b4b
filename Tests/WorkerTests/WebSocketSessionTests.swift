import Testing
import WebSocket
@testable import Worker

/// The worker's WebSocket session alone: frames in, what it wants and writes out.
@Suite struct WebSocketSessionTests {
    /// A masked client frame (RFC 6455 §5.2), payload under 126 bytes.
    static func clientFrame(opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let mask: [UInt8] = [1, 2, 3, 4]
        return [0x80 | opcode, 0x80 | UInt8(payload.count)] + mask
            + payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
    }

    /// What a driver does: bytes reach the session only while it wants to read.
    static func receive(_ session: WebSocketSession, _ bytes: [UInt8]) {
        #expect(session.wantsRead, "the driver would not read now")
        guard session.wantsRead else { return }
        bytes.withUnsafeBytes { session.received($0, now: 0) }
    }

    @Test func pingsAreAnsweredWhileAMessageWaitsForTheApplication() {
        let session = WebSocketSession(settings: ConnectionSettings(), deflate: nil, pending: [], now: 0)
        session.upgraded(buffered: [], now: 0)
        Self.receive(session, Self.clientFrame(opcode: 0x1, Array("subscribe".utf8)))
        // The application has not asked for it: reading goes on, so control frames are seen.
        #expect(session.wantsRead)
        Self.receive(session, Self.clientFrame(opcode: 0x9, Array("p".utf8)))
        let pong = session.withOutbound { Array($0) }
        #expect(pong == [0x8A, 0x01, UInt8(ascii: "p")])
        session.wrote(pong.count)
        // A second waiting message stops reading: a flood costs bounded memory.
        Self.receive(session, Self.clientFrame(opcode: 0x1, Array("more".utf8)))
        #expect(!session.wantsRead)
    }
}
