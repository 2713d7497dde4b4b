import HTTP1
import Platform

/// The client as the application sees it: the peer, or what a trusted proxy says.
struct Client {
    var host: String
    var scheme: String
    /// The host as bytes for the C request view (the connection's own when nothing changed).
    var hostBytes: [UInt8]
    var port: UInt16

    /// The connection's peer itself, as most requests' client is.
    static func peer(of connection: ServerConnection) -> Client {
        Client(
            host: connection.remote?.host ?? "", scheme: connection.scheme.description,
            hostBytes: connection.remoteHostBytes, port: connection.remotePort)
    }

    /// The client a trusted peer's forwarding fields name — `Forwarded` (RFC 7239), or else
    /// `X-Forwarded-For` / `X-Forwarded-Proto`: the first address from the right that is not itself
    /// a trusted proxy. Nil when the client is the peer itself (no such fields, or a peer not
    /// trusted to send them). `trust` is read only for a head that carries such fields.
    static func forwarded(head: RequestHead, connection: ServerConnection, trust: @autoclosure () -> TrustList) -> Client? {
        // Most requests carry no forwarding fields: nothing to check then.
        let forwarding = head.withFields { fields in
            fields.contains { field in
                switch field.name.count {  // the names' lengths tell most fields apart at once
                case 9: head.matches(field, "forwarded")
                case 15: head.matches(field, "x-forwarded-for")
                case 17: head.matches(field, "x-forwarded-proto")
                default: false
                }
            }
        }
        guard forwarding else { return nil }
        let trust = trust()
        if connection.peerTrusted == nil {
            connection.peerTrusted = connection.remote.map { $0.isUnix ? trust.any : trust.contains($0.host) } ?? false
        }
        guard connection.peerTrusted == true else { return nil }
        var client = peer(of: connection)
        var hops: [(host: String, port: UInt16, proto: String?)] = []
        var sawForwarded = false
        for field in head.fields where head.matches(field, "forwarded") {
            sawForwarded = true
            for element in split(head.string(field.value), ",") {
                var node: (host: String, port: UInt16)?
                var proto: String?
                for pair in split(element, ";") {
                    guard let eq = pair.firstIndex(of: "=") else { continue }
                    let key = pair[..<eq].lowercased()
                    let value = unquote(String(pair[pair.index(after: eq)...]))
                    if key == "for" { node = splitHostPort(value) }
                    if key == "proto" { proto = value.lowercased() }
                }
                if let node { hops.append((node.host, node.port, proto)) }
            }
        }
        var proto: String?
        if !sawForwarded {
            for field in head.fields where head.matches(field, "x-forwarded-for") {
                for entry in split(head.string(field.value), ",") { hops.append((entry, 0, nil)) }
            }
            for field in head.fields where head.matches(field, "x-forwarded-proto") {
                proto = split(head.string(field.value), ",").last?.lowercased()
            }
        }
        if let chosen = hops.reversed().first(where: { !trust.contains($0.host) }) ?? hops.first,
           IPAddress.parse(chosen.host) != nil
        {
            client.host = chosen.host
            client.port = chosen.port
            client.hostBytes = Array(chosen.host.utf8)
            proto = chosen.proto ?? proto
        }
        if let proto, proto == "http" || proto == "https" { client.scheme = proto }
        return client
    }

    private static func split(_ text: String, _ separator: Character) -> [String] {
        text.split(separator: separator).map { String($0).trimmingCharacters(" \t") }.filter { !$0.isEmpty }
    }

    private static func unquote(_ text: String) -> String {
        text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"") ? String(text.dropFirst().dropLast()) : text
    }

    /// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]:4711`, `2001:db8::1`.
    private static func splitHostPort(_ text: String) -> (String, UInt16) {
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            let host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            return (host, rest.hasPrefix(":") ? UInt16(rest.dropFirst()) ?? 0 : 0)
        }
        if text.filter({ $0 == ":" }).count == 1, let colon = text.firstIndex(of: ":") {
            return (String(text[..<colon]), UInt16(text[text.index(after: colon)...]) ?? 0)
        }
        return (text, 0)
    }
}

extension String {
    func trimmingCharacters(_ set: String) -> String {
        var s = Substring(self)
        while let c = s.first, set.contains(c) { s.removeFirst() }
        while let c = s.last, set.contains(c) { s.removeLast() }
        return String(s)
    }
}

extension RequestHead {
    /// Whether `field` is named `lowered` (case-insensitive).
    func matches(_ field: Field, _ lowered: String) -> Bool {
        guard field.name.count == lowered.utf8.count else { return false }
        return withBytes { bytes in
            zip(bytes[field.name], lowered.utf8).allSatisfy { ($0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0) == $1 }
        }
    }
}
