@testable import HTTP1
import Testing

/// A parsed head is one object holding its fields' offsets and a copy of its bytes: the buffer it
/// was parsed from can be reused at once (a connection keeps its input buffer for the next request).
@Suite struct HeadStorageTests {
    static let one = "GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"

    @Test func aHeadHoldsACopyOfItsBytesAndItsFields() throws {
        var parser = HeadParser()
        var input = Array(Self.one.utf8)
        guard case .complete(let head, let consumed) = parser.parse(input) else {
            Issue.record("not complete")
            return
        }
        #expect(consumed == Self.one.utf8.count)
        // The buffer is overwritten: the head does not depend on it.
        for i in input.indices { input[i] = UInt8(ascii: "x") }
        #expect(head.target == "/a?b=1")
        #expect(head.isMethod("GET") && !head.isMethod("GE") && !head.isMethod("PUT"))
        #expect(head.field("host") == "example.com")
        #expect(head.field("ACCEPT") == "*/*")
        #expect(head.field("missing") == nil)
        #expect(head.fields.count == 2)
        #expect(Array(head.bytes) == Array(Self.one.utf8.dropLast(2)))  // without the empty line
        #expect(head.headers.map { $0.0 } == ["Host", "Accept"])
        head.withBytes { bytes in
            #expect(String(decoding: UnsafeBufferPointer(rebasing: bytes[head.fields[1].value]), as: UTF8.self) == "*/*")
        }
    }

    @Test func aPipelinedHeadTakesOnlyItsOwnBytes() throws {
        var parser = HeadParser()
        let raw = Array((Self.one + "GET /2 HTTP/1.1\r\nHost: a\r\n\r\n").utf8)
        guard case .complete(let head, let consumed) = parser.parse(raw) else {
            Issue.record("not complete")
            return
        }
        #expect(consumed == Self.one.utf8.count)
        #expect(head.bytes.count == Self.one.utf8.count - 2)
        #expect(head.target == "/a?b=1")
        #expect(head.fields.count == 2)
    }

    @Test func leadingEmptyLinesAreNotPartOfTheHead() throws {
        var parser = HeadParser()
        guard case .complete(let head, let consumed) = parser.parse(Array(("\r\n" + Self.one).utf8)) else {
            Issue.record("not complete")
            return
        }
        #expect(consumed == Self.one.utf8.count + 2)
        #expect(head.bytes.first == UInt8(ascii: "G"))
        #expect(head.target == "/a?b=1")
    }

    @Test func droppedFieldsLeaveNoHoles() throws {
        var parser = HeadParser()
        let raw = Array("GET / HTTP/1.1\r\nX_Dropped: 1\r\nHost: a\r\nX_Also: 2\r\nAccept: b\r\n\r\n".utf8)
        guard case .complete(let head, _) = parser.parse(raw) else { Issue.record("not complete"); return }
        #expect(head.fields.count == 2)
        #expect(head.headers.map { $0.0 } == ["Host", "Accept"])
    }

    @Test func anAbsoluteFormTargetNamesTheHostInTheAddedRoom() throws {
        var parser = HeadParser()
        // HTTP/1.0 without Host: the field is added, its name stored after the head's bytes.
        guard case .complete(let head, _) = parser.parse(Array("GET http://example.com:8080/p?q HTTP/1.0\r\nAccept: b\r\n\r\n".utf8)) else {
            Issue.record("not complete")
            return
        }
        #expect(head.fields.count == 2)
        #expect(head.field("host") == "example.com:8080")
        #expect(head.bytes.suffix(4).elementsEqual("host".utf8))
        // With a Host field, its value becomes the target's authority.
        guard case .complete(let other, _) = parser.parse(Array("GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n".utf8)) else {
            Issue.record("not complete")
            return
        }
        #expect(other.fields.count == 1)
        #expect(other.field("Host") == "a.example")
    }

    @Test func incompleteAndRefusedInputGivesNoHead() {
        var parser = HeadParser()
        guard case .incomplete = parser.parse(Array("GET / HTTP/1.1\r\nHost: a\r\n".utf8)) else { Issue.record("not incomplete"); return }
        parser.reset()
        guard case .failure(let error) = parser.parse(Array("GET / HTTP/1.1\r\nHost: a b\r\n\r\n".utf8)) else {
            Issue.record("not refused")
            return
        }
        #expect(error.status == 400)
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
