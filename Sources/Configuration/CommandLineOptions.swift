/// What the command line asks for.
public enum Action: Sendable, Equatable {
    case run
    case help
    case version
    case printConfig
    case checkConfig
    /// `--check-startup`: also run the application's lifespan hooks once.
    case checkStartup
    case settingsReference
}

/// The parsed command line (or `ARBITER_CMD_ARGS`): setting assignments plus the non-setting options.
public struct CommandLineOptions: Sendable {
    public var assignments: [Assignment] = []
    public var configPath: String?
    public var action: Action = .run

    public static func parse(_ arguments: [String], origin: String) throws(ConfigError) -> CommandLineOptions {
        var options = CommandLineOptions()
        var index = 0
        func value(for flag: String, inline: String?) throws(ConfigError) -> String {
            if let inline { return inline }
            index += 1
            guard index < arguments.count else { throw ConfigError(origin: origin, "\(flag) needs a value") }
            let next = arguments[index]
            // Another option is not this one's value (a forgotten value would otherwise swallow
            // it: `--pid --check-config` would serve). `-` alone (stdout) and negative numbers are
            // values; `--flag=-x` passes anything.
            if next.hasPrefix("-") && next != "-" && Double(next) == nil {
                throw ConfigError(origin: origin, "\(flag) needs a value, and the next argument is the option \(next) (write \(flag)=\(next) if that is the value)")
            }
            return next
        }
        while index < arguments.count {
            let argument = arguments[index]
            defer { index += 1 }
            if argument == "--" {
                for rest in arguments[(index + 1)...] { try options.setApp(rest, origin: origin) }
                index = arguments.count
                break
            }
            guard argument.hasPrefix("-"), argument != "-" else {
                try options.setApp(argument, origin: origin)
                continue
            }
            var flag = argument
            var inline: String?
            if argument.hasPrefix("--"), let equals = argument.firstIndex(of: "=") {
                flag = String(argument[..<equals])
                inline = String(argument[argument.index(after: equals)...])
            } else if !argument.hasPrefix("--"), argument.count > 2 {
                flag = String(argument.prefix(2))
                inline = String(argument.dropFirst(2))
            }
            switch flag {
            case "-h", "--help": options.action = .help
            case "-v", "--version": options.action = .version
            case "--print-config": options.action = .printConfig
            case "--check-config": options.action = .checkConfig
            case "--check-startup": options.action = .checkStartup
            case "--settings-reference": options.action = .settingsReference
            case "-c", "--config": options.configPath = try value(for: flag, inline: inline)
            default:
                guard let setting = Registry.setting(flag: flag) else {
                    throw ConfigError(origin: origin, "unknown option '\(flag)'\(Self.hint(for: flag))")
                }
                let text = setting.takesValue ? try value(for: flag, inline: inline) : (inline ?? "true")
                options.assignments.append(Assignment(setting: setting, value: text, origin: "\(origin) \(flag)"))
            }
        }
        return options
    }

    private mutating func setApp(_ spec: String, origin: String) throws(ConfigError) {
        if assignments.contains(where: { $0.setting.name == "app" }) {
            throw ConfigError(origin: origin, "more than one application given ('\(spec)')")
        }
        assignments.append(Assignment(setting: Registry.setting(named: "app")!, value: spec, origin: origin))
    }
}

/// Splits `ARBITER_CMD_ARGS` like a shell: whitespace separates, quotes group, backslash escapes.
public func splitArguments(_ text: String) throws(ConfigError) -> [String] {
    var out: [String] = []
    var current = ""
    var inWord = false
    var quote: Character?
    var escaped = false
    for c in text {
        if escaped {
            current.append(c)
            escaped = false
        } else if c == "\\" && quote != "'" {
            escaped = true
            inWord = true
        } else if let q = quote {
            if c == q { quote = nil } else { current.append(c) }
        } else if c == "\"" || c == "'" {
            quote = c
            inWord = true
        } else if c == " " || c == "\t" || c == "\n" {
            if inWord { out.append(current) }
            current = ""
            inWord = false
        } else {
            current.append(c)
            inWord = true
        }
    }
    if quote != nil { throw ConfigError(origin: "ARBITER_CMD_ARGS", "missing closing quote") }
    if inWord { out.append(current) }
    return out
}

extension CommandLineOptions {
    /// Gunicorn flags arbiter has no use for, and why: a user bringing a Gunicorn command line
    /// learns what to drop instead of guessing.
    static let gunicornOnly: [String: String] = [
        "--worker-tmp-dir": "arbiter's heartbeats live in shared memory, not in files: drop it",
        "--capture-output": "workers write to the error log already: drop it",
        "--reuse-port": "the master binds once and workers share its sockets, so SO_REUSEPORT is not needed: drop it",
        "--log-config": "logging is set with --log-level, --error-logfile, --access-logfile and --log-format",
        "--log-config-dict": "logging is set with --log-level, --error-logfile, --access-logfile and --log-format",
        "--no-sendfile": "arbiter never uses sendfile: drop it",
        "--pythonpath": "the application is a Swift library: --app-path names directories to find it in",
    ]

    /// What to say after "unknown option": why a Gunicorn flag is not here, or the nearest flags.
    static func hint(for flag: String) -> String {
        if let why = gunicornOnly[flag] { return " (a Gunicorn flag: \(why))" }
        func normalized(_ flag: String) -> [Character] { Array(flag.lowercased().filter { $0 != "-" && $0 != "_" }) }
        let name = normalized(flag)
        guard name.count >= 3 else { return " (see arbiter --help)" }
        let near = Registry.all.flatMap(\.flags).filter { candidate in
            guard candidate.hasPrefix("--") else { return false }
            let other = normalized(candidate)
            return editDistance(name, other) <= (name.count <= 4 ? 1 : 2) || (name.count >= 4 && (other.starts(with: name) || name.starts(with: other)))
        }
        guard !near.isEmpty else { return " (see arbiter --help)" }
        return " (did you mean \(Array(Set(near)).sorted().prefix(4).joined(separator: " or "))?)"
    }

    /// Levenshtein distance, for flags a typo away.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }
}
