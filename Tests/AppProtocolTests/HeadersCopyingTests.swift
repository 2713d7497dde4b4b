@testable import AppProtocol
import ArbiterABI
import Testing

/// `Headers.copying`: a request's C field views become the application's headers, in one copy when
/// they lie in order in one buffer (as arbiter passes them), field by field otherwise.
@Suite struct HeadersCopyingTests {
    /// Views of `pairs` as offsets into `buffer`: (name start, name length, value start, value length).
    static func views(_ buffer: UnsafeBufferPointer<UInt8>, _ spans: [(Int, Int, Int, Int)]) -> [arbiter_header] {
        spans.map { span in
            arbiter_header(name: arbiter_bytes(base: buffer.baseAddress! + span.0, length: span.1),
                           value: arbiter_bytes(base: buffer.baseAddress! + span.2, length: span.3))
        }
    }

    static func pairs(_ headers: Headers) -> [String] { headers.map { "\($0.name)=\($0.value)" } }

    @Test func fieldsInOrderInOneBufferAreCopiedAsOneSpan() {
        let head = Array("GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Empty: \r\n".utf8)
        head.withUnsafeBufferPointer { buffer in
            let fields = Self.views(buffer, [(16, 4, 22, 1), (25, 6, 33, 3), (38, 7, 47, 0)])
            let headers = fields.withUnsafeBufferPointer { Headers.copying($0) }
            #expect(Self.pairs(headers) == ["Host=a", "Accept=*/*", "X-Empty="])
            // One span from the first name to the last value, separators included, in one object
            // with the offsets.
            #expect(headers.received?.withParts { bytes, _ in bytes.count } == 47 - 16)
            #expect(headers.storage.isEmpty && headers.entries.isEmpty)
            #expect(headers["accept"] == "*/*")
            #expect(headers.values(for: "HOST") == ["a"])
            #expect(headers.contains("x-empty") && !headers.contains("x-other"))
            #expect(headers.count == 3)
        }
    }

    @Test func fieldsOutOfOrderOrApartAreCopiedOneByOne() {
        let bytes = Array("Hostaxyz-Acceptb".utf8)
        bytes.withUnsafeBufferPointer { buffer in
            // The second field before the first: not one span in order.
            let reversed = Self.views(buffer, [(9, 6, 15, 1), (0, 4, 4, 1)])
            let headers = reversed.withUnsafeBufferPointer { Headers.copying($0) }
            #expect(Self.pairs(headers) == ["Accept=b", "Host=a"])
            #expect(headers.received == nil)
            #expect(headers.storage.count == 6 + 1 + 4 + 1)
            // A value before its name.
            let odd = Self.views(buffer, [(9, 6, 4, 1)])
            #expect(Self.pairs(odd.withUnsafeBufferPointer { Headers.copying($0) }) == ["Accept=a"])
        }
    }

    @Test func noFieldsAndMissingBytes() {
        #expect(Headers.copying(UnsafeBufferPointer(start: nil, count: 0)).isEmpty)
        let bytes = Array("Name".utf8)
        bytes.withUnsafeBufferPointer { buffer in
            let fields = [arbiter_header(name: arbiter_bytes(base: buffer.baseAddress, length: 4), value: arbiter_bytes(base: nil, length: 0))]
            #expect(Self.pairs(fields.withUnsafeBufferPointer { Headers.copying($0) }) == ["Name="])
        }
    }

    /// Received fields are a value like any other: changing a copy copies them first, in order,
    /// and leaves the original (and other copies sharing its object) as they were.
    @Test func changingReceivedFieldsChangesOnlyThatCopy() {
        let head = Array("Host: a\r\nAccept: */*\r\nCookie: x=1\r\n".utf8)
        head.withUnsafeBufferPointer { buffer in
            let fields = Self.views(buffer, [(0, 4, 6, 1), (9, 6, 17, 3), (22, 6, 30, 3)])
            let original = fields.withUnsafeBufferPointer { Headers.copying($0) }
            var added = original
            added.add("Cookie", "y=2")
            var removed = original
            removed.remove("accept")
            var unchanged = original
            unchanged.remove("x-absent")
            var replaced = original
            replaced["host"] = "b"
            #expect(Self.pairs(original) == ["Host=a", "Accept=*/*", "Cookie=x=1"])
            #expect(Self.pairs(added) == ["Host=a", "Accept=*/*", "Cookie=x=1", "Cookie=y=2"])
            #expect(added.values(for: "cookie") == ["x=1", "y=2"])
            #expect(Self.pairs(removed) == ["Host=a", "Cookie=x=1"])
            #expect(Self.pairs(replaced) == ["Accept=*/*", "Cookie=x=1", "host=b"])
            // Removing a name that is not there changes nothing, and copies nothing.
            #expect(unchanged.received != nil && Self.pairs(unchanged) == Self.pairs(original))
            #expect(added.received == nil && original.received != nil)
        }
    }
}
