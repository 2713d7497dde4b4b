/// The config file: `key = value` lines; `#` starts a comment; keys are setting names (`-` or `_`);
/// values may be quoted, `"…"` or `'…'` (`\"`, `\'`, `\\` escapes); a list setting may be given on
/// several lines or as one bracketed list, `bind = ["127.0.0.1:8000", "unix:/run/app.sock"]`, so the
/// simple assignments of a `gunicorn.conf.py` read the same.
public enum ConfigFile {
    /// The file's assignments; every problem in it (syntax, unknown keys, bad values) is reported
    /// together, one line each.
    public static func parse(_ text: String, path: String) throws(ConfigError) -> [Assignment] {
        var out: [Assignment] = []
        var problems: [ConfigError] = []
        var scratch = Settings()
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let origin = "\(path):\(number)"
            let line = String(rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine).trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                let python = ["import ", "from ", "def ", "if ", "for "].contains { line.hasPrefix($0) }
                problems.append(ConfigError(origin: origin, "expected 'key = value', got '\(line)'"
                    + (python ? " (a config file is key = value lines, not Python)" : "")))
                continue
            }
            let key = String(line[..<equals]).trimmingSpaces
            guard let setting = Registry.setting(named: key) else {
                problems.append(ConfigError(origin: origin, "unknown setting '\(key)'\(suggestion(for: key))"))
                continue
            }
            do throws(ConfigError) {
                let text = String(line[line.index(after: equals)...]).trimmingSpaces
                let values = try parseValues(text, origin: origin)
                if values.count != 1 && setting.kind != .list {
                    throw ConfigError(origin: origin, "\(key) takes one value, not a list: \(text)")
                }
                for value in values {
                    try setting.apply(value, to: &scratch, origin: origin)
                    out.append(Assignment(setting: setting, value: value, origin: origin))
                }
            } catch {
                problems.append(error)
            }
        }
        if !problems.isEmpty { throw ConfigError(collecting: problems) }
        return out
    }

    /// A value as written: bare, quoted, or a bracketed list of quoted values (its items).
    static func parseValues(_ text: String, origin: String) throws(ConfigError) -> [String] {
        guard text.hasPrefix("[") else {
            if text.hasPrefix("\"") || text.hasPrefix("'") {
                let (value, rest) = try quoted(text[...], origin: origin)
                try expectEnd(rest, origin: origin)
                return [value]
            }
            return [bare(text)]
        }
        var values: [String] = []
        var rest = text.dropFirst().drop { $0 == " " || $0 == "\t" }
        if rest.hasPrefix("]") {
            try expectEnd(rest.dropFirst(), origin: origin)
            return values
        }
        while true {
            guard rest.hasPrefix("\"") || rest.hasPrefix("'") else {
                throw ConfigError(origin: origin, "a list holds quoted values: [\"a\", \"b\"]")
            }
            let (value, after) = try quoted(rest, origin: origin)
            values.append(value)
            rest = after.drop { $0 == " " || $0 == "\t" }
            if rest.hasPrefix(",") {
                rest = rest.dropFirst().drop { $0 == " " || $0 == "\t" }
                if rest.hasPrefix("]") { break }  // a trailing comma
                continue
            }
            guard rest.hasPrefix("]") else { throw ConfigError(origin: origin, "missing ']' or ',' in the list") }
            break
        }
        try expectEnd(rest.dropFirst(), origin: origin)
        return values
    }

    /// An unquoted value ends at a comment introduced by whitespace and '#'.
    private static func bare(_ text: String) -> String {
        var previous: Character = " "
        for index in text.indices {
            if text[index] == "#", previous == " " || previous == "\t" {
                return String(text[..<index]).trimmingSpaces
            }
            previous = text[index]
        }
        return text
    }

    /// The string quoted at the start of `text` (with `"` or `'`), and what follows it.
    private static func quoted(_ text: Substring, origin: String) throws(ConfigError) -> (String, Substring) {
        let quote = text.first!
        var value = ""
        var escaped = false
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let c = text[index]
            index = text.index(after: index)
            if escaped {
                value.append(c == "n" ? "\n" : c == "t" ? "\t" : c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else if c == quote {
                return (value, text[index...])
            } else {
                value.append(c)
            }
        }
        throw ConfigError(origin: origin, "missing closing quote")
    }

    /// Nothing but a comment may follow a value.
    private static func expectEnd(_ rest: Substring, origin: String) throws(ConfigError) {
        let rest = String(rest).trimmingSpaces
        guard rest.isEmpty || rest.hasPrefix("#") else {
            throw ConfigError(origin: origin, "unexpected text after the value: '\(rest)'")
        }
    }

    /// The settings as a config file that `parse` reads back to the same values.
    public static func render(_ settings: Settings) -> String {
        var lines: [String] = []
        for section in Registry.sections {
            lines.append("# \(section)")
            for setting in Registry.all where setting.section == section {
                let values = setting.values(of: settings)
                if values.isEmpty { lines.append("# \(setting.name) =") }
                for value in values { lines.append("\(setting.name) = \(quote(value))") }
            }
            lines.append("")
        }
        return lines.joined(separator: "\n")
    }

    static func quote(_ value: String) -> String {
        let plain = !value.isEmpty && !value.contains("\"") && !value.contains("#") && !value.contains("\\")
            && !value.contains("\n") && value == value.trimmingSpaces
        if plain { return value }
        var out = "\""
        for c in value {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    static func suggestion(for key: String) -> String {
        let normalized = key.replacingDashes.lowercased()
        let near = Registry.all.map(\.name).filter { $0.hasPrefix(String(normalized.prefix(4))) }
        return near.isEmpty ? "" : " (did you mean \(near.map { "'\($0)'" }.joined(separator: " or "))?)"
    }
}
