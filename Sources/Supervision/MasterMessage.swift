/// What the master tells a worker. End-of-file on the socket is not a message: it means the
/// master is gone.
public enum MasterMessage: ControlMessage {
    /// Reopen the error and access logs (the master got USR1, e.g. from logrotate): `reopen-logs`.
    case reopenLogs
    /// The TLS session-ticket keys, sent at a worker's start and on every rotation (memory only,
    /// never on disk): `ticket-keys HEX`, the serialized keys in hexadecimal.
    case ticketKeys([UInt8])
    /// One file of the TLS configuration as the master read and checked it, sent at a worker's
    /// start before the ticket keys: the worker builds its TLS from these bytes, not from the disk
    /// (`tls-file HEX-PATH HEX-CONTENTS`).
    case tlsFile(path: String, contents: [UInt8])

    public var line: String {
        switch self {
        case .reopenLogs: "reopen-logs"
        case .ticketKeys(let bytes): "ticket-keys " + Self.hex(bytes)
        case .tlsFile(let path, let contents): "tls-file " + Self.hex(Array(path.utf8)) + " " + Self.hex(contents)
        }
    }

    public init?(line: String) {
        if line == "reopen-logs" {
            self = .reopenLogs
        } else if line.hasPrefix("ticket-keys "), let bytes = Self.bytes(hex: line.dropFirst("ticket-keys ".count)) {
            self = .ticketKeys(bytes)
        } else if line.hasPrefix("tls-file ") {
            let parts = line.dropFirst("tls-file ".count).split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, let path = Self.bytes(hex: parts[0]), let contents = Self.bytes(hex: parts[1], allowEmpty: true) else {
                return nil
            }
            self = .tlsFile(path: String(decoding: path, as: UTF8.self), contents: contents)
        } else {
            return nil
        }
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func bytes(hex: Substring, allowEmpty: Bool = false) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard !digits.isEmpty || allowEmpty, digits.count % 2 == 0 else { return nil }
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case 0x30...0x39: digit - 0x30
            case 0x61...0x66: digit - 0x61 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
