/// Decodes client frames from bytes as they arrive, enforcing RFC 6455 §5 (and RFC 7692 §6.1).
///
/// Bytes may be split anywhere: `append` buffers them and `nextFrame` returns each complete frame,
/// unmasked. Every framing rule is checked as soon as the header is in, before the payload has
/// arrived, so a bad or oversized frame is refused without buffering it. Besides single-frame rules
/// the decoder follows the fragmentation of data messages (§5.4), since a frame's validity depends
/// on whether a fragmented message is open; message assembly itself is the connection's job.
/// After an error the decoder stays failed and throws the same error again.
public struct FrameDecoder: Sendable {
    /// What the decoder accepts.
    public struct Configuration: Sendable, Hashable {
        /// Largest data message, in payload bytes across its fragments; more is 1009 (§7.4.1).
        public var maxMessageSize: Int
        /// Whether frames must be masked: true for a server reading a client (§5.1).
        public var requireMasking: Bool
        /// Whether RSV1 may mark a compressed message: permessage-deflate was negotiated (RFC 7692 §6).
        public var compressionNegotiated: Bool

        /// Defaults: 16 MiB messages, masking required (server side), no compression.
        public init(maxMessageSize: Int = 16 << 20, requireMasking: Bool = true, compressionNegotiated: Bool = false) {
            precondition(maxMessageSize >= 0, "a message size limit cannot be negative")
            self.maxMessageSize = maxMessageSize
            self.requireMasking = requireMasking
            self.compressionNegotiated = compressionNegotiated
        }
    }

    /// The configuration this decoder enforces.
    public let configuration: Configuration
    /// Received bytes not yet returned as frames: `buffer[start...]`.
    private var buffer: [UInt8] = []
    private var start = 0
    /// The data message being received in fragments, if any (§5.4).
    private var openMessage: OpenMessage?
    private var failure: ProtocolError?
    /// The data frame whose header is in and whose payload is still arriving, as far as parsed.
    private var arriving: Arriving?

    private struct Arriving: Sendable {
        var opcode: Opcode
        var rsv1: Bool
        /// Header and masking key, before the payload.
        var prefix: Int
        var keySize: Int
    }

    /// A data frame still arriving: its header, and how many payload bytes are in.
    public struct PartialFrame: Sendable, Equatable {
        public var opcode: Opcode
        public var rsv1: Bool
        public var received: Int
    }

    private struct OpenMessage: Sendable {
        var compressed: Bool
        var wireBytes: Int
    }

    /// A decoder at the start of a stream.
    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    /// Bytes buffered but not yet returned in a frame.
    public var bufferedByteCount: Int { buffer.count - start }

    /// The data frame whose payload is arriving, if its header is in (control frames are short
    /// and not reported).
    public var partialDataFrame: PartialFrame? {
        guard let arriving else { return nil }
        return PartialFrame(opcode: arriving.opcode, rsv1: arriving.rsv1, received: max(0, buffer.count - start - arriving.prefix))
    }

    /// Calls `body` with the unmasked payload bytes of the arriving data frame from `offset` on;
    /// nil without such a frame.
    public func withPartialPayload<R>(from offset: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard let arriving else { return nil }
        let payloadStart = start + arriving.prefix
        guard payloadStart + offset <= buffer.count else { return nil }
        var bytes = Array(buffer[(payloadStart + offset)...])
        if arriving.keySize > 0 {
            let key = Array(buffer[(payloadStart - arriving.keySize)..<payloadStart])
            bytes.withUnsafeMutableBytes { Masking.apply(key: key, offset: offset, to: $0) }
        }
        return bytes.withUnsafeBytes(body)
    }

    /// Whether a fragmented data message has started and not yet ended.
    public var isInsideFragmentedMessage: Bool { openMessage != nil }

    /// Adds received bytes; call `nextFrame` until it returns nil to take the frames they complete.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        // Drop consumed bytes once they outweigh the rest, keeping appends amortised O(n).
        if start > 0 && start >= buffer.count - start {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, or nil when more bytes are needed.
    public mutating func nextFrame() throws(ProtocolError) -> Frame? {
        if let failure { throw failure }
        do {
            return try decodeFrame()
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decodeFrame() throws(ProtocolError) -> Frame? {
        arriving = nil
        let available = buffer.count - start
        guard available >= 2 else { return nil }
        let first = buffer[start]
        let second = buffer[start + 1]
        let fin = first & 0x80 != 0
        let rsv1 = first & 0x40 != 0
        guard let opcode = Opcode(rawValue: first & 0x0F) else {
            throw .protocolViolation("reserved opcode \(first & 0x0F)") // §5.2
        }
        // §5.2: RSV bits are 0 unless an extension defines them; permessage-deflate defines RSV1 only.
        guard first & 0x30 == 0 else { throw .protocolViolation("RSV2/RSV3 set without an extension defining them") }
        try checkMessageRules(fin: fin, rsv1: rsv1, opcode: opcode)
        let masked = second & 0x80 != 0
        if configuration.requireMasking && !masked { throw .protocolViolation("client frame not masked") } // §5.1
        if !configuration.requireMasking && masked { throw .protocolViolation("server frame masked") } // §5.1

        // §5.2 payload length: 7 bits, or 126 + 16 bits, or 127 + 64 bits (most significant bit 0).
        var headerSize = 2
        var length = UInt64(second & 0x7F)
        if opcode.isControl && length > 125 { throw .protocolViolation("control frame payload over 125 bytes") } // §5.5
        if length == 126 {
            guard available >= 4 else { return nil }
            length = UInt64(buffer[start + 2]) << 8 | UInt64(buffer[start + 3])
            headerSize = 4
            // §5.2: "the minimal number of bytes MUST be used to encode the length"; a longer form is
            // a malformed frame, failed like any other framing violation.
            if length < 126 { throw .protocolViolation("non-minimal 16-bit payload length") }
        } else if length == 127 {
            guard available >= 10 else { return nil }
            length = 0
            for index in 2..<10 { length = length << 8 | UInt64(buffer[start + index]) }
            headerSize = 10
            if length & (1 << 63) != 0 { throw .protocolViolation("64-bit payload length with the high bit set") }
            if length <= 0xFFFF { throw .protocolViolation("non-minimal 64-bit payload length") }
        }
        try checkSize(length, opcode: opcode, rsv1: rsv1)
        let payloadLength = Int(length) // bounded by checkSize, so it fits
        let keySize = masked ? 4 : 0
        guard available >= headerSize + keySize + payloadLength else {
            if !opcode.isControl && available >= headerSize + keySize {
                arriving = Arriving(opcode: opcode, rsv1: rsv1, prefix: headerSize + keySize, keySize: keySize)
            }
            return nil
        }

        let payloadStart = start + headerSize + keySize
        var payload = Array(buffer[payloadStart..<(payloadStart + payloadLength)])
        if masked {
            let key = Array(buffer[(start + headerSize)..<payloadStart])
            payload.withUnsafeMutableBytes { Masking.apply(key: key, offset: 0, to: $0) }
        }
        start = payloadStart + payloadLength
        if start == buffer.count {
            // An idle connection keeps no read buffer beyond a small one (memory per idle socket).
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1024)
            start = 0
        }
        if !opcode.isControl {
            if fin {
                openMessage = nil
            } else if opcode == .continuation {
                openMessage!.wireBytes += payloadLength
            } else {
                openMessage = OpenMessage(compressed: rsv1, wireBytes: payloadLength)
            }
        }
        return Frame(fin: fin, rsv1: rsv1, opcode: opcode, payload: payload)
    }

    /// Fragmentation (§5.4) and compression-bit (RFC 7692 §6.1) rules for a frame's first byte.
    private func checkMessageRules(fin: Bool, rsv1: Bool, opcode: Opcode) throws(ProtocolError) {
        if opcode.isControl {
            guard fin else { throw .protocolViolation("fragmented control frame") } // §5.5
            guard !rsv1 else { throw .protocolViolation("RSV1 set on a control frame") } // RFC 7692 §6.1
            return
        }
        if opcode == .continuation {
            guard openMessage != nil else { throw .protocolViolation("continuation frame without a message to continue") }
            guard !rsv1 else { throw .protocolViolation("RSV1 set on a continuation frame") } // RFC 7692 §6.1
        } else {
            guard openMessage == nil else { throw .protocolViolation("new data frame inside a fragmented message") }
            guard !rsv1 || configuration.compressionNegotiated else {
                throw .protocolViolation("RSV1 set without permessage-deflate")
            }
        }
    }

    /// The message size limit (1009) as far as the wire shows it; inflated sizes are the inflater's.
    private func checkSize(_ length: UInt64, opcode: Opcode, rsv1: Bool) throws(ProtocolError) {
        guard !opcode.isControl else { return }
        let compressed = opcode == .continuation ? openMessage!.compressed : rsv1
        let before = opcode == .continuation ? openMessage!.wireBytes : 0
        let limit = UInt64(Self.wireLimit(maxMessageSize: configuration.maxMessageSize, compressed: compressed))
        if length > limit || UInt64(before) + length > limit {
            throw .tooBig("message over \(configuration.maxMessageSize) bytes")
        }
    }

    /// The most wire bytes a message within `maxMessageSize` can take. Compressed data can be
    /// slightly larger than the original (stored blocks cost 5 bytes per 64 KiB, RFC 1951 §3.2.4),
    /// so a compressed message is allowed that margin; its inflated size is limited exactly.
    static func wireLimit(maxMessageSize: Int, compressed: Bool) -> Int {
        compressed ? maxMessageSize + maxMessageSize / 256 + 64 : maxMessageSize
    }
}
