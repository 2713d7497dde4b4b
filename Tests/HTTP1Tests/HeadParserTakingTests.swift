@testable import HTTP1
import Testing

/// `HeadParser.parse(taking:)`: a connection's input that holds exactly one head becomes the head's
/// bytes, and anything else is parsed from a copy with the input left as it was.
@Suite struct HeadParserTakingTests {
    static let one = "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"

    @Test func aWholeInputBecomesTheHead() throws {
        var parser = HeadParser()
        var input: [UInt8] = []
        input.append(contentsOf: Self.one.utf8)
        let capacity = input.capacity
        guard case .complete(let head, let consumed) = parser.parse(taking: &input) else {
            Issue.record("not complete")
            return
        }
        #expect(input.isEmpty && input.capacity == 0)
        #expect(consumed == Self.one.utf8.count)
        #expect(head.bytes.capacity == capacity)  // the same storage, not a copy
        #expect(head.target == "/a?b=1")
        #expect(head.field("host") == "example.com")
        #expect(head.field("accept") == "*/*")
        #expect(head.fields.count == 2)
    }

    @Test func pipelinedInputIsCopiedAndKept() throws {
        var parser = HeadParser()
        let raw = Array((Self.one + "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n").utf8)
        var input = raw
        guard case .complete(let head, let consumed) = parser.parse(taking: &input) else {
            Issue.record("not complete")
            return
        }
        #expect(input == raw)
        #expect(consumed == Self.one.utf8.count)
        #expect(head.target == "/a?b=1")
        #expect(head.fields.count == 2)
    }

    @Test func leadingEmptyLinesAndSpareRoomAreCopied() throws {
        var parser = HeadParser()
        var input = Array(("\r\n" + Self.one).utf8)
        guard case .complete(let head, _) = parser.parse(taking: &input) else { Issue.record("not complete"); return }
        #expect(input.count == Self.one.utf8.count + 2)
        #expect(head.target == "/a?b=1")

        var roomy: [UInt8] = []
        roomy.reserveCapacity(4096)  // a buffer with room to spare is not kept for a request's lifetime
        roomy.append(contentsOf: Self.one.utf8)
        guard case .complete(let other, _) = parser.parse(taking: &roomy) else { Issue.record("not complete"); return }
        #expect(roomy.count == Self.one.utf8.count)
        #expect(other.bytes.capacity < 4096)
    }

    @Test func aRefusedHeadLeavesTheInput() {
        var parser = HeadParser()
        let raw = Array("GET / HTTP/1.1\r\nHost: a b\r\n\r\n".utf8)
        var input = raw
        guard case .failure(let error) = parser.parse(taking: &input) else { Issue.record("not refused"); return }
        #expect(error.status == 400)
        #expect(input == raw)
    }

    @Test func incompleteInputStays() {
        var parser = HeadParser()
        var input = Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)
        guard case .incomplete = parser.parse(taking: &input) else { Issue.record("not incomplete"); return }
        #expect(input.count == 25)
    }

    @Test func fieldOffsetsRoundTrip() {
        let field = RequestHead.Field(name: 3..<70_000, value: 70_002..<1_000_000)
        #expect(field.name == 3..<70_000)
        #expect(field.value == 70_002..<1_000_000)
        #expect(MemoryLayout<RequestHead.Field>.size == 16)
    }

    @Test func headSizeStaysBoundedHoweverLargeTheLimits() {
        #expect(Limits(requestLine: .max, fields: .max, fieldSize: .max).maxHeadSize == Limits.headCeiling)
        #expect(Limits(requestLine: 100, fields: 40_000, fieldSize: 1 << 20).maxHeadSize == Limits.headCeiling)
        #expect(Limits().maxHeadSize == 4094 + 2 + 100 * 8192 + 2)
    }
}
