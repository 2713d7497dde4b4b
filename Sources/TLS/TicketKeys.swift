import COpenSSL
import Glibc

/// The keys that encrypt TLS session tickets (RFC 5077 §4; RFC 8446 §4.6.1), shared by all workers.
///
/// The master draws them from the kernel's random source and hands the same value to every worker
/// (in memory only: they are never written to disk), so a client resumes on whichever worker accepts
/// its next connection. Rotation: `rotated()` makes a new current key and keeps the old current one
/// as `previous`, which still decrypts (and renews) tickets issued before the rotation.
public struct TicketKeys: Sendable, Equatable, CustomStringConvertible {
    /// One key: a public name that travels in the ticket, an AES-256-CBC key and an HMAC-SHA256 key.
    public struct Key: Sendable, Equatable, CustomStringConvertible {
        /// Length of the name (which selects the key for decryption).
        public static let nameLength = 16
        /// Length of the serialized form: name, AES key, HMAC key.
        public static let byteCount = 16 + 32 + 32

        /// Name, AES key and HMAC key, in that order.
        public let bytes: [UInt8]

        /// A key from its serialized form (`byteCount` bytes).
        public init(bytes: [UInt8]) throws(TLSError) {
            guard bytes.count == Self.byteCount else {
                throw TLSError(.ticketKeys, "a session-ticket key is \(Self.byteCount) bytes, not \(bytes.count)")
            }
            self.bytes = bytes
        }

        /// A fresh random key.
        public static func generate() throws(TLSError) -> Key {
            try Key(bytes: randomBytes(byteCount))
        }

        /// The key's name; the secret parts are never printed.
        public var name: [UInt8] { Array(bytes.prefix(Self.nameLength)) }

        public var description: String {
            let hex = name.map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }
            return "Key(name: \(hex.joined()))"
        }
    }

    /// Encrypts new tickets and decrypts tickets it issued.
    public let current: Key
    /// Decrypts tickets issued before the last rotation; such tickets are renewed.
    public let previous: Key?

    public init(current: Key, previous: Key? = nil) {
        self.current = current
        self.previous = previous
    }

    /// A fresh current key and no previous one.
    public static func generate() throws(TLSError) -> TicketKeys {
        TicketKeys(current: try Key.generate())
    }

    /// A fresh current key, with this value's current key as the previous one.
    public func rotated() throws(TLSError) -> TicketKeys {
        TicketKeys(current: try Key.generate(), previous: current)
    }

    /// The keys as bytes for the master→worker channel: current, then previous if any.
    public var serialized: [UInt8] { current.bytes + (previous?.bytes ?? []) }

    /// Keys from `serialized` (one or two keys' worth of bytes).
    public init(serialized: [UInt8]) throws(TLSError) {
        switch serialized.count {
        case Key.byteCount:
            self.init(current: try Key(bytes: serialized))
        case 2 * Key.byteCount:
            self.init(
                current: try Key(bytes: Array(serialized.prefix(Key.byteCount))),
                previous: try Key(bytes: Array(serialized.suffix(Key.byteCount))))
        default:
            throw TLSError(.ticketKeys, "serialized session-ticket keys are \(Key.byteCount) or \(2 * Key.byteCount) bytes, not \(serialized.count)")
        }
    }

    public var description: String {
        "TicketKeys(current: \(current), previous: \(previous.map { "\($0)" } ?? "none"))"
    }
}

/// `count` bytes from the kernel's random source (getrandom(2), the same pool as /dev/urandom).
func randomBytes(_ count: Int) throws(TLSError) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: count)
    var filled = 0
    while filled < count {
        let n = bytes.withUnsafeMutableBytes { cossl_getrandom($0.baseAddress! + filled, count - filled) }
        if n < 0 {
            if errno == EINTR { continue }
            throw TLSError(.ticketKeys, "getrandom failed: \(String(cString: strerror(errno)))")
        }
        filled += Int(n)
    }
    return bytes
}
