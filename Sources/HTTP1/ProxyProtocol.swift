/// The PROXY protocol header a TCP load balancer sends before the HTTP bytes (HAProxy's spec,
/// versions 1 and 2), carrying the original client address.
public enum ProxyProtocol {
    public enum Version: String, Sendable, CaseIterable {
        case off, v1, v2, auto
    }

    public enum Result: Sendable, Equatable {
        case incomplete
        /// The client's address (nil for `LOCAL`/`UNKNOWN`: keep the connection's own), and how many
        /// bytes the header took.
        case header(host: String?, port: UInt16, consumed: Int)
        case failure(String)
    }

    static let v2Signature: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A]
    static let v1Prefix = Array("PROXY ".utf8)

    public static func parse(_ b: UnsafeBufferPointer<UInt8>, accept version: Version) -> Result {
        let v2 = version == .v2 || version == .auto
        let v1 = version == .v1 || version == .auto
        if v2, b.count >= 1, b[0] == 0x0D {
            for i in 0..<min(b.count, 12) where b[i] != v2Signature[i] { return .failure("bad PROXY v2 signature") }
            if b.count < 16 { return .incomplete }
            return parseV2(b)
        }
        if v1, b.count >= 1, b[0] == UInt8(ascii: "P") {
            for i in 0..<min(b.count, 6) where b[i] != v1Prefix[i] { return .failure("bad PROXY v1 header") }
            return parseV1(b)
        }
        if b.isEmpty { return .incomplete }
        return .failure("expected a PROXY protocol \(version.rawValue) header")
    }

    /// `PROXY TCP4 192.0.2.1 198.51.100.1 56324 443\r\n`, at most 107 bytes.
    static func parseV1(_ b: UnsafeBufferPointer<UInt8>) -> Result {
        var end: Int?
        var i = 0
        while i + 1 < min(b.count, 107) {
            if b[i] == ASCII.cr && b[i + 1] == ASCII.lf { end = i; break }
            i += 1
        }
        guard let end else { return b.count >= 107 ? .failure("PROXY v1 header too long") : .incomplete }
        let line = String(decoding: UnsafeBufferPointer(rebasing: b[0..<end]), as: UTF8.self)
        let parts = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 2 && parts[1] == "UNKNOWN" || parts.count >= 2 && parts[1] == "UNKNOWN" {
            return .header(host: nil, port: 0, consumed: end + 2)
        }
        guard parts.count == 6, parts[1] == "TCP4" || parts[1] == "TCP6",
              let port = UInt16(parts[4]), UInt16(parts[5]) != nil, IPAddress.parse(parts[2]) != nil
        else { return .failure("malformed PROXY v1 header") }
        return .header(host: parts[2], port: port, consumed: end + 2)
    }

    static func parseV2(_ b: UnsafeBufferPointer<UInt8>) -> Result {
        let versionCommand = b[12]
        guard versionCommand >> 4 == 2 else { return .failure("unsupported PROXY v2 version") }
        let length = Int(b[14]) << 8 | Int(b[15])
        guard b.count >= 16 + length else { return .incomplete }
        let consumed = 16 + length
        if versionCommand & 0x0F == 0 { return .header(host: nil, port: 0, consumed: consumed) }  // LOCAL
        guard versionCommand & 0x0F == 1 else { return .failure("unsupported PROXY v2 command") }
        switch b[13] >> 4 {
        case 1 where length >= 12:
            let host = (16..<20).map { String(b[$0]) }.joined(separator: ".")
            return .header(host: host, port: UInt16(b[24]) << 8 | UInt16(b[25]), consumed: consumed)
        case 2 where length >= 36:
            var groups: [String] = []
            for g in 0..<8 { groups.append(String(UInt16(b[16 + 2 * g]) << 8 | UInt16(b[17 + 2 * g]), radix: 16)) }
            let host = IPAddress.parse(groups.joined(separator: ":"))?.description ?? groups.joined(separator: ":")
            return .header(host: host, port: UInt16(b[48]) << 8 | UInt16(b[49]), consumed: consumed)
        default:
            return .header(host: nil, port: 0, consumed: consumed)  // UNSPEC or unix: keep the peer
        }
    }
}
