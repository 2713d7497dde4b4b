/// Base64 with the standard alphabet and padding (RFC 4648 §4), for the handshake's key and accept
/// values (RFC 6455 §4.1, §4.2.2).
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let b0 = bytes[index]
            let b1 = index + 1 < bytes.count ? bytes[index + 1] : 0
            let b2 = index + 2 < bytes.count ? bytes[index + 2] : 0
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            out.append(index + 1 < bytes.count ? alphabet[Int((b1 & 0x0F) << 2 | b2 >> 6)] : UInt8(ascii: "="))
            out.append(index + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "="))
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes canonical base64: length a multiple of 4, padding only at the end, and unused bits
    /// zero (RFC 4648 §3.5), so each value has exactly one accepted spelling. Nil otherwise.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3)
        for group in stride(from: 0, to: chars.count, by: 4) {
            let last = group + 4 == chars.count
            var values: [UInt8] = []
            var padding = 0
            for offset in 0..<4 {
                let char = chars[group + offset]
                if char == UInt8(ascii: "=") {
                    // Padding: only in the last group, only in its last two places, and only trailing.
                    guard last, offset >= 2 else { return nil }
                    padding += 1
                    continue
                }
                guard padding == 0, let value = Self.value(of: char) else { return nil }
                values.append(value)
            }
            out.append(values[0] << 2 | values[1] >> 4)
            switch padding {
            case 0:
                out.append((values[1] & 0x0F) << 4 | values[2] >> 2)
                out.append((values[2] & 0x03) << 6 | values[3])
            case 1:
                guard values[2] & 0x03 == 0 else { return nil }
                out.append((values[1] & 0x0F) << 4 | values[2] >> 2)
            default:
                guard values[1] & 0x0F == 0 else { return nil }
            }
        }
        return out
    }

    private static func value(of char: UInt8) -> UInt8? {
        switch char {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return char - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return char - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return char - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}
