import CZlib

/// Compresses outgoing messages for permessage-deflate (RFC 7692 §7.2.1).
///
/// Owned by one connection, whose thread is the only one to use it (`@unchecked Sendable` only so
/// the connection can move between threads); it is a class because zlib keeps a
/// pointer to the stream, which must therefore never move.
public final class Deflater: @unchecked Sendable {
    private let stream: UnsafeMutablePointer<czlib_stream>
    /// Reset after every message when context takeover is off (§7.1.1.1).
    private let noContextTakeover: Bool

    /// A raw-deflate compressor with a `windowBits` window (9–15), or a `ProtocolError` (1011)
    /// when zlib is unavailable or refuses.
    public init(windowBits: Int, level: Int, noContextTakeover: Bool) throws(ProtocolError) {
        precondition((9...15).contains(windowBits), "raw deflate windows are 9–15 bits")
        if let reason = Zlib.unavailableReason { throw ProtocolError(.internalError, "zlib unavailable: \(reason)") }
        stream = .allocate(capacity: 1)
        stream.initialize(to: czlib_stream())
        self.noContextTakeover = noContextTakeover
        // Negative window bits select raw deflate, without zlib header and trailer (RFC 7692 §7.2.1).
        // zlib's state costs 2^(windowBits+2) + 2^(memLevel+9) bytes: the memory level follows the
        // window (8 for 15 bits, 5 for 12), so a smaller window really costs less.
        let memoryLevel = Int32(max(1, min(8, windowBits - 7)))
        let status = Int(czlib_deflate_init(stream, Int32(level), -Int32(windowBits), memoryLevel))
        guard status == CZLIB_OK else {
            stream.deallocate()
            throw ProtocolError(.internalError, "deflateInit2 failed (\(status))")
        }
    }

    deinit {
        _ = czlib_deflate_end(stream)
        stream.deallocate()
    }

    /// One message's payload, compressed and sync-flushed, with the trailing 00 00 FF FF removed.
    public func compress(_ message: [UInt8]) throws(ProtocolError) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(message.count / 2 + 64)
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        var failure: Int?
        message.withUnsafeBufferPointer { input in
            stream.pointee.next_in = input.baseAddress
            stream.pointee.avail_in = UInt32(input.count)
            // Z_SYNC_FLUSH ends on a byte boundary with an empty stored block (RFC 7692 §7.2.1);
            // the flush is complete when deflate leaves output space unused.
            repeat {
                let status = chunk.withUnsafeMutableBufferPointer { out -> Int in
                    stream.pointee.next_out = out.baseAddress
                    stream.pointee.avail_out = UInt32(out.count)
                    return Int(czlib_deflate(stream, Int32(CZLIB_SYNC_FLUSH)))
                }
                if status != CZLIB_OK && status != CZLIB_BUF_ERROR {
                    failure = status
                    break
                }
                output += chunk[0..<(chunk.count - Int(stream.pointee.avail_out))]
            } while stream.pointee.avail_out == 0
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        if let failure { throw ProtocolError(.internalError, "deflate failed (\(failure))") }
        if output.count >= 4 && Array(output.suffix(4)) == Zlib.syncFlushTail { output.removeLast(4) }
        if noContextTakeover { _ = czlib_deflate_reset(stream) }
        return output
    }
}
