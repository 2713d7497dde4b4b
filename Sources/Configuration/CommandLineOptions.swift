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
                    throw ConfigError(origin: origin, "unknown option '\(flag)' (see arbiter --help)")
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
