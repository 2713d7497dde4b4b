import CZlib

/// Decompresses incoming permessage-deflate messages (RFC 7692 §7.2.2) with a hard output limit.
///
/// Input is fed frame by frame and inflated incrementally: once a message's output passes the limit
/// inflating stops with 1009, so a small compressed frame cannot expand without bound.
/// Owned by one connection, whose thread is the only one to use it (`@unchecked Sendable` only so
/// the connection can move between threads); a class because zlib keeps a pointer
/// to the stream, which must therefore never move.
public final class Inflater: @unchecked Sendable {
    private let stream: UnsafeMutablePointer<czlib_stream>
    /// Reset after every message when the client does not take over its context (§7.1.1.2).
    private let noContextTakeover: Bool
    /// Output produced for the current message.
    private var produced = 0
    /// The sender ended the deflate stream with a BFINAL block (§7.2.3.3): the rest of the message
    /// is ignored and the stream restarts with the next message.
    private var streamEnded = false

    /// A raw inflater for peers compressing with windows of at most `windowBits` (8–15), or a
    /// `ProtocolError` (1011) when zlib is unavailable or refuses.
    public init(windowBits: Int, noContextTakeover: Bool) throws(ProtocolError) {
        precondition((8...15).contains(windowBits), "deflate windows are 8–15 bits")
        if let reason = Zlib.unavailableReason { throw ProtocolError(.internalError, "zlib unavailable: \(reason)") }
        stream = .allocate(capacity: 1)
        stream.initialize(to: czlib_stream())
        self.noContextTakeover = noContextTakeover
        // A larger window inflates anything a smaller one produced; zlib's raw inflate wants ≥ 9.
        let status = Int(czlib_inflate_init(stream, -Int32(max(windowBits, 9))))
        guard status == CZLIB_OK else {
            stream.deallocate()
            throw ProtocolError(.internalError, "inflateInit2 failed (\(status))")
        }
    }

    deinit {
        _ = czlib_inflate_end(stream)
        stream.deallocate()
    }

    /// Inflates one frame's compressed payload of the current message, appending to `output`.
    /// `limit` is the most the whole message may inflate to: past it this throws 1009; corrupt
    /// data throws 1007.
    public func inflate(_ input: [UInt8], into output: inout [UInt8], limit: Int) throws(ProtocolError) {
        try run(input, into: &output, limit: limit)
    }

    /// Ends the current message: inflates the 00 00 FF FF tail the sender left off (RFC 7692
    /// §7.2.2) and prepares for the next message.
    public func finishMessage(into output: inout [UInt8], limit: Int) throws(ProtocolError) {
        try run(Zlib.syncFlushTail, into: &output, limit: limit)
        produced = 0
        if noContextTakeover || streamEnded {
            _ = czlib_inflate_reset(stream)
            streamEnded = false
        }
    }

    private func run(_ input: [UInt8], into output: inout [UInt8], limit: Int) throws(ProtocolError) {
        guard !streamEnded, !input.isEmpty else { return }
        var chunk = [UInt8](repeating: 0, count: 16 << 10)
        var failure: ProtocolError?
        input.withUnsafeBufferPointer { inputBuffer in
            stream.pointee.next_in = inputBuffer.baseAddress
            stream.pointee.avail_in = UInt32(inputBuffer.count)
            while true {
                // Never ask for more than one byte past the limit: enough to know it was passed.
                let room = min(chunk.count, limit - produced + 1)
                let status = chunk.withUnsafeMutableBufferPointer { out -> Int in
                    stream.pointee.next_out = out.baseAddress
                    stream.pointee.avail_out = UInt32(room)
                    return Int(czlib_inflate(stream, Int32(CZLIB_SYNC_FLUSH)))
                }
                let count = room - Int(stream.pointee.avail_out)
                produced += count
                if produced > limit {
                    failure = .tooBig("inflated message over \(limit) bytes")
                    break
                }
                output += chunk[0..<count]
                switch status {
                case CZLIB_STREAM_END:
                    streamEnded = true
                case CZLIB_OK, CZLIB_BUF_ERROR:
                    // Output space left over means zlib took all it could from the input.
                    if stream.pointee.avail_out == 0 { continue }
                case CZLIB_NEED_DICT, CZLIB_DATA_ERROR:
                    failure = .invalidData("corrupt compressed data")
                default:
                    failure = ProtocolError(.internalError, "inflate failed (\(status))")
                }
                break
            }
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        if let failure { throw failure }
    }
}
