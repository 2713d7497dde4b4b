import HTTP1
import Testing

/// The connection machine alone: bytes and application calls in, actions and bytes out, a manual
/// clock, no sockets.
struct Harness: ~Copyable {
    var machine: ConnectionStateMachine
    var now = 100.0
    /// Every action but `.none`, in order.
    var actions: [ConnectionStateMachine.Action] = []
    /// Bytes the machine asked to write (and that were "written").
    var written: [UInt8] = []

    init(_ configuration: ConnectionStateMachine.Configuration = .init()) {
        machine = ConnectionStateMachine(configuration: configuration, now: 100)
    }

    /// Polls until `.none`, recording the actions.
    @discardableResult
    mutating func run() -> [ConnectionStateMachine.Action] {
        var new: [ConnectionStateMachine.Action] = []
        for _ in 0..<1000 {
            let action = machine.poll(now: now)
            if case .none = action { break }
            new.append(action)
        }
        actions += new
        return new
    }

    @discardableResult
    mutating func receive(_ text: String) -> [ConnectionStateMachine.Action] {
        machine.received(Array(text.utf8), now: now)
        return run()
    }

    /// Writes everything the machine has, then polls.
    @discardableResult
    mutating func flush() -> [ConnectionStateMachine.Action] {
        let count = machine.outboundCount
        machine.withOutbound { written += $0 }
        machine.wrote(count, now: now)
        return run()
    }

    mutating func takeWritten() -> String {
        defer { written.removeAll() }
        return String(decoding: written, as: UTF8.self)
    }

    /// Head, body and finish at once, as the C ABI's `respond` gives them (`whole`).
    mutating func respond(_ status: Int = 200, _ body: String, length: Int64? = nil, fields: [(String, String)] = []) {
        let owned = fields.map { (Array($0.0.utf8), Array($0.1.utf8)) }
        let result = Harness.withViews(owned) { views in
            machine.applicationSendHead(status: status, fieldCount: views.count, field: { views[$0] },
                                        contentLength: length ?? Int64(body.utf8.count), whole: true)
        }
        #expect(result == .ok)
        if !body.isEmpty { #expect(machine.applicationWrite(Array(body.utf8), now: now) == .ok) }
        machine.applicationFinish(trailers: [], now: now)
    }

    /// The connection lingers after its response (RFC 9112 §9.6): the write side is shut, input
    /// is dropped unparsed, and the close comes once the linger time has passed.
    mutating func expectLingeringClose(_ after: [ConnectionStateMachine.Action], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(after.contains { if case .shutdownWrite = $0 { true } else { false } }, sourceLocation: sourceLocation)
        #expect(!after.contains { $0.isClose }, sourceLocation: sourceLocation)
        #expect(receive("GET /next HTTP/1.1\r\nHost: x\r\n\r\n").compactMap(\.startedTarget).isEmpty, sourceLocation: sourceLocation)
        now += machine.configuration.lingerTime + 0.1
        machine.tick(now: now)
        #expect(run().contains { $0.isClose }, sourceLocation: sourceLocation)
    }

    static func withViews<R>(_ fields: [([UInt8], [UInt8])],
                      _ body: ([(name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>)]) -> R) -> R {
        let copies = fields.map { (name: $0.0, value: $0.1) }
        return copies.withUnsafeBufferPointer { all in
            // The arrays live as long as `copies`: borrow their storage.
            let views = all.map { field in
                (name: field.name.withUnsafeBufferPointer { $0 }, value: field.value.withUnsafeBufferPointer { $0 })
            }
            return body(views)
        }
    }
}

extension ConnectionStateMachine.Action {
    var startedTarget: String? {
        if case .startRequest(let head) = self { return head.target }
        return nil
    }
    var isClose: Bool {
        if case .close = self { return true }
        return false
    }
    var completion: ConnectionStateMachine.RequestSummary? {
        if case .requestCompleted(let summary) = self { return summary }
        return nil
    }
    var refusal: HTTPError? {
        if case .refused(let error) = self { return error }
        return nil
    }
    var read: ConnectionStateMachine.ReadResult? {
        if case .readCompleted(let result) = self { return result }
        return nil
    }
}

@Suite struct ConnectionStateMachineTests {
    @Test func aRequestIsStartedAnsweredAndTheConnectionKept() {
        var h = Harness()
        let started = h.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(started.compactMap(\.startedTarget) == ["/a"])
        h.respond(200, "hello")
        let after = h.flush()
        let response = h.takeWritten()
        #expect(response.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(response.contains("Content-Length: 5\r\n"))
        #expect(response.hasSuffix("\r\n\r\nhello"))
        #expect(after.contains { if case .writeCompleted(.ok) = $0 { true } else { false } })
        #expect(after.compactMap(\.completion).map(\.status) == [200])
        #expect(!after.contains { $0.isClose })
        #expect(Bool(h.machine.isIdle))
        #expect(h.machine.requestsServed == 1)
    }

    @Test func pipelinedRequestsStartOneAtATimeInOrder() {
        var h = Harness()
        let first = h.receive("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(first.compactMap(\.startedTarget) == ["/1"])
        h.respond(200, "one")
        let second = h.flush()
        #expect(second.compactMap(\.startedTarget) == ["/2"])
        h.respond(200, "two")
        h.flush()
        let text = h.takeWritten()
        #expect(text.firstRange(of: "one")!.lowerBound < text.firstRange(of: "two")!.lowerBound)
    }

    @Test func nothingAfterAMalformedHeadIsParsed() {
        var h = Harness()
        let actions = h.receive("GET /a HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(actions.compactMap(\.refusal).map(\.status) == [400])
        #expect(actions.compactMap(\.startedTarget).isEmpty)
        let afterFlush = h.flush()
        #expect(h.takeWritten().hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(afterFlush.contains { if case .shutdownWrite = $0 { true } else { false } })
        // More input while lingering is dropped, never parsed.
        #expect(h.receive("GET /later HTTP/1.1\r\nHost: x\r\n\r\n").compactMap(\.startedTarget).isEmpty)
        h.now += 3
        h.machine.tick(now: h.now)
        #expect(h.run().contains { $0.isClose })
    }

    @Test func continueIsSentOnlyWhenTheBodyIsRead() {
        var h = Harness()
        h.receive("POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        #expect(h.machine.applicationRead(max: 100, now: h.now) == .ok)
        h.flush()
        #expect(h.takeWritten() == "HTTP/1.1 100 Continue\r\n\r\n")
        let read = h.receive("abc")
        #expect(read.compactMap(\.read) == [.data(Array("abc".utf8))])
    }

    @Test func aResponseWithoutReadingAnExpectedBodyClosesTheConnection() {
        var h = Harness()
        h.receive("POST /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        h.respond(413, "no")
        let after = h.flush()
        let response = h.takeWritten()
        #expect(!response.contains("100 Continue"))
        // RFC 9110 §10.1.1: the head says the connection ends; the close lingers (RFC 9112 §9.6).
        #expect(response.contains("Connection: close\r\n"))
        h.expectLingeringClose(after)
    }

    @Test func aLargeUnreadBodyEndsTheConnectionWithALingeringClose() {
        // A whole response to a request whose declared body is over the discard limit says the
        // connection ends (RFC 9112 §9.6), so a client or proxy does not send another request on it.
        var h = Harness(.init(discardLimit: 10))
        h.receive("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        h.respond(404, "none")
        let after = h.flush()
        #expect(h.takeWritten().contains("Connection: close\r\n"))
        // The close lingers so the response is not reset away.
        h.expectLingeringClose(after)

        // Without saying so (a response started before the body's fate was known), the discard
        // still gives up past its limit, and the close lingers too.
        var streamed = Harness(.init(discardLimit: 10))
        streamed.receive("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        let result = Harness.withViews([]) { views in
            streamed.machine.applicationSendHead(status: 404, fieldCount: 0, field: { views[$0] }, contentLength: 0)
        }
        #expect(result == .ok)
        streamed.machine.applicationFinish(trailers: [], now: streamed.now)
        #expect(!streamed.flush().contains { $0.isClose })
        #expect(!streamed.takeWritten().contains("Connection: close"))
        streamed.expectLingeringClose(streamed.receive(String(repeating: "b", count: 20)))

        // A small unread body is discarded instead: the connection stays.
        var small = Harness(.init(discardLimit: 10))
        small.receive("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
        small.respond(404, "none")
        #expect(!small.flush().contains { $0.isClose })
        #expect(!small.takeWritten().contains("Connection: close"))
        #expect(small.receive("cdeGET /2 HTTP/1.1\r\nHost: x\r\n\r\n").compactMap(\.startedTarget) == ["/2"])
    }

    /// A client that ends its input after its requests (a half-close: `nc -N`, `shutdown(SHUT_WR)`)
    /// still gets its answers (RFC 9293 §3.6); the request in flight is cancelled, since the client
    /// may also have gone entirely, but what its application sends is written.
    @Test func inputEndedAfterRequestsStillGetsTheirAnswers() {
        var h = Harness()
        let started = h.receive("GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(started.compactMap(\.startedTarget) == ["/1"])
        h.machine.inputEnded()
        #expect(h.machine.readBudget == 0)
        // The request in flight is cancelled; the one started after the end is not.
        #expect(h.run().contains { if case .cancelRequest = $0 { true } else { false } })
        h.respond(200, "one")
        // The second request, buffered before the end, is served too.
        #expect(h.flush().compactMap(\.startedTarget) == ["/2"])
        h.respond(200, "two")
        let after = h.flush()
        let text = h.takeWritten()
        #expect(text.contains("\r\n\r\none") && text.hasSuffix("\r\n\r\ntwo"))
        #expect(h.actions.compactMap(\.completion).count == 2)
        #expect(h.actions.filter { if case .cancelRequest = $0 { true } else { false } }.count == 1)
        // Nothing more can come: the connection closes without lingering.
        #expect(after.contains { $0.isClose })
        #expect(!after.contains { if case .shutdownWrite = $0 { true } else { false } })
    }

    /// An application that gives up on a request cancelled because its input ended sends no 500:
    /// the client may be gone, and the connection just closes.
    @Test func anAbortAfterInputEndedSendsNoErrorAnswer() {
        var h = Harness()
        h.receive("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        h.machine.inputEnded()
        #expect(h.run().contains { if case .cancelRequest = $0 { true } else { false } })
        h.machine.applicationAbort(now: h.now)
        let after = h.flush()
        #expect(h.takeWritten().isEmpty)
        #expect(after.compactMap(\.completion).map(\.status) == [0])
        #expect(after.contains { $0.isClose })
    }

    @Test func inputEndedInsideAHeadOrABodyCloses() {
        var head = Harness()
        head.receive("GET /1 HTTP/1.1\r\nHo")
        head.machine.inputEnded()
        let closed = head.run()
        #expect(closed.contains { $0.isClose })
        #expect(!closed.contains { $0.startedTarget != nil })
        #expect(head.takeWritten().isEmpty)

        // A body that can no longer arrive: the application's read says the client is gone.
        var body = Harness()
        body.receive("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
        #expect(body.machine.applicationRead(max: 100, now: body.now) == .ok)
        #expect(body.run().compactMap(\.read) == [.data(Array("abc".utf8))])
        #expect(body.machine.applicationRead(max: 100, now: body.now) == .ok)
        body.machine.inputEnded()
        #expect(body.run().compactMap(\.read) == [.disconnected])
    }

    @Test func anIdleConnectionWhoseInputEndsCloses() {
        var h = Harness()
        h.receive("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        h.respond(200, "one")
        h.flush()
        #expect(Bool(h.machine.isIdle))
        h.machine.inputEnded()
        #expect(h.run().contains { $0.isClose })
    }

    @Test func aBodyReadAfterTheResponseHeadKeepsTheConnection() {
        // An application that answers first and then reads (an echo) keeps a keep-alive
        // connection, however large the body.
        var h = Harness(.init(discardLimit: 10))
        h.receive("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n")
        let result = Harness.withViews([]) { views in
            h.machine.applicationSendHead(status: 200, fieldCount: 0, field: { views[$0] }, contentLength: -1)
        }
        #expect(result == .ok)
        #expect(h.machine.applicationRead(max: 100, now: h.now) == .ok)
        #expect(h.receive(String(repeating: "e", count: 20)).compactMap(\.read) == [.data(Array(String(repeating: "e", count: 20).utf8))])
        h.machine.applicationFinish(trailers: [], now: h.now)
        #expect(!h.flush().contains { $0.isClose })
        #expect(!h.takeWritten().contains("Connection: close"))
        #expect(h.receive("GET /2 HTTP/1.1\r\nHost: x\r\n\r\n").compactMap(\.startedTarget) == ["/2"])
    }

    @Test func aClientThatKeepsSendingCannotOutlastTheLingerTime() {
        var h = Harness()
        h.receive("GET / HTTP/1.1\r\nHost: a b\r\n\r\n")  // refused: 400, then lingering
        h.flush()
        h.receive("more")
        #expect(Bool(h.machine.wantsRead))
        // Reads that come at once keep the driver from ticking: the linger ends at a read too.
        h.now += h.machine.configuration.lingerTime + 0.1
        #expect(h.receive("still more").contains { $0.isClose })
    }

    @Test func readAheadIsBoundedWhileTheApplicationIsNotReading() {
        var h = Harness(.init(readAhead: 65_536))
        h.receive("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(h.machine.readBudget == 65_536)
        h.machine.received([UInt8](repeating: 65, count: 65_536), now: h.now)
        #expect(h.machine.readBudget == 0)
        #expect(!Bool(h.machine.wantsRead))
        #expect(h.machine.bufferedInput == 65_536)
    }

    @Test func aBadChunkFailsTheReadAndTheAbortAnswersWithItsStatus() {
        var h = Harness()
        h.receive("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        #expect(h.machine.applicationRead(max: 100, now: h.now) == .ok)
        #expect(h.run().compactMap(\.read) == [.badBody])
        h.machine.applicationAbort(now: h.now)
        let after = h.flush()
        #expect(h.takeWritten().hasPrefix("HTTP/1.1 400 Bad Request"))
        h.expectLingeringClose(after)
    }

    @Test func anAbortAfterTheHeadCutsTheResponseShort() {
        var h = Harness()
        h.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let result = Harness.withViews([]) { views in
            h.machine.applicationSendHead(status: 200, fieldCount: 0, field: { views[$0] }, contentLength: -1)
        }
        #expect(result == .ok)
        #expect(h.machine.applicationWrite(Array("part".utf8), now: h.now) == .ok)
        h.machine.applicationAbort(now: h.now)
        let after = h.flush()
        let text = h.takeWritten()
        #expect(text.contains("Transfer-Encoding: chunked"))
        #expect(text.hasSuffix("4\r\npart\r\n"))  // no last chunk
        #expect(!text.contains("Internal Server Error"))
        #expect(after.compactMap(\.completion).map(\.complete) == [false])
        #expect(after.contains { $0.isClose })
    }

    @Test func anAbortBeforeTheHeadIsAnswered500() {
        var h = Harness()
        h.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        h.machine.applicationAbort(now: h.now)
        h.flush()
        #expect(h.takeWritten().hasPrefix("HTTP/1.1 500 Internal Server Error"))
    }

    @Test(arguments: [99, 100, 199, 600, 1000, -1])
    func aStatusOutsideTheFinalRangeIsRefusedAndLogged(status: Int) {
        var h = Harness()
        h.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        let result = Harness.withViews([]) { views in
            h.machine.applicationSendHead(status: status, fieldCount: 0, field: { views[$0] }, contentLength: 0)
        }
        #expect(result == .invalidState)
        #expect(h.run().contains { if case .log(let d) = $0 { d.level == .error && d.message.contains("\(status)") } else { false } })
        h.respond(500, "")
        h.flush()
        #expect(h.takeWritten().hasPrefix("HTTP/1.1 500"))
    }

    @Test func aShortFixedLengthBodyClosesTheConnection() {
        var h = Harness()
        h.receive("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
        h.respond(200, "abc", length: 10)
        let after = h.flush()
        #expect(after.compactMap(\.completion).map(\.complete) == [false])
        #expect(after.contains { $0.isClose })
    }

    @Test func aClientThatLeavesCancelsItsRequestAndFailsItsRead() {
        var h = Harness()
        h.receive("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        #expect(h.machine.applicationRead(max: 100, now: h.now) == .ok)
        #expect(h.run().compactMap(\.read) == [.data(Array("ab".utf8))])
        #expect(h.machine.applicationRead(max: 100, now: h.now) == .ok)
        h.machine.peerClosed()
        let actions = h.run()
        #expect(actions.compactMap(\.read) == [.disconnected])
        #expect(actions.contains { if case .cancelRequest = $0 { true } else { false } })
        h.machine.applicationAbort(now: h.now)
        let end = h.run()
        #expect(end.compactMap(\.completion).count == 1)
        #expect(end.contains { $0.isClose })
        #expect(h.machine.outboundCount == 0 || h.machine.peerIsGone)
    }

    @Test func timeouts() {
        var idle = Harness(.init(keepAlive: 2))
        idle.machine.received(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), now: idle.now)
        idle.run()
        idle.respond(200, "")
        idle.flush()
        idle.now += 1
        let ticked10840 = idle.machine.tick(now: idle.now)
        #expect(!ticked10840)
        idle.now += 1.5
        let ticked10915 = idle.machine.tick(now: idle.now)
        #expect(ticked10915)
        #expect(idle.run().contains { $0.isClose })

        var slowHead = Harness(.init(headerTimeout: 5))
        slowHead.receive("GET / HTTP/1.1\r\nHo")
        slowHead.now += 6
        slowHead.machine.tick(now: slowHead.now)
        #expect(slowHead.run().compactMap(\.refusal).map(\.status) == [408])

        var silent = Harness(.init(headerTimeout: 5))
        silent.now += 6
        silent.machine.tick(now: silent.now)
        #expect(silent.run().contains { $0.isClose })

        var stalledBody = Harness(.init(bodyTimeout: 3))
        stalledBody.receive("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        #expect(stalledBody.machine.applicationRead(max: 10, now: stalledBody.now) == .ok)
        stalledBody.now += 4
        stalledBody.machine.tick(now: stalledBody.now)
        #expect(stalledBody.run().compactMap(\.read) == [.badBody])
        stalledBody.machine.applicationAbort(now: stalledBody.now)
        stalledBody.flush()
        #expect(stalledBody.takeWritten().hasPrefix("HTTP/1.1 408"))
    }

    @Test func aGracefulStopAnswersWithCloseAndDrainsIdleConnections() {
        var h = Harness()
        h.receive("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        h.machine.stopKeepAlive(drainUntil: h.now + 1)
        h.respond(200, "x")
        let after = h.flush()
        #expect(h.takeWritten().contains("Connection: close\r\n"))
        #expect(after.contains { $0.isClose })

        var idle = Harness()
        idle.receive("GET /1 HTTP/1.1\r\nHost: x\r\n\r\n")
        idle.respond(200, "x")
        idle.flush()
        idle.machine.stopKeepAlive(drainUntil: idle.now + 1)
        idle.now += 0.5
        let ticked12620 = idle.machine.tick(now: idle.now)
        #expect(!ticked12620)
        idle.now += 1
        let ticked12693 = idle.machine.tick(now: idle.now)
        #expect(ticked12693)
        #expect(idle.run().contains { $0.isClose })
    }

    @Test func anUnreadBodyIsDiscardedBeforeTheNextRequest() {
        var h = Harness()
        h.receive("POST /1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab")
        h.respond(200, "ok")
        h.flush()
        #expect(h.receive("cdeGET /2 HTTP/1.1\r\nHost: x\r\n\r\n").compactMap(\.startedTarget) == ["/2"])

        // A chunked body has no declared size: the response keeps the connection, and the discard
        // gives up past the limit, lingering so that the response is not lost to a reset.
        var big = Harness(.init(discardLimit: 10))
        big.receive("POST /1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        big.respond(200, "ok")
        big.flush()
        #expect(!big.takeWritten().contains("Connection: close"))
        let discarding = big.receive("32\r\n" + String(repeating: "a", count: 50) + "\r\n")
        big.expectLingeringClose(discarding)
    }

    @Test func writesWaitWhileTheOutputIsAboveTheHighWaterMark() {
        var h = Harness(.init(highWater: 10))
        h.receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        _ = Harness.withViews([]) { views in h.machine.applicationSendHead(status: 200, fieldCount: 0, field: { views[$0] }, contentLength: -1) }
        #expect(h.machine.applicationWrite([UInt8](repeating: 65, count: 100), now: h.now) == .ok)
        #expect(!h.run().contains { if case .writeCompleted = $0 { true } else { false } })
        #expect(h.flush().contains { if case .writeCompleted(.ok) = $0 { true } else { false } })
    }

    @Test func http10WithoutALengthEndsTheBodyWithTheClose() {
        var h = Harness()
        h.receive("GET / HTTP/1.0\r\n\r\n")
        _ = Harness.withViews([]) { views in h.machine.applicationSendHead(status: 200, fieldCount: 0, field: { views[$0] }, contentLength: -1) }
        #expect(h.machine.applicationWrite(Array("body".utf8), now: h.now) == .ok)
        h.machine.applicationFinish(trailers: [], now: h.now)
        let after = h.flush()
        let text = h.takeWritten()
        #expect(!text.contains("chunked"))
        #expect(text.hasSuffix("\r\n\r\nbody"))
        #expect(after.contains { $0.isClose })
    }

    @Test func a101HandsTheConnectionAndWhatFollowsToTheUpgradedProtocol() {
        var h = Harness()
        h.receive("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\u{81}\u{05}")
        h.respond(101, "", length: 0, fields: [("Upgrade", "websocket")])
        let after = h.flush()
        let text = h.takeWritten()
        #expect(text.hasPrefix("HTTP/1.1 101 Switching Protocols\r\n"))
        #expect(text.contains("Upgrade: websocket\r\n") && text.hasSuffix("Connection: Upgrade\r\n\r\n"))
        #expect(!text.contains("Content-Length") && !text.contains("chunked"))
        let handedOver = after.compactMap { action -> [UInt8]? in
            if case .upgrade(_, let buffered) = action { return buffered }
            return nil
        }
        #expect(handedOver == [Array("\u{81}\u{05}".utf8)])
        #expect(!h.machine.wantsRead && !h.machine.wantsWrite)
        #expect(h.receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n").isEmpty)
    }

    @Test func a101BeforeTheRequestBodyIsReadIsRefused() {
        // RFC 9110 §7.8: the body's bytes would reach the other protocol as its own.
        var h = Harness()
        h.receive("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nContent-Length: 4\r\n\r\nabcd")
        let result = Harness.withViews([(Array("Upgrade".utf8), Array("websocket".utf8))]) { views in
            h.machine.applicationSendHead(status: 101, fieldCount: views.count, field: { views[$0] }, contentLength: 0)
        }
        #expect(result == .invalidState)
        #expect(h.run().contains { if case .log(let line) = $0 { line.message.contains("before the request's body was read") } else { false } })
    }

    @Test func anUpgradeOfferInAnotherResponseIsNamedInConnection() {
        var h = Harness()
        h.receive("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")
        h.respond(426, "upgrade", fields: [("Upgrade", "websocket")])
        h.flush()
        let text = h.takeWritten()
        // RFC 9110 §7.8: a sender of Upgrade names the `upgrade` option in Connection.
        #expect(text.contains("Upgrade: websocket\r\n"))
        #expect(text.contains("Connection: upgrade\r\n"))
    }

    @Test func a101WithoutAnUpgradeRequestIsRefused() {
        var h = Harness()
        h.receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        let result = Harness.withViews([]) { views in
            h.machine.applicationSendHead(status: 101, fieldCount: 0, field: { views[$0] }, contentLength: 0)
        }
        #expect(result == .invalidState)
    }

    @Test func aProxyProtocolHeaderNamesTheClient() {
        var h = Harness(.init(proxyProtocol: .v1))
        let actions = h.receive("PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        #expect(actions.contains { if case .proxied(let host, let port) = $0 { host == "192.0.2.1" && port == 56324 } else { false } })
        #expect(actions.compactMap(\.startedTarget) == ["/"])
    }

    @Test func a205HasNoContentButSaysSo() {
        var h = Harness()
        h.receive("POST /form HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        h.respond(205, "odd")
        h.flush()
        let response = h.takeWritten()
        // RFC 9110 §15.3.6: no content; RFC 9112 §6.3: a 205's framing is not implied.
        #expect(response.hasPrefix("HTTP/1.1 205 Reset Content\r\n"))
        #expect(response.contains("Content-Length: 0\r\n"))
        #expect(response.hasSuffix("\r\n\r\n"))
        #expect(Bool(h.machine.isIdle))
    }

    @Test func trailersAFieldMayNotBeInAreDroppedAndLogged() {
        var h = Harness()
        h.receive("GET /t HTTP/1.1\r\nHost: x\r\n\r\n")
        let result = Harness.withViews([]) { views in
            h.machine.applicationSendHead(status: 200, fieldCount: 0, field: { views[$0] }, contentLength: -1)
        }
        #expect(result == .ok)
        h.machine.applicationFinish(trailers: [
            (Array("X-Checksum".utf8), Array("abc".utf8)), (Array("Set-Cookie".utf8), Array("a=b".utf8)),
            (Array("Content-Length".utf8), Array("9".utf8)),
        ], now: h.now)
        let after = h.flush()
        let response = h.takeWritten()
        #expect(response.hasSuffix("0\r\nX-Checksum: abc\r\n\r\n"))
        let logged = after.compactMap { if case .log(let line) = $0 { line.message } else { nil } }
        #expect(logged.count == 2)
        #expect(logged.allSatisfy { $0.contains("not allowed in trailers") })
    }
}
