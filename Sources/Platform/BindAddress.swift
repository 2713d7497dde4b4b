/// Where to listen: `HOST:PORT`, `[V6]:PORT`, `unix:PATH` or `fd://N` (Gunicorn's bind syntax).
public enum BindAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    case tcp(host: String, port: UInt16)
    case unix(path: String)
    case fd(Int32)

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ text: String) throws(ParseError) -> BindAddress {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard !path.isEmpty else { throw ParseError(description: "'\(text)': unix: needs a path") }
            return .unix(path: path)
        }
        if text.hasPrefix("fd://") {
            guard let fd = Int32(text.dropFirst(5)), fd >= 0 else {
                throw ParseError(description: "'\(text)': fd:// needs a descriptor number")
            }
            return .fd(fd)
        }
        var host: Substring
        var portText: Substring?
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ParseError(description: "'\(text)': missing ']' after an IPv6 address")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw ParseError(description: "'\(text)': expected ':PORT' after ']'") }
                portText = rest.dropFirst()
            }
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { throw ParseError(description: "'\(text)': put an IPv6 address in brackets, [::1]:8000") }
        } else {
            host = Substring(text)
        }
        if host.isEmpty { host = "0.0.0.0" }
        var port: UInt16 = 8000
        if let portText {
            guard let p = UInt16(portText) else { throw ParseError(description: "'\(text)': '\(portText)' is not a port number (0–65535)") }
            port = p
        }
        return .tcp(host: String(host), port: port)
    }

    /// Advice for a host that is a bare number (`-b 18104`): as in Gunicorn it is a host (the
    /// IPv4 address 0.0.70.184) on the default port, which is rarely what was meant.
    public var bareNumberHint: String? {
        guard case .tcp(let host, _) = self, !host.isEmpty, host.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return "'\(host)' is read as a host, not a port; to listen on port \(host) write ':\(host)' (all interfaces) or '127.0.0.1:\(host)'"
    }

    public var description: String {
        switch self {
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case .unix(let path): "unix:\(path)"
        case .fd(let fd): "fd://\(fd)"
        }
    }
}
