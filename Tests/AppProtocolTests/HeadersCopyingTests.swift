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
            // One span from the first name to the last value, separators included.
            #expect(headers.storage.count == 47 - 16)
            #expect(headers["accept"] == "*/*")
        }
    }

    @Test func fieldsOutOfOrderOrApartAreCopiedOneByOne() {
        let bytes = Array("Hostaxyz-Acceptb".utf8)
        bytes.withUnsafeBufferPointer { buffer in
            // The second field before the first: not one span in order.
            let reversed = Self.views(buffer, [(9, 6, 15, 1), (0, 4, 4, 1)])
            let headers = reversed.withUnsafeBufferPointer { Headers.copying($0) }
            #expect(Self.pairs(headers) == ["Accept=b", "Host=a"])
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
}
