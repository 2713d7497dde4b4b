/// The server's wishes for permessage-deflate (RFC 7692), used when a client offers it.
public struct DeflateOptions: Sendable, Hashable {
    /// Ask to compress each server message on its own (`server_no_context_takeover`), which lets
    /// the server's compressor be reset after every message (RFC 7692 §7.1.1.1).
    public var serverNoContextTakeover: Bool
    /// Ask the client to compress each message on its own (`client_no_context_takeover`, §7.1.1.2).
    public var clientNoContextTakeover: Bool
    /// Largest LZ77 window, in bits, the server compresses with (9–15; `server_max_window_bits`,
    /// §7.1.2.1). 8 is not offered: zlib cannot produce raw deflate with a 256-byte window.
    public var serverMaxWindowBits: Int
    /// Largest window, in bits, asked of the client when it allows that (8–15;
    /// `client_max_window_bits`, §7.1.2.2); smaller windows use less memory for inflating.
    public var clientMaxWindowBits: Int
    /// zlib compression level, 0–9.
    public var compressionLevel: Int
    /// Messages shorter than this go out uncompressed (RSV1 clear, allowed by RFC 7692 §6).
    public var minimumSizeToCompress: Int

    /// Options within the ranges above; the defaults accept any offer with full windows.
    public init(serverNoContextTakeover: Bool = false, clientNoContextTakeover: Bool = false, serverMaxWindowBits: Int = 15,
                clientMaxWindowBits: Int = 15, compressionLevel: Int = 6, minimumSizeToCompress: Int = 32) {
        precondition((9...15).contains(serverMaxWindowBits), "server_max_window_bits is 9–15")
        precondition((8...15).contains(clientMaxWindowBits), "client_max_window_bits is 8–15")
        precondition((0...9).contains(compressionLevel), "zlib levels are 0–9")
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
        self.compressionLevel = compressionLevel
        self.minimumSizeToCompress = minimumSizeToCompress
    }
}

/// The permessage-deflate configuration both sides agreed on in the handshake (RFC 7692 §7.1).
public struct DeflateParameters: Sendable, Hashable {
    /// The server resets its compressor after each message.
    public var serverNoContextTakeover: Bool
    /// The client resets its compressor after each message, so the server may reset its inflater.
    public var clientNoContextTakeover: Bool
    /// The server's compression window, in bits.
    public var serverMaxWindowBits: Int
    /// The most the client's compression window can be, in bits.
    public var clientMaxWindowBits: Int
    /// zlib level for the server's messages (not negotiated; from `DeflateOptions`).
    public var compressionLevel: Int
    /// Shorter server messages are not compressed (from `DeflateOptions`).
    public var minimumSizeToCompress: Int

    /// Parameters as agreed; the defaults are RFC 7692's when an offer has no parameters.
    public init(serverNoContextTakeover: Bool = false, clientNoContextTakeover: Bool = false, serverMaxWindowBits: Int = 15,
                clientMaxWindowBits: Int = 15, compressionLevel: Int = 6, minimumSizeToCompress: Int = 32) {
        self.serverNoContextTakeover = serverNoContextTakeover
        self.clientNoContextTakeover = clientNoContextTakeover
        self.serverMaxWindowBits = serverMaxWindowBits
        self.clientMaxWindowBits = clientMaxWindowBits
        self.compressionLevel = compressionLevel
        self.minimumSizeToCompress = minimumSizeToCompress
    }
}
