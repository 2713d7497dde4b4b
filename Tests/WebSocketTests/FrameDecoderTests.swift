@testable import WebSocket
import Testing

@Suite struct FrameDecoderTests {
    @Test func rfcExamples() throws {
        // RFC 6455 §5.7: a single-frame masked text message "Hello".
        let masked: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        let frames = try decodeAll(masked).get()
        #expect(frames == [Frame(opcode: .text, payload: Array("Hello".utf8))])
        #expect(clientText("Hello") == masked)
        // Unmasked frames as a server sends them, including the fragmented "Hel" + "lo".
        #expect(FrameEncoder.encode(Frame(opcode: .text, payload: Array("Hello".utf8))) == [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
        #expect(FrameEncoder.encodeMessage(opcode: .text, payload: Array("Hello".utf8), fragmentSize: 3)
            == [0x01, 0x03, 0x48, 0x65, 0x6C, 0x80, 0x02, 0x6C, 0x6F])
        // 256 and 65536 byte binary messages: the 16- and 64-bit length forms.
        #expect(FrameEncoder.header(fin: true, rsv1: false, opcode: .binary, payloadLength: 256) == [0x82, 0x7E, 0x01, 0x00])
        #expect(FrameEncoder.header(fin: true, rsv1: false, opcode: .binary, payloadLength: 65536) == [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0])
    }

    @Test func everyByteSplit() throws {
        let stream = clientText("Hello, world", fin: false) + clientFrame(.ping, [1, 2, 3]) + clientFrame(.continuation, Array("!".utf8))
            + clientFrame(.binary, [UInt8](repeating: 7, count: 300)) + clientFrame(.close, [0x03, 0xE8])
        let whole = try decodeAll(stream).get()
        #expect(whole.count == 5)
        for split in 0...stream.count {
            var decoder = FrameDecoder(configuration: .init())
            var frames: [Frame] = []
            decoder.append(stream[..<split])
            while let frame = try decoder.nextFrame() { frames.append(frame) }
            decoder.append(stream[split...])
            while let frame = try decoder.nextFrame() { frames.append(frame) }
            #expect(frames == whole, "split at \(split)")
            #expect(decoder.bufferedByteCount == 0)
        }
        // And byte by byte.
        var decoder = FrameDecoder(configuration: .init())
        var frames: [Frame] = []
        for byte in stream {
            decoder.append([byte])
            while let frame = try decoder.nextFrame() { frames.append(frame) }
        }
        #expect(frames == whole)
    }

    @Test(arguments: [0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 1 << 20])
    func lengths(_ length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let bytes = clientFrame(.binary, payload, key: [0xA1, 0xB2, 0xC3, 0xD4])
        let expectedHeader = length <= 125 ? 6 : length <= 65535 ? 8 : 14
        #expect(bytes.count == expectedHeader + length)
        let frames = try decodeAll(bytes, configuration: .init(maxMessageSize: 1 << 20)).get()
        #expect(frames == [Frame(opcode: .binary, payload: payload)])
        // A server frame of the same length, as a client reads it.
        #expect(serverFrames(FrameEncoder.encode(Frame(opcode: .binary, payload: payload))) == [Frame(opcode: .binary, payload: payload)])
    }

    @Test func unmaskingAtEveryOffset() {
        let key: [UInt8] = [0x01, 0x80, 0xFF, 0x5A]
        let data = (0..<67).map { UInt8($0 * 3 & 0xFF) }
        for offset in 0..<8 {
            for count in 0..<(data.count - offset) {
                var bytes = Array(data[offset..<(offset + count)])
                bytes.withUnsafeMutableBytes { Masking.apply(key: key, offset: offset, to: $0) }
                let expected = (0..<count).map { data[offset + $0] ^ key[(offset + $0) % 4] }
                #expect(bytes == expected, "offset \(offset) count \(count)")
            }
        }
    }

    @Test func violations() {
        let text = Array("x".utf8)
        let cases: [([UInt8], UInt16, String)] = [
            (FrameEncoder.encode(Frame(opcode: .text, payload: text)), 1002, "unmasked client frame"),
            (clientFrame(.text, text).replacing(0, with: 0x83), 1002, "reserved data opcode 3"),
            (clientFrame(.text, text).replacing(0, with: 0x8B), 1002, "reserved control opcode B"),
            (clientFrame(.text, text).replacing(0, with: 0xA1), 1002, "RSV2"),
            (clientFrame(.text, text).replacing(0, with: 0x91), 1002, "RSV3"),
            (clientFrame(.text, text, rsv1: true), 1002, "RSV1 without permessage-deflate"),
            (clientFrame(.ping, [], fin: false), 1002, "fragmented ping"),
            (clientFrame(.close, [0x03, 0xE8], fin: false), 1002, "fragmented close"),
            ([0x89, 0xFE, 0x00, 0x7E] + [0, 0, 0, 0] + [UInt8](repeating: 0, count: 126), 1002, "126-byte ping"),
            (clientFrame(.continuation, text), 1002, "continuation without a start"),
            (clientText("a", fin: false) + clientText("b"), 1002, "new text inside a fragmented message"),
            (clientText("a", fin: false) + clientFrame(.binary, [1]), 1002, "new binary inside a fragmented message"),
            ([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0], 1002, "64-bit length with the high bit"),
            ([0x82, 0xFE, 0x00, 0x7D], 1002, "non-minimal 16-bit length"),
            ([0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], 1002, "non-minimal 64-bit length"),
            ([0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0], 1009, "4 GiB frame over the limit"),
        ]
        for (bytes, code, name) in cases {
            #expect(failureCode(bytes) == code, "\(name)")
        }
        // RSV1 is fine on a first data frame with permessage-deflate, never on control or continuation frames.
        let compressed = FrameDecoder.Configuration(compressionNegotiated: true)
        #expect(failureCode(clientFrame(.text, text, rsv1: true), configuration: compressed) == nil)
        #expect(failureCode(clientFrame(.ping, [], rsv1: true), configuration: compressed) == 1002)
        #expect(failureCode(clientFrame(.binary, [1], fin: false, rsv1: true) + clientFrame(.continuation, [2], rsv1: true), configuration: compressed) == 1002)
        // A server-side decoder (client role) refuses masked frames.
        #expect(failureCode(clientText("a"), configuration: .init(requireMasking: false)) == 1002)
    }

    @Test func failsOnTheHeaderBeforeThePayloadArrives() {
        var decoder = FrameDecoder(configuration: .init(maxMessageSize: 1000))
        decoder.append(FrameEncoder.header(fin: true, rsv1: false, opcode: .binary, payloadLength: 1001, maskingKey: [1, 2, 3, 4]))
        #expect(throws: ProtocolError.self) { _ = try decoder.nextFrame() }
        // The decoder stays failed.
        decoder.append([0x81, 0x80, 0, 0, 0, 0])
        #expect(throws: ProtocolError.self) { _ = try decoder.nextFrame() }
    }

    @Test func messageLimitCountsAllFragments() {
        let configuration = FrameDecoder.Configuration(maxMessageSize: 10)
        #expect(failureCode(clientFrame(.binary, [UInt8](repeating: 0, count: 10)), configuration: configuration) == nil)
        #expect(failureCode(clientFrame(.binary, [UInt8](repeating: 0, count: 11)), configuration: configuration) == 1009)
        let fragments = clientFrame(.binary, [UInt8](repeating: 0, count: 6), fin: false) + clientFrame(.continuation, [UInt8](repeating: 0, count: 5))
        #expect(failureCode(fragments, configuration: configuration) == 1009)
        // Control frames inside do not count, and the limit starts over with the next message.
        let fine = clientFrame(.binary, [UInt8](repeating: 0, count: 5), fin: false) + clientFrame(.ping, [UInt8](repeating: 0, count: 100))
            + clientFrame(.continuation, [UInt8](repeating: 0, count: 5)) + clientFrame(.binary, [UInt8](repeating: 0, count: 10))
        #expect(failureCode(fine, configuration: configuration) == nil)
    }

    @Test func controlFramesMayInterleaveFragments() throws {
        let bytes = clientText("He", fin: false) + clientFrame(.ping, [9]) + clientFrame(.continuation, Array("l".utf8), fin: false)
            + clientFrame(.pong, []) + clientFrame(.continuation, Array("lo".utf8))
        let frames = try decodeAll(bytes).get()
        #expect(frames.map(\.opcode) == [.text, .ping, .continuation, .pong, .continuation])
        #expect(frames.map(\.fin) == [false, true, false, true, true])
    }
}

extension [UInt8] {
    func replacing(_ index: Int, with byte: UInt8) -> [UInt8] {
        var copy = self
        copy[index] = byte
        return copy
    }
}
