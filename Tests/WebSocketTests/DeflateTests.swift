@testable import WebSocket
import Testing
import TestSupport

/// Inflates whole messages with a fresh or shared inflater.
func inflateMessage(_ inflater: Inflater, _ frames: [[UInt8]], limit: Int = 1 << 20) throws(ProtocolError) -> [UInt8] {
    var output: [UInt8] = []
    for frame in frames { try inflater.inflate(frame, into: &output, limit: limit) }
    try inflater.finishMessage(into: &output, limit: limit)
    return output
}

@Suite(.enabled(if: Zlib.unavailableReason == nil, "libz.so.1 is not loadable"))
struct DeflateTests {
    let hello = Array("Hello".utf8)

    @Test func rfc7692Examples() throws {
        let inflater = try Inflater(windowBits: 15, noContextTakeover: false)
        // §7.2.3.1: "Hello" in one frame and in two fragments.
        #expect(try inflateMessage(inflater, [[0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]]) == hello)
        let fresh = try Inflater(windowBits: 15, noContextTakeover: false)
        #expect(try inflateMessage(fresh, [[0xF2, 0x48, 0xCD], [0xC9, 0xC9, 0x07, 0x00]]) == hello)
        // §7.2.3.2: the second "Hello" refers back into the first message's window.
        #expect(try inflateMessage(fresh, [[0xF2, 0x00, 0x11, 0x00, 0x00]]) == hello)
        // §7.2.3.3: a block with BFINAL set; the stream restarts with the next message.
        let final = try Inflater(windowBits: 15, noContextTakeover: false)
        #expect(try inflateMessage(final, [[0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00]]) == hello)
        #expect(try inflateMessage(final, [[0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00]]) == hello)
        // §7.2.3.4: a stored (uncompressed) block.
        #expect(try inflateMessage(inflater, [[0x00, 0x05, 0x00, 0xFA, 0xFF, 0x48, 0x65, 0x6C, 0x6C, 0x6F, 0x00]]) == hello)
        // §7.2.3.5: two blocks in one message.
        #expect(try inflateMessage(inflater, [[0xF2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xCA, 0xC9, 0xC9, 0x07, 0x00]]) == hello)
        // §7.2.3.6: an empty message.
        #expect(try inflateMessage(inflater, [[0x00]]) == [])
        #expect(try inflateMessage(inflater, [[]]) == [])
    }

    @Test func deflaterProducesTheRFCBytes() throws {
        let deflater = try Deflater(windowBits: 15, level: 6, noContextTakeover: false)
        #expect(try deflater.compress(hello) == [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        #expect(try deflater.compress(hello) == [0xF2, 0x00, 0x11, 0x00, 0x00]) // §7.2.3.2
        let resetting = try Deflater(windowBits: 15, level: 6, noContextTakeover: true)
        #expect(try resetting.compress(hello) == [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        #expect(try resetting.compress(hello) == [0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
    }

    @Test(arguments: [false, true], [9, 12, 15])
    func roundTrip(noContextTakeover: Bool, windowBits: Int) throws {
        let deflater = try Deflater(windowBits: windowBits, level: 6, noContextTakeover: noContextTakeover)
        let inflater = try Inflater(windowBits: windowBits, noContextTakeover: noContextTakeover)
        var generator = SplitMix(seed: UInt64(windowBits))
        let words = ["alpha", "beta", "gamma", "delta", " ", "\n", "{\"key\": 12}"]
        var previousSize = Int.max
        for round in 0..<6 {
            let text = (0..<(round * 700 + 1)).map { _ in words[Int(generator.next() % UInt64(words.count))] }.joined()
            let message = round == 3 ? (0..<70000).map { _ in UInt8(truncatingIfNeeded: generator.next()) } : Array(text.utf8)
            let compressed = try deflater.compress(message)
            #expect(try inflateMessage(inflater, [compressed]) == message)
            // Sent twice: with context takeover the repeat is all back-references into the window
            // (at most 258 bytes each, RFC 1951 §3.2.5), far smaller than the first copy.
            let again = try deflater.compress(message)
            #expect(try inflateMessage(inflater, [again]) == message)
            if !noContextTakeover && message.count > 1000 && round != 3 && windowBits == 15 { #expect(again.count * 4 < compressed.count) }
            if noContextTakeover { #expect(again == compressed) }
            previousSize = compressed.count
        }
        #expect(previousSize > 0)
    }

    @Test func decompressionBombStopsAtTheLimit() throws {
        let deflater = try Deflater(windowBits: 15, level: 9, noContextTakeover: true)
        let bomb = try deflater.compress([UInt8](repeating: 0, count: 64 << 20))
        #expect(bomb.count < 128 << 10)
        let inflater = try Inflater(windowBits: 15, noContextTakeover: false)
        var output: [UInt8] = []
        #expect(throws: ProtocolError.tooBig("inflated message over 1048576 bytes")) {
            try inflater.inflate(bomb, into: &output, limit: 1 << 20)
        }
        #expect(output.count <= 1 << 20)
    }

    @Test func corruptDataIs1007() throws {
        let inflater = try Inflater(windowBits: 15, noContextTakeover: false)
        var output: [UInt8] = []
        do {
            try inflater.inflate([0xFF, 0xFF, 0xFF, 0xFF], into: &output, limit: 1000)
            try inflater.finishMessage(into: &output, limit: 1000)
            Issue.record("corrupt data inflated")
        } catch {
            #expect(error.code == .invalidPayloadData)
        }
    }
}
