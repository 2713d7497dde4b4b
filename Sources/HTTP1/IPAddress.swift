/// An IPv4 or IPv6 address and CIDR networks, parsed without libc (for trust lists).
public struct IPAddress: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// 16 bytes; IPv4 is stored as ::ffff:a.b.c.d.
    public let bytes: [UInt8]

    public var isIPv4: Bool { bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF }

    public static func parse(_ text: String) -> IPAddress? {
        var s = Substring(text)
        if s.hasPrefix("[") && s.hasSuffix("]") { s = s.dropFirst().dropLast() }
        if let v4 = parseV4(s) { return IPAddress(bytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF] + v4) }
        return parseV6(s)
    }

    static func parseV4(_ s: Substring) -> [UInt8]? {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let n = UInt8(part) else { return nil }
            out.append(n)
        }
        return out
    }

    static func parseV6(_ s: Substring) -> IPAddress? {
        guard s.contains(":"), !s.contains("%") else { return nil }
        var halves: [Substring] = [s]
        if let range = s.firstRange(of: "::") {
            halves = [s[..<range.lowerBound], s[range.upperBound...]]
            if halves[1].contains("::") { return nil }
        }
        func groups(_ text: Substring) -> [UInt8]? {
            if text.isEmpty { return [] }
            var out: [UInt8] = []
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            for (i, part) in parts.enumerated() {
                if i == parts.count - 1, part.contains("."), let v4 = parseV4(part) {
                    out += v4
                    continue
                }
                guard !part.isEmpty, part.count <= 4, let n = UInt16(part, radix: 16) else { return nil }
                out += [UInt8(n >> 8), UInt8(n & 0xFF)]
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        if halves.count == 1 { return head.count == 16 ? IPAddress(bytes: head) : nil }
        guard let tail = groups(halves[1]), head.count + tail.count < 16 else { return nil }
        return IPAddress(bytes: head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail)
    }

    public var description: String {
        if isIPv4 { return bytes[12..<16].map(String.init).joined(separator: ".") }
        var groups: [UInt16] = []
        for i in 0..<8 { groups.append(UInt16(bytes[2 * i]) << 8 | UInt16(bytes[2 * i + 1])) }
        // The longest run of zero groups becomes "::" (RFC 5952).
        var best = (start: -1, length: 0)
        var i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > best.length && j - i > 1 { best = (i, j - i) }
                i = j
            } else {
                i += 1
            }
        }
        let text = groups.map { String($0, radix: 16) }
        if best.start < 0 { return text.joined(separator: ":") }
        let left = text[..<best.start].joined(separator: ":")
        let right = text[(best.start + best.length)...].joined(separator: ":")
        return left + "::" + right
    }
}

/// A trust list: addresses and CIDR networks, or `*` for anyone.
public struct TrustList: Sendable, Equatable {
    public let any: Bool
    let networks: [(address: [UInt8], prefix: Int)]

    public static func == (a: TrustList, b: TrustList) -> Bool {
        a.any == b.any && a.networks.map(\.address) == b.networks.map(\.address) && a.networks.map(\.prefix) == b.networks.map(\.prefix)
    }

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    /// `127.0.0.1,::1,10.0.0.0/8` or `*`.
    public init(parsing text: String) throws(Invalid) {
        var any = false
        var networks: [(address: [UInt8], prefix: Int)] = []
        for raw in text.split(separator: ",") {
            let entry = raw.filter { $0 != " " }
            if entry.isEmpty { continue }
            if entry == "*" { any = true; continue }
            let parts = entry.split(separator: "/", maxSplits: 1)
            guard let address = IPAddress.parse(String(parts[0])) else {
                throw Invalid(description: "'\(entry)' is not an IP address or network")
            }
            var prefix = 128
            if parts.count == 2 {
                guard let n = Int(parts[1]) else { throw Invalid(description: "'\(entry)': bad prefix length") }
                prefix = address.isIPv4 ? n + 96 : n
                guard prefix >= 0, prefix <= 128, n >= 0 else { throw Invalid(description: "'\(entry)': bad prefix length") }
            }
            networks.append((address.bytes, prefix))
        }
        self.any = any
        self.networks = networks
    }

    public func contains(_ host: String) -> Bool {
        if any { return true }
        guard let address = IPAddress.parse(host) else { return false }
        return networks.contains { network in
            var bits = network.prefix
            var i = 0
            while bits >= 8 {
                if address.bytes[i] != network.address[i] { return false }
                bits -= 8
                i += 1
            }
            if bits > 0 {
                let mask = UInt8(0xFF) << (8 - bits)
                if address.bytes[i] & mask != network.address[i] & mask { return false }
            }
            return true
        }
    }
}
