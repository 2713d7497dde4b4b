/// Encodes frames for the wire (RFC 6455 §5.2): server frames go out unmasked (§5.1).
public enum FrameEncoder {
    /// The header bytes for a frame of `payloadLength` bytes, with the minimal length encoding (§5.2).
    /// `maskingKey`, four bytes, is for client-side use and tests; a server passes nil.
    /// Control frames must be unfragmented and at most 125 bytes (§5.5); that is the caller's duty,
    /// so tests can build the violations a decoder must refuse.
    public static func header(fin: Bool, rsv1: Bool, opcode: Opcode, payloadLength: Int, maskingKey: [UInt8]? = nil) -> [UInt8] {
        precondition(payloadLength >= 0, "negative payload length")
        var header: [UInt8] = []
        header.reserveCapacity(14)
        header.append((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode.rawValue)
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        switch payloadLength {
        case 0...125:
            header.append(maskBit | UInt8(payloadLength))
        case 126...0xFFFF:
            header.append(maskBit | 126)
            header.append(UInt8(payloadLength >> 8))
            header.append(UInt8(payloadLength & 0xFF))
        default:
            header.append(maskBit | 127)
            let length = UInt64(payloadLength)
            for shift in stride(from: 56, through: 0, by: -8) { header.append(UInt8(truncatingIfNeeded: length >> UInt64(shift))) }
        }
        if let maskingKey {
            precondition(maskingKey.count == 4, "a masking key has four bytes")
            header += maskingKey
        }
        return header
    }

    /// One whole frame: header then payload (masked when `maskingKey` is given).
    public static func encode(_ frame: Frame, maskingKey: [UInt8]? = nil) -> [UInt8] {
        var bytes = header(fin: frame.fin, rsv1: frame.rsv1, opcode: frame.opcode, payloadLength: frame.payload.count, maskingKey: maskingKey)
        let headerSize = bytes.count
        bytes += frame.payload
        if let maskingKey {
            bytes.withUnsafeMutableBytes { Masking.apply(key: maskingKey, offset: 0, to: UnsafeMutableRawBufferPointer(rebasing: $0[headerSize...])) }
        }
        return bytes
    }

    /// A data message as frames of at most `fragmentSize` payload bytes each (§5.4); the first
    /// carries the opcode and `rsv1`, the rest are continuations, the last has FIN.
    /// `fragmentSize` nil or not smaller than the payload gives a single frame.
    public static func encodeMessage(opcode: Opcode, payload: [UInt8], rsv1: Bool = false, fragmentSize: Int? = nil) -> [UInt8] {
        precondition(opcode == .text || opcode == .binary, "messages are text or binary")
        guard let fragmentSize, fragmentSize > 0, payload.count > fragmentSize else {
            return encode(Frame(fin: true, rsv1: rsv1, opcode: opcode, payload: payload))
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(payload.count + (payload.count / fragmentSize + 1) * 10)
        var offset = 0
        while offset < payload.count {
            let end = min(offset + fragmentSize, payload.count)
            let first = offset == 0
            bytes += header(fin: end == payload.count, rsv1: first && rsv1, opcode: first ? opcode : .continuation, payloadLength: end - offset)
            bytes += payload[offset..<end]
            offset = end
        }
        return bytes
    }

    /// A close frame's payload: the code in network order, then the UTF-8 reason (§5.5.1).
    /// The reason is cut at a character boundary so the payload stays within 125 bytes.
    public static func closePayload(code: CloseCode?, reason: String = "") -> [UInt8] {
        guard let code else { return [] }
        var payload: [UInt8] = [UInt8(code.rawValue >> 8), UInt8(code.rawValue & 0xFF)]
        var budget = 123
        for scalar in reason.unicodeScalars {
            let encoded = Array(String(scalar).utf8)
            if encoded.count > budget { break }
            budget -= encoded.count
            payload += encoded
        }
        return payload
    }
}
