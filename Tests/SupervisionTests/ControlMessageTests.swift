import Supervision
import Testing

@Suite struct ControlMessageTests {
    @Test func workerMessagesOnTheWire() {
        #expect(String(decoding: WorkerMessage.ready.encoded, as: UTF8.self) == "ready\n")
        let retire = WorkerMessage.retire(reason: "max_requests reached (5 requests)")
        #expect(String(decoding: retire.encoded, as: UTF8.self) == "retire max_requests reached (5 requests)\n")
        #expect(WorkerMessage(line: "ready") == .ready)
        #expect(WorkerMessage(line: "retire memory: PSS 300 MiB") == .retire(reason: "memory: PSS 300 MiB"))
        #expect(WorkerMessage(line: "retired") == nil)
        #expect(WorkerMessage(line: WorkerMessage.logsReopened.line) == .logsReopened)
        #expect(WorkerMessage.logsReopened.line == "logs-reopened")
        #expect(WorkerMessage(line: "") == nil)
    }

    @Test func masterMessagesOnTheWire() {
        #expect(String(decoding: MasterMessage.reopenLogs.encoded, as: UTF8.self) == "reopen-logs\n")
        #expect(MasterMessage(line: "reopen-logs") == .reopenLogs)
        #expect(MasterMessage(line: "ready") == nil, "a worker's message is not the master's")
    }

    @Test func ticketKeysTravelAsHex() {
        let keys: [UInt8] = (0..<160).map { UInt8(truncatingIfNeeded: $0 * 37) }
        let message = MasterMessage.ticketKeys(keys)
        #expect(message.line.hasPrefix("ticket-keys 00254a6f"))
        var reader = ControlReader<MasterMessage>()
        #expect(reader.feed(message.encoded) == [.ticketKeys(keys)])
        #expect(MasterMessage(line: "ticket-keys ") == nil)
        #expect(MasterMessage(line: "ticket-keys abc") == nil, "an odd number of digits")
        #expect(MasterMessage(line: "ticket-keys zz") == nil)
    }

    @Test func tlsFilesTravelAsHexPathAndContents() {
        let pem = Array("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".utf8)
        let message = MasterMessage.tlsFile(path: "/etc/my certs/a.pem", contents: pem)
        #expect(!message.line.contains("\n"))
        var reader = ControlReader<MasterMessage>()
        // Split anywhere, as a long line arrives in pieces.
        let wire = message.encoded
        #expect(reader.feed(wire[..<10]).isEmpty)
        #expect(reader.feed(wire[10...]) == [.tlsFile(path: "/etc/my certs/a.pem", contents: pem)])
        #expect(MasterMessage(line: MasterMessage.tlsFile(path: "/e", contents: []).line) == .tlsFile(path: "/e", contents: []))
        #expect(MasterMessage(line: "tls-file 2f65") == nil, "no contents")
        #expect(MasterMessage(line: "tls-file  00") == nil, "no path")
    }

    @Test func aReasonCannotBreakTheFraming() {
        let message = WorkerMessage.retire(reason: "two\nlines")
        var reader = ControlReader<WorkerMessage>()
        #expect(reader.feed(message.encoded) == [.retire(reason: "two lines")])
    }

    @Test func readerJoinsPiecesAndSplitsBatches() {
        var reader = ControlReader<WorkerMessage>()
        let bytes = WorkerMessage.ready.encoded + WorkerMessage.retire(reason: "max_requests").encoded
        #expect(reader.feed(bytes[0..<3]) == [])
        #expect(reader.feed(bytes[3..<9]) == [.ready])
        #expect(reader.feed(bytes[9...]) == [.retire(reason: "max_requests")])
        #expect(reader.feed(Array("hello\nready\n".utf8)) == [.ready])
        #expect(reader.takeRejected() == ["hello"])
        #expect(reader.takeRejected().isEmpty)
    }

    @Test func reservedExitCodes() {
        #expect(WorkerExit.bootFailed.code == 3)
        #expect(WorkerExit.appLoadFailed.code == 4)
        #expect(WorkerExit(code: 0) == nil)
        #expect(WorkerExit(code: 1) == nil)
        #expect(WorkerExit(code: 4) == .appLoadFailed)
    }
}
