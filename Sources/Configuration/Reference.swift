import Supervision

/// The settings reference (docs/settings.md), generated from the registry.
public enum Reference {
    public static func markdown() -> String {
        let defaults = Settings()
        var out = """
            # Settings reference

            Generated from the settings registry by `arbiter --settings-reference`; a test fails when this
            file is stale. Every setting can be given on the command line, in a config file (`-c FILE`,
            `key = value` lines, see `config/arbiter.conf`) or in `ARBITER_CMD_ARGS` (command-line syntax).
            Precedence, lowest first: defaults, config file, `ARBITER_CMD_ARGS`, command line.

            """
        for section in Registry.sections {
            out += "\n## \(section)\n"
            for setting in Registry.all where setting.section == section {
                out += "\n### `\(setting.name)`\n\n"
                if !setting.flags.isEmpty {
                    let value = setting.takesValue ? " \(placeholder(setting))" : ""
                    out += "- Command line: \(setting.flags.map { "`\($0)\(value)`" }.joined(separator: ", "))\n"
                }
                let values = setting.values(of: defaults)
                out += "- Default: \(values.isEmpty ? "none" : values.map { "`\($0)`" }.joined(separator: ", "))\n"
                if case .choice(let names) = setting.kind {
                    out += "- Values: \(names.map { "`\($0)`" }.joined(separator: ", "))\n"
                }
                if !setting.environment.isEmpty {
                    out += "- Environment: \(setting.environment.map { "`\($0)`" }.joined(separator: ", "))\n"
                }
                out += "\n\(setting.help)\n"
            }
        }
        return out
    }

    static func placeholder(_ setting: Setting) -> String {
        switch setting.kind {
        case .integer: "INT"
        case .number: "SECONDS"
        case .choice(let names): "{\(names.joined(separator: ","))}"
        case .list, .string, .boolean: setting.name.uppercased()
        }
    }

    /// `arbiter --help`.
    public static func usage() -> String {
        var out = """
            usage: arbiter [OPTIONS] MODULE:SYMBOL
                   arbiter ctl [--socket PATH] COMMAND [--json]   (see arbiter ctl --help)

            A pre-fork HTTP server for Swift applications: a master process binds the sockets and
            supervises worker processes that load MODULE (libMODULE.so) and serve its SYMBOL.

              -c, --config FILE      read settings from FILE (key = value lines)
              --print-config         print the resolved settings and exit
              --check-config         check the settings and that the application loads, then exit
              --check-startup        also run the application's startup() and shutdown() once, then exit
              -h, --help             show this help
              -v, --version          show the version

            """
        for section in Registry.sections {
            out += "\n\(section):\n"
            for setting in Registry.all where setting.section == section && !setting.flags.isEmpty {
                let value = setting.takesValue ? " \(placeholder(setting))" : ""
                let names = setting.flags.joined(separator: ", ") + value
                var summary = setting.help.firstSentence.replacingOccurrences("`", "")
                let defaults = setting.values(of: Settings())
                if setting.kind != .boolean, !defaults.isEmpty { summary += " [default: \(defaults.joined(separator: ", "))]" }
                out += "  \(names.padding(to: 34))\(summary)\n"
            }
        }
        out += "\n" + MasterSignal.usage()
        return out
    }
}

extension String {
    /// Up to the first period that ends a sentence: outside parentheses and backquotes, and not
    /// the end of `e.g.` or `i.e.`.
    var firstSentence: String {
        var previous: Character = " "
        var depth = 0
        var quoted = false
        var out = ""
        for c in self {
            if previous == ".", c == " ", depth == 0, !quoted, !out.hasSuffix("e.g."), !out.hasSuffix("i.e.") {
                return out
            }
            switch c {
            case "(": depth += 1
            case ")": depth = Swift.max(0, depth - 1)
            case "`": quoted.toggle()
            default: break
            }
            out.append(c)
            previous = c
        }
        return out
    }

    func padding(to width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }

    func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
