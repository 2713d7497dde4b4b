import HTTP1
import Platform
import WebSocket

/// One served request, as the access log sees it.
struct AccessRecord {
    var remote: String
    var method: String
    var target: String
    var version: String
    var status: Int
    var bytes: Int
    var seconds: Double
    var requestHeader: (String) -> String?
    var responseHeader: (String) -> String?
}

extension AccessRecord {
    /// The target's path, before any `?`.
    var path: String { String(target.prefix { $0 != "?" }) }
    /// The target's query, after the first `?` (empty without one).
    var query: String { target.firstIndex(of: "?").map { String(target[target.index(after: $0)...]) } ?? "" }

    /// The user of `Authorization: Basic` (Gunicorn's `%(u)s`), whether or not the application
    /// accepted it.
    var basicUser: String? {
        guard let value = requestHeader("authorization"), value.count > 6,
              value.prefix(6).lowercased() == "basic ",
              let decoded = Base64.decode(String(value.dropFirst(6)).trimmingCharacters(" "))
        else { return nil }
        let user = decoded.prefix { $0 != UInt8(ascii: ":") }
        return user.isEmpty ? nil : String(decoding: user, as: UTF8.self)
    }

    /// `%({NAME}e)s`: the request's variable of a WSGI environ, as in Gunicorn (`HTTP_USER_AGENT`,
    /// `REQUEST_METHOD`, `PATH_INFO`, `QUERY_STRING`, `SERVER_PROTOCOL`, `REMOTE_ADDR`); never
    /// the process environment, which holds secrets.
    func environ(_ name: String) -> String? {
        switch name.uppercased() {
        case "REQUEST_METHOD": return method
        case "PATH_INFO": return path
        case "QUERY_STRING": return query
        case "SERVER_PROTOCOL": return version
        case "REMOTE_ADDR": return remote
        case let upper where upper.hasPrefix("HTTP_"):
            return requestHeader(String(upper.dropFirst(5).map { $0 == "_" ? "-" : $0 }))
        default: return nil
        }
    }

    init(_ summary: HTTP1.ConnectionStateMachine.RequestSummary, remote: String, seconds: Double) {
        let head = summary.head
        let headers = summary.responseHeaders
        self.init(
            remote: remote, method: head.method.name, target: head.target, version: head.version.description,
            status: summary.status, bytes: summary.bodyBytesSent, seconds: seconds,
            requestHeader: { head.field($0) },
            responseHeader: { name in
                let lowered = name.lowercased()
                return headers.first { String(decoding: $0.name, as: UTF8.self).lowercased() == lowered }
                    .map { String(decoding: $0.value, as: UTF8.self) }
            })
    }
}

/// Gunicorn's `access_log_format`, compiled once: `%(h)s %(l)s … "%({user-agent}i)s"`.
struct AccessLog: Sendable {
    enum Part: Sendable, Equatable {
        case literal(String)
        case atom(String)
        case requestHeader(String)
        case responseHeader(String)
        case environment(String)
    }

    let parts: [Part]
    let sink: LogSink
    /// `--log-format`: the text line above, or one JSON object (`AccessLog+JSON.swift`).
    let style: Logger.Format
    /// This worker's slot, a field of the JSON line.
    let slot: Int

    init(format: String, sink: LogSink, style: Logger.Format = .text, slot: Int = 0) {
        parts = Self.compile(format)
        self.sink = sink
        self.style = style
        self.slot = slot
    }

    static func compile(_ format: String) -> [Part] {
        var parts: [Part] = []
        var literal = ""
        var rest = Substring(format)
        while let percent = rest.firstIndex(of: "%") {
            literal += rest[..<percent]
            let after = rest[percent...]
            if after.hasPrefix("%("), let close = after.firstIndex(of: ")"),
               after[after.index(after: close)...].hasPrefix("s")
            {
                if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
                let name = String(after[after.index(percent, offsetBy: 2)..<close])
                if name.hasPrefix("{"), let end = name.firstIndex(of: "}") {
                    let key = String(name[name.index(after: name.startIndex)..<end])
                    switch name[name.index(after: end)...] {
                    case "i": parts.append(.requestHeader(key))
                    case "o": parts.append(.responseHeader(key))
                    case "e": parts.append(.environment(key))
                    default: parts.append(.literal("%(\(name))s"))
                    }
                } else {
                    parts.append(.atom(name))
                }
                rest = after[after.index(close, offsetBy: 2)...]
            } else if after.hasPrefix("%%") {
                literal += "%"  // Python's `%%`, as in Gunicorn's format strings
                rest = after.dropFirst(2)
            } else {
                literal += "%"
                rest = after.dropFirst()
            }
        }
        literal += rest
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return parts
    }

    func render(_ r: AccessRecord) -> String {
        var line = ""
        for part in parts {
            switch part {
            case .literal(let text): line += text
            case .requestHeader(let name): line += r.requestHeader(name) ?? "-"
            case .responseHeader(let name): line += r.responseHeader(name) ?? "-"
            case .environment(let name): line += r.environ(name) ?? "-"
            case .atom(let name): line += Self.atom(name, r)
            }
        }
        return line
    }

    static func atom(_ name: String, _ r: AccessRecord) -> String {
        switch name {
        case "h": return r.remote.isEmpty ? "-" : r.remote
        case "l": return "-"
        case "u": return r.basicUser ?? "-"
        case "t": return Clock.accessLogTimestamp()
        case "r": return "\(r.method) \(r.target) \(r.version)"
        case "m": return r.method
        case "U": return r.path
        case "q": return r.query
        case "H": return r.version
        case "s": return String(r.status)
        case "B": return String(r.bytes)
        case "b": return r.bytes == 0 ? "-" : String(r.bytes)
        case "f": return r.requestHeader("referer") ?? "-"
        case "a": return r.requestHeader("user-agent") ?? "-"
        case "T": return String(Int(r.seconds))
        case "M": return String(Int(r.seconds * 1000))
        case "D": return String(Int(r.seconds * 1_000_000))
        case "L": return String(Double(Int(r.seconds * 1_000_000)) / 1_000_000)
        case "p": return "<\(ProcessControl.pid)>"
        default: return "-"
        }
    }

    var namesResponseHeaders: Bool {
        parts.contains { if case .responseHeader = $0 { true } else { false } }
    }

    func log(_ record: AccessRecord) {
        sink.write(style == .json ? renderJSON(record) : render(record))
    }
}
