import CZlib

/// Access to zlib, loaded from libz.so.1 at first use so the build needs no zlib headers.
public enum Zlib {
    /// Why zlib cannot be used, or nil when it loaded. Without zlib, permessage-deflate is not
    /// negotiated; the reason is for a log line.
    public static var unavailableReason: String? {
        if czlib_load() == 1 { return nil }
        return czlib_load_error().map { String(cString: $0) } ?? "cannot load libz.so.1"
    }

    /// The four bytes a sync flush ends with, which permessage-deflate leaves off the wire
    /// (RFC 7692 §7.2.1) and the receiver puts back (§7.2.2).
    static let syncFlushTail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]
}
