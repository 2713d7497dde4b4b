extension Settings {
    /// The atoms of `access_log_format` that the access log renders (Gunicorn's, as documented in
    /// the registry); `{name}i`, `{name}o` and `{name}e` name headers and variables.
    public static let accessLogAtoms: Set<String> = [
        "h", "l", "u", "t", "r", "m", "U", "q", "H", "s", "B", "b", "f", "a", "T", "M", "D", "L", "p",
    ]

    /// Atoms in `access_log_format` the access log does not know (each would print `-`), in order.
    public var unknownAccessLogAtoms: [String] {
        var unknown: [String] = []
        var rest = Substring(accessLogFormat)
        while let start = rest.firstRange(of: "%(") {
            let after = rest[start.upperBound...]
            guard let close = after.firstIndex(of: ")"), after[after.index(after: close)...].hasPrefix("s") else {
                rest = after
                continue
            }
            let name = String(after[..<close])
            let isField = name.hasPrefix("{") && ["}i", "}o", "}e"].contains { name.hasSuffix($0) }
            if !isField, !Self.accessLogAtoms.contains(name), !unknown.contains(name) { unknown.append(name) }
            rest = after[after.index(close, offsetBy: 2)...]
        }
        return unknown
    }

    /// Problems worth a warning when the master starts or reloads: valid settings that do not do
    /// what they seem to.
    public var startupWarnings: [String] {
        var warnings: [String] = []
        let unknown = unknownAccessLogAtoms
        if accessLog != nil, !unknown.isEmpty {
            let atoms = unknown.map { "%(\($0))s" }.joined(separator: ", ")
            warnings.append("access_log_format: unknown atom(s) \(atoms) will print '-' (see arbiter --help for the atoms)")
        }
        return warnings
    }
}
