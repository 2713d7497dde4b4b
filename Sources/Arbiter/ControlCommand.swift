/// One `arbiter ctl` request: a line of words, `COMMAND [ARGUMENT] [--quick] [--json]`.
public struct ControlCommand: Sendable, Equatable {
    public enum Verb: Sendable, Equatable {
        case status
        case workers
        case reload
        case upgrade
        /// `scale N` (absolute), `scale +N` / `scale -N` (relative).
        case scale(ScaleTarget)
        case reopenLogs
        case stop(quick: Bool)
        case config
    }

    public enum ScaleTarget: Sendable, Equatable {
        case absolute(Int)
        case relative(Int)

        /// The worker count this asks for, from `current`.
        public func resolve(from current: Int) -> Int {
            switch self {
            case .absolute(let n): n
            case .relative(let delta): current + delta
            }
        }
    }

    /// A request the master cannot carry out as written.
    public struct Invalid: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    public let verb: Verb
    /// Reply as one JSON object instead of text.
    public let json: Bool

    public init(verb: Verb, json: Bool) {
        self.verb = verb
        self.json = json
    }

    /// The commands and what they do, for `arbiter ctl --help` and the README.
    public static let usage: [(command: String, doc: String)] = [
        ("status", "master pid, generation, uptime, listeners, workers wanted and running, reloads"),
        ("workers", "each worker: slot, pid, generation, age, requests served, memory, and its in-flight requests (method, path, elapsed)"),
        ("reload", "as HUP; answers once the new generation serves (its number) or with the reason it was rolled back"),
        ("upgrade", "as USR2; answers once the new master serves (its pid), or why it failed"),
        ("scale N|+N|-N", "set the worker count; answers once that many workers serve and the extra ones have left"),
        ("reopen-logs", "as USR1: the master and its workers reopen their log files"),
        ("stop [--quick]", "graceful stop as TERM (quick as QUIT); answers as the master exits"),
        ("config", "the effective settings"),
    ]

    /// Parses the words of a request line.
    public static func parse(_ line: String) throws(Invalid) -> ControlCommand {
        var words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        let json = words.contains("--json")
        let quick = words.contains("--quick")
        words.removeAll { $0 == "--json" || $0 == "--quick" }
        guard let name = words.first else { throw Invalid(description: "empty request; commands: \(names)") }
        let arguments = Array(words.dropFirst())
        func noArguments(_ verb: Verb) throws(Invalid) -> ControlCommand {
            guard arguments.isEmpty else { throw Invalid(description: "\(name) takes no argument") }
            guard !quick || name == "stop" else { throw Invalid(description: "--quick goes with stop only") }
            return ControlCommand(verb: verb, json: json)
        }
        switch name {
        case "status": return try noArguments(.status)
        case "workers": return try noArguments(.workers)
        case "reload": return try noArguments(.reload)
        case "upgrade": return try noArguments(.upgrade)
        case "reopen-logs": return try noArguments(.reopenLogs)
        case "config": return try noArguments(.config)
        case "stop":
            guard arguments.isEmpty else { throw Invalid(description: "stop takes no argument but --quick") }
            return ControlCommand(verb: .stop(quick: quick), json: json)
        case "scale":
            guard !quick else { throw Invalid(description: "--quick goes with stop only") }
            guard arguments.count == 1, let target = scaleTarget(arguments[0]) else {
                throw Invalid(description: "scale needs one argument: N, +N or -N, whole numbers (the count stays from 1 to \(MasterStateMachine.maxWorkers))")
            }
            return ControlCommand(verb: .scale(target), json: json)
        default:
            throw Invalid(description: "unknown command '\(name)'; commands: \(names)")
        }
    }

    static var names: String { usage.map { String($0.command.split(separator: " ")[0]) }.joined(separator: ", ") }

    private static func scaleTarget(_ text: String) -> ScaleTarget? {
        if text.hasPrefix("+") || text.hasPrefix("-") {
            guard let n = Int(text.dropFirst()), n >= 0, n < 100_000 else { return nil }
            return .relative(text.hasPrefix("-") ? -n : n)
        }
        guard let n = Int(text), n >= 0, n < 100_000 else { return nil }
        return .absolute(n)
    }
}

extension ControlCommand {
    /// The README's command table (a test keeps them in step).
    public static func markdownTable() -> String {
        var lines = ["| `arbiter ctl` command | what it does |", "| --- | --- |"]
        for (command, doc) in usage { lines.append("| `\(command)` | \(doc) |") }
        return lines.joined(separator: "\n")
    }
}
