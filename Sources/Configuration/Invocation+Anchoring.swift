import Platform

extension Invocation {
    /// The command line with a relative config path (`-c shop.conf`, from the command line or
    /// `ARBITER_CMD_ARGS`) made absolute against `directory`, the directory arbiter started in.
    ///
    /// A reload (HUP) re-reads the file after `chdir`, and a new master after USR2 starts in the
    /// `chdir` directory: both must find the file the first start read. The absolute path is added
    /// as `--config=PATH` before any `--` (the last `--config` wins).
    public static func anchoringConfigPath(
        _ arguments: [String], environment: [String: String], directory: String
    ) -> [String] {
        var path = (try? CommandLineOptions.parse(arguments, origin: "command line"))?.configPath
        if path == nil, let text = environment["ARBITER_CMD_ARGS"], let split = try? splitArguments(text) {
            path = (try? CommandLineOptions.parse(split, origin: "ARBITER_CMD_ARGS"))?.configPath
        }
        guard let path, !path.hasPrefix("/") else { return arguments }
        var anchored = arguments
        anchored.insert("--config=\(Files.absolute(path, base: directory))", at: arguments.firstIndex(of: "--") ?? arguments.count)
        return anchored
    }
}
