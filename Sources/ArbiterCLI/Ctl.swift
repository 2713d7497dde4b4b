import Arbiter
import Configuration
import Glibc
import Platform

/// `arbiter ctl [--socket PATH] COMMAND [--json]`: one request to a running master's control
/// socket (`--control-socket`), printed as the master answers it.
enum Ctl {
    /// Exit codes: 0 the master did it, 1 it answered with an error, 2 it could not be asked, 3 it
    /// did not answer within `--timeout` (the change may still happen), 64 (EX_USAGE) the command
    /// line is wrong.
    static let refused: Int32 = 1
    static let unreachable: Int32 = 2
    static let noAnswer: Int32 = 3
    static let usageError: Int32 = 64

    static var usage: String {
        var text = """
            usage: arbiter ctl [--socket PATH | -c CONFIG] [--timeout SECONDS] COMMAND [--json]

            Asks the master listening on its control socket (--control-socket). The socket is
            --socket, else $ARBITER_CONTROL_SOCKET, else control_socket in the config file given
            with -c. Commands that change something answer once the change is done.

            """
        for (command, doc) in ControlCommand.usage {
            text += "  " + command.padding(16) + doc + "\n"
        }
        text += """

            --json      reply with one JSON object instead of text
            --timeout   give up after this many seconds (default 300)
            Exit code: 0 done, 1 the master refused or the change failed, 2 the master could not be
            reached, 3 no answer within --timeout (the change may still happen), 64 bad usage.

            """
        return text
    }

    static func run(arguments: [String], environment: [String: String]) -> Int32 {
        var socket = environment["ARBITER_CONTROL_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        var explicitSocket: String?
        var configPath: String?
        var timeout = 300.0
        var words: [String] = []
        var index = 0
        func value(_ flag: String) -> String? {
            if let equals = arguments[index].firstIndex(of: "="), arguments[index].hasPrefix("--") {
                return String(arguments[index][arguments[index].index(after: equals)...])
            }
            index += 1
            return index < arguments.count ? arguments[index] : nil
        }
        while index < arguments.count {
            let argument = arguments[index]
            let flag = argument.split(separator: "=", maxSplits: 1).first.map(String.init) ?? argument
            switch flag {
            case "-h", "--help":
                print(usage, terminator: "")
                return 0
            case "--socket":
                guard let path = value(flag) else { return fail("--socket needs a path") }
                explicitSocket = path
            case "-c", "--config":
                guard let path = value(flag) else { return fail("\(flag) needs a file") }
                configPath = path
            case "--timeout":
                guard let text = value(flag), let seconds = Double(text), seconds > 0 else { return fail("--timeout needs a number of seconds") }
                timeout = seconds
            default:
                words.append(argument)
            }
            index += 1
        }
        if let configPath, explicitSocket == nil {
            do {
                let settings = try Invocation.resolve(arguments: ["-c", configPath], environment: environment).settings
                if let path = settings.controlSocket { socket = path }
            } catch {
                return fail("\(error)")
            }
        }
        guard let path = explicitSocket ?? socket else {
            return fail("no control socket: give --socket PATH (or -c CONFIG, or set ARBITER_CONTROL_SOCKET); the master needs --control-socket PATH")
        }
        guard !words.isEmpty else {
            say(STDERR_FILENO, usage)
            return fail("no command given")
        }
        do throws(ControlCommand.Invalid) {
            _ = try ControlCommand.parse(words.joined(separator: " "))
        } catch {
            return fail(error.description)
        }
        return ask(path: path, request: words.joined(separator: " "), timeout: timeout)
    }

    /// Sends the request line and prints the reply; the master closes the connection after it.
    private static func ask(path: String, request: String, timeout: Double) -> Int32 {
        let fd: Int32
        do {
            fd = try UnixSocket.connect(path: path)
        } catch {
            say(STDERR_FILENO, "arbiter ctl: cannot reach the master at \(path): \(error)\n")
            return unreachable
        }
        defer { Descriptor.close(fd) }
        // The master may answer and close before the request is written (a refused peer): the
        // write then fails, but the answer is there to read.
        signal(SIGPIPE, SIG_IGN)
        try? Descriptor.writeAll(fd, request + "\n")
        var reply: [UInt8] = []
        let deadline = Clock.monotonic() + timeout
        while true {
            let left = deadline - Clock.monotonic()
            guard left > 0 else {
                say(STDERR_FILENO, "arbiter ctl: no complete answer within \(Int(timeout)) s; the change may still happen\n")
                return noAnswer
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(min(left, 3600) * 1000) + 1)
            if ready < 0 && errno == EINTR { continue }
            if ready <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 16384)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            reply += chunk[0..<n]
        }
        guard let newline = reply.firstIndex(of: UInt8(ascii: "\n")) else {
            say(STDERR_FILENO, "arbiter ctl: the master closed the connection without an answer\n")
            return unreachable
        }
        let status = String(decoding: reply[..<newline], as: UTF8.self)
        let body = String(decoding: reply[(newline + 1)...], as: UTF8.self)
        if status == "ok" {
            say(STDOUT_FILENO, body)
            return 0
        }
        // A JSON reply goes to stdout whatever it says, for programs; text errors to stderr.
        if request.split(separator: " ").contains("--json") {
            say(STDOUT_FILENO, body)
        } else {
            say(STDERR_FILENO, "arbiter ctl: \(body)")
        }
        return refused
    }

    /// A wrong command line (or configuration file): nothing was asked.
    private static func fail(_ message: String) -> Int32 {
        say(STDERR_FILENO, "arbiter ctl: \(message)\n")
        return usageError
    }

    private static func say(_ fd: Int32, _ text: String) { try? Descriptor.writeAll(fd, text) }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
