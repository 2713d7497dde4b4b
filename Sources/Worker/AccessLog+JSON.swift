import Platform

extension AccessLog {
    /// The fixed fields of a JSON access line: each text-format atom under a name.
    static let jsonAtoms: [(name: String, atom: String)] = [
        ("remote_addr", "h"), ("time", "t"), ("request", "r"), ("method", "m"), ("path", "U"), ("query", "q"),
        ("protocol", "H"), ("referer", "f"), ("user_agent", "a"),
    ]

    /// One JSON object per request: the atoms of the text format, the headers `access_log_format`
    /// names, the duration in seconds and the worker's slot. Every string goes through
    /// `JSONValue`'s escaping, so client text cannot add fields or lines.
    func renderJSON(_ r: AccessRecord) -> String {
        var fields: [(String, JSONValue)] = [("time", .string(Clock.isoTimestamp()))]
        for (name, atom) in Self.jsonAtoms where name != "time" {
            fields.append((name, .string(Self.atom(atom, r))))
        }
        fields += [
            // `%(u)s`: the Basic-auth user, null without one.
            ("user", r.basicUser.map(JSONValue.string) ?? .null),
            ("status", .integer(r.status)),
            ("bytes", .integer(r.bytes)),
            ("duration", .number(Double(Int(r.seconds * 1_000_000)) / 1_000_000)),
            ("pid", .integer(Int(ProcessControl.pid))),
            ("worker_slot", .integer(slot)),
        ]
        var requestHeaders: [(String, JSONValue)] = []
        var responseHeaders: [(String, JSONValue)] = []
        var environment: [(String, JSONValue)] = []
        for part in parts {
            switch part {
            case .requestHeader(let name): requestHeaders.append((name.lowercased(), r.requestHeader(name).map(JSONValue.string) ?? .null))
            case .responseHeader(let name): responseHeaders.append((name.lowercased(), r.responseHeader(name).map(JSONValue.string) ?? .null))
            case .environment(let name): environment.append((name, r.environ(name).map(JSONValue.string) ?? .null))
            case .literal, .atom: break
            }
        }
        if !requestHeaders.isEmpty { fields.append(("request_headers", .object(requestHeaders))) }
        if !responseHeaders.isEmpty { fields.append(("response_headers", .object(responseHeaders))) }
        if !environment.isEmpty { fields.append(("environment", .object(environment))) }
        return JSONValue.object(fields).rendered
    }
}
