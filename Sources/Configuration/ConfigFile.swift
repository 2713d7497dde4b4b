/// The config file: `key = value` lines; `#` starts a comment; keys are setting names (`-` or `_`);
/// values may be double-quoted (`\"`, `\\` escapes); a list setting may be given on several lines.
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
                problems.append(ConfigError(origin: origin, "expected 'key = value', got '\(line)'"))
                continue
            }
            let key = String(line[..<equals]).trimmingSpaces
            guard let setting = Registry.setting(named: key) else {
                problems.append(ConfigError(origin: origin, "unknown setting '\(key)'\(suggestion(for: key))"))
                continue
            }
            do {
                let value = try parseValue(String(line[line.index(after: equals)...]).trimmingSpaces, origin: origin)
                try setting.apply(value, to: &scratch, origin: origin)
                out.append(Assignment(setting: setting, value: value, origin: origin))
            } catch {
                problems.append(error)
            }
        }
        if !problems.isEmpty { throw ConfigError(collecting: problems) }
        return out
    }

    static func parseValue(_ text: String, origin: String) throws(ConfigError) -> String {
        guard text.hasPrefix("\"") else {
            // An unquoted value ends at a comment introduced by whitespace and '#'.
            var previous: Character = " "
            for index in text.indices {
                if text[index] == "#", previous == " " || previous == "\t" {
                    return String(text[..<index]).trimmingSpaces
                }
                previous = text[index]
            }
            return text
        }
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
            } else if c == "\"" {
                let rest = String(text[index...]).trimmingSpaces
                guard rest.isEmpty || rest.hasPrefix("#") else {
                    throw ConfigError(origin: origin, "unexpected text after the closing quote: '\(rest)'")
                }
                return value
            } else {
                value.append(c)
            }
        }
        throw ConfigError(origin: origin, "missing closing quote")
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
