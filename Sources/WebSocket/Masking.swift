/// The client-to-server masking transform (RFC 6455 §5.3): payload byte i is XORed with key byte i % 4.
///
/// Unmasking touches every received byte, so it works eight bytes at a time with the key widened
/// to 64 bits; the transform is its own inverse, so the same call masks.
enum Masking {
    /// XORs `bytes` with the four-byte `key`, where `bytes` starts at payload offset `offset`
    /// (a payload may be unmasked in pieces as it arrives).
    static func apply(key: [UInt8], offset: Int, to bytes: UnsafeMutableRawBufferPointer) {
        precondition(key.count == 4, "a masking key has four bytes")
        let shift = offset & 3
        // The key rotated to start at `offset`, widened in memory order so the word XOR matches
        // byte order on any endianness.
        var key32: UInt32 = 0
        withUnsafeMutableBytes(of: &key32) { word in
            for index in 0..<4 { word[index] = key[(index + shift) & 3] }
        }
        let key64 = UInt64(key32) | (UInt64(key32) << 32)
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ key64
            bytes.storeBytes(of: word, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < count {
            bytes[index] ^= key[(index + shift) & 3]
            index += 1
        }
    }
}
