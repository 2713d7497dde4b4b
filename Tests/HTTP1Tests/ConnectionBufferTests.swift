import HTTP1
import Testing

/// What a connection's buffers keep while it waits: for the application, or for the next request.
@Suite struct ConnectionBufferTests {
    @Test func aLargeResponsesRoomIsGivenBackOnceItIsOut() {
        var h = Harness()
        h.receive("GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        h.respond(200, String(repeating: "x", count: 100_000))
        #expect(h.machine.bufferCapacity >= 100_000)
        let after = h.flush()
        #expect(after.compactMap(\.completion).map(\.status) == [200])
        #expect(Bool(h.machine.isIdle))
        #expect(h.machine.bufferCapacity <= 8192)
    }

    @Test func aLargeHeadsRoomIsGivenBackWhileTheApplicationWorks() {
        var h = Harness()
        let started = h.receive("GET /slow HTTP/1.1\r\nHost: x\r\nX-Padding: \(String(repeating: "p", count: 6000))\r\n\r\n")
        #expect(started.compactMap(\.startedTarget) == ["/slow"])
        #expect(h.machine.bufferCapacity <= 8192)
        h.respond(200, "done")
        h.flush()
        #expect(h.takeWritten().hasSuffix("done"))
    }

    @Test func aSmallExchangeKeepsItsRoomForTheNextRequest() {
        var h = Harness()
        h.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        h.respond(200, "hello")
        h.flush()
        let kept = h.machine.bufferCapacity
        #expect(kept > 0)
        let started = h.receive("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(started.compactMap(\.startedTarget) == ["/b"])
        #expect(h.machine.bufferCapacity >= kept)
    }

    @Test func aWaitingConnectionGivesBackItsBuffersAtATick() {
        var h = Harness()
        h.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        h.respond(200, "hello")
        h.flush()
        #expect(h.machine.bufferCapacity > 0)
        let idleTick = h.machine.tick(now: h.now + 0.25)  // idle keep-alive: nothing to do but give back
        #expect(!idleTick)
        #expect(h.machine.bufferCapacity == 0)

        // A request the application is still working on holds no empty buffer past a tick either,
        // and its response allocates again.
        h.receive("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
        h.respond(200, "first")
        h.flush()
        let started = h.receive("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(started.compactMap(\.startedTarget) == ["/slow"])
        #expect(h.machine.bufferCapacity > 0)
        let waitingTick = h.machine.tick(now: h.now + 0.25)
        #expect(!waitingTick)
        #expect(h.machine.bufferCapacity == 0)
        _ = h.takeWritten()
        h.respond(200, "done")
        h.flush()
        #expect(h.takeWritten().hasSuffix("done"))
    }

    @Test func bytesAfterAHeadStayBuffered() {
        var h = Harness()
        let body = String(repeating: "b", count: 5000)
        let started = h.receive("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n\(body)")
        #expect(started.compactMap(\.startedTarget) == ["/upload"])
        #expect(h.machine.bufferedInput == 5000)
    }
}
