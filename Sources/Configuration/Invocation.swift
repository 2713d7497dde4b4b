import Platform

/// The settings of one start of arbiter: defaults < config file < `ARBITER_CMD_ARGS` < command line.
public struct Invocation: Sendable {
    public var settings: Settings
    public var action: Action
    public var configPath: String?

    public static func resolve(
        arguments: [String], environment: [String: String],
        readFile: (String) throws -> String = { try Files.readString($0) }
    ) throws(ConfigError) -> Invocation {
        let cli = try CommandLineOptions.parse(arguments, origin: "command line")
        var env = CommandLineOptions()
        if let text = environment["ARBITER_CMD_ARGS"], !text.isEmpty {
            env = try CommandLineOptions.parse(try splitArguments(text), origin: "ARBITER_CMD_ARGS")
        }
        let configPath = cli.configPath ?? env.configPath
        var file: [Assignment] = []
        if let configPath {
            let text: String
            do {
                text = try readFile(configPath)
            } catch {
                throw ConfigError(origin: configPath, "cannot read the config file: \(error)")
            }
            file = try ConfigFile.parse(text, path: configPath)
        }
        let settings = try apply([file, env.assignments, cli.assignments], to: .defaults(environment: environment))
        let action = cli.action != .run ? cli.action : env.action
        return Invocation(settings: settings, action: action, configPath: configPath)
    }

    /// Reads the settings a master wrote for its worker (`ConfigFile.render`).
    public static func workerSettings(_ text: String) throws(ConfigError) -> Settings {
        try apply([ConfigFile.parse(text, path: "worker settings")], to: Settings())
    }
}
