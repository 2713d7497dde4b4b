@testable import WebSocket
import Testing
import TestSupport

@Suite struct UTF8ValidatorTests {
    @Test func validText() {
        for text in ["", "hello", "κόσμε", "日本語テキスト", "🎉 emoji 🎉", "\u{7F}\u{80}\u{7FF}\u{800}\u{FFFF}\u{10000}\u{10FFFF}", String(repeating: "ascii", count: 50)] {
            #expect(UTF8Validator.isValid(Array(text.utf8)), "\(text)")
        }
    }

    @Test func invalidSequences() {
        let invalid: [[UInt8]] = [
            [0x80], [0xBF], [0xC0, 0x80], [0xC1, 0xBF], // stray continuation, overlong 2-byte
            [0xE0, 0x80, 0x80], [0xE0, 0x9F, 0xBF], // overlong 3-byte
            [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF], // surrogates
            [0xF0, 0x80, 0x80, 0x80], [0xF0, 0x8F, 0xBF, 0xBF], // overlong 4-byte
            [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE], // above U+10FFFF
            [0xCE, 0xBA, 0xE1, 0xBD], // truncated at the end
            [0xC2, 0x41], [0xE2, 0x82, 0x41], // missing continuation
            Array("aaaaaaaaaaaaaaa".utf8) + [0xC3, 0x28] + Array("aaaaaaaa".utf8),
        ]
        for bytes in invalid {
            #expect(!UTF8Validator.isValid(bytes), "\(bytes)")
        }
    }

    @Test func everySplitOfEveryCodePointLength() {
        let text = Array("a€𝄞bκ\u{10FFFF}z-0123456789abcdef".utf8)
        for split in 0...text.count {
            var validator = UTF8Validator()
            let first = validator.feed(Array(text[..<split]))
            #expect(first)
            #expect(validator.isAtBoundary == (String(validating: text[..<split], as: UTF8.self) != nil))
            let second = validator.feed(Array(text[split...]))
            #expect(second)
            #expect(validator.isAtBoundary)
        }
        // An invalid byte is found wherever the split falls.
        let bad = Array("abc€".utf8) + [0xED, 0xA0, 0x80] + Array("tail".utf8)
        for split in 0...bad.count {
            var validator = UTF8Validator()
            let ok = validator.feed(Array(bad[..<split])) && validator.feed(Array(bad[split...]))
            #expect(!ok, "split \(split)")
        }
    }

    @Test func agreesWithTheStandardLibraryOnRandomBytes() {
        var generator = SplitMix(seed: 42)
        for _ in 0..<2000 {
            let count = Int(generator.next() % 24)
            let bytes = (0..<count).map { _ in
                let r = generator.next()
                // Bias towards the interesting bytes.
                return r % 3 == 0 ? UInt8(truncatingIfNeeded: r >> 8) : [0xC2, 0xE0, 0xED, 0xF0, 0xF4, 0x80, 0xBF, 0x9F, 0x41][Int(r >> 8 % 9)]
            }
            #expect(UTF8Validator.isValid(bytes) == (String(validating: bytes, as: UTF8.self) != nil), "\(bytes)")
        }
    }
}
