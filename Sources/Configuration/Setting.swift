/// A bad value for a setting, with where it came from.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    public let origin: String
    public let message: String

    public init(origin: String, _ message: String) {
        self.origin = origin
        self.message = message
    }

    public var description: String { origin.isEmpty ? message : "\(origin): \(message)" }

    /// Several problems reported at once, one per line (a config file is checked to the end, so
    /// one run names every mistake in it).
    public init(collecting errors: [ConfigError]) {
        self.init(origin: errors.count == 1 ? errors[0].origin : "", errors.count == 1 ? errors[0].message
            : errors.map(\.description).joined(separator: "\n"))
    }
}

/// One entry in the settings registry: names, parsing, rendering and documentation.
public struct Setting: Sendable {
    public enum Kind: Sendable, Equatable {
        case integer, number, string, boolean, list
        case choice([String])
    }

    /// The config-file key, e.g. `workers`.
    public let name: String
    /// Command-line flags, e.g. `-w`, `--workers`.
    public let flags: [String]
    public let section: String
    public let kind: Kind
    public let help: String
    /// Extra environment variables that set the default (documentation only; see `Settings.defaults`).
    public let environment: [String]
    let assign: @Sendable (inout Settings, String) throws(Invalid) -> Void
    let read: @Sendable (Settings) -> [String]
    /// Empties a list setting (a layer that names it replaces the lower layers' values).
    var reset: (@Sendable (inout Settings) -> Void)?

    struct Invalid: Error {
        let reason: String
    }

    /// The value as config-file lines (one per list element).
    public func values(of settings: Settings) -> [String] { read(settings) }

    func apply(_ text: String, to settings: inout Settings, origin: String) throws(ConfigError) {
        do {
            try assign(&settings, text)
        } catch {
            throw ConfigError(origin: origin, "\(name) = '\(text)': \(error.reason)")
        }
    }

    var takesValue: Bool { kind != .boolean }
}

extension Setting {
    static func integer(
        _ name: String, _ flags: [String], section: String, min: Int = 0, env: [String] = [], help: String,
        _ keyPath: WritableKeyPath<Settings, Int> & Sendable
    ) -> Setting {
        Setting(
            name: name, flags: flags, section: section, kind: .integer, help: help, environment: env,
            assign: { (settings, text) throws(Invalid) in
                guard let value = Int(text.trimmingSpaces) else { throw Invalid(reason: "not a whole number") }
                guard value >= min else { throw Invalid(reason: "must be at least \(min)") }
                settings[keyPath: keyPath] = value
            },
            read: { [String($0[keyPath: keyPath])] })
    }

    static func seconds(
        _ name: String, _ flags: [String], section: String, help: String,
        _ keyPath: WritableKeyPath<Settings, Double> & Sendable
    ) -> Setting {
        Setting(
            name: name, flags: flags, section: section, kind: .number, help: help, environment: [],
            assign: { (settings, text) throws(Invalid) in
                guard let value = Double(text.trimmingSpaces), value >= 0, value.isFinite else {
                    throw Invalid(reason: "not a number of seconds (0 or more)")
                }
                settings[keyPath: keyPath] = value
            },
            read: { [Self.formatSeconds($0[keyPath: keyPath])] })
    }

    static func string(
        _ name: String, _ flags: [String], section: String, env: [String] = [], help: String,
        _ keyPath: WritableKeyPath<Settings, String?> & Sendable
    ) -> Setting {
        Setting(
            name: name, flags: flags, section: section, kind: .string, help: help, environment: env,
            assign: { (settings, text) throws(Invalid) in
                settings[keyPath: keyPath] = text.isEmpty ? nil : text
            },
            read: { $0[keyPath: keyPath].map { [$0] } ?? [] })
    }

    static func text(
        _ name: String, _ flags: [String], section: String, help: String,
        _ keyPath: WritableKeyPath<Settings, String> & Sendable
    ) -> Setting {
        Setting(
            name: name, flags: flags, section: section, kind: .string, help: help, environment: [],
            assign: { (settings, text) throws(Invalid) in settings[keyPath: keyPath] = text },
            read: { [$0[keyPath: keyPath]] })
    }

    static func boolean(
        _ name: String, _ flags: [String], section: String, help: String,
        _ keyPath: WritableKeyPath<Settings, Bool> & Sendable
    ) -> Setting {
        Setting(
            name: name, flags: flags, section: section, kind: .boolean, help: help, environment: [],
            assign: { (settings, text) throws(Invalid) in
                switch text.trimmingSpaces.lowercased() {
                case "true", "yes", "on", "1": settings[keyPath: keyPath] = true
                case "false", "no", "off", "0": settings[keyPath: keyPath] = false
                default: throw Invalid(reason: "not a boolean (true or false)")
                }
            },
            read: { [$0[keyPath: keyPath] ? "true" : "false"] })
    }

    static func list(
        _ name: String, _ flags: [String], section: String, env: [String] = [], help: String,
        validate: @escaping @Sendable (String) -> String? = { _ in nil },
        _ keyPath: WritableKeyPath<Settings, [String]> & Sendable
    ) -> Setting {
        Setting(
            name: name, flags: flags, section: section, kind: .list, help: help, environment: env,
            assign: { (settings, text) throws(Invalid) in
                if let problem = validate(text) { throw Invalid(reason: problem) }
                settings[keyPath: keyPath].append(text)
            },
            read: { $0[keyPath: keyPath] },
            reset: { $0[keyPath: keyPath] = [] })
    }

    /// One of `T`'s raw values; `aliases` are other spellings accepted for them (a peer's, say).
    static func choice<T: RawRepresentable & CaseIterable & Sendable>(
        _ name: String, _ flags: [String], section: String, help: String,
        _ keyPath: WritableKeyPath<Settings, T> & Sendable, aliases: [String: T] = [:]
    ) -> Setting where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        return Setting(
            name: name, flags: flags, section: section, kind: .choice(names), help: help, environment: [],
            assign: { (settings, text) throws(Invalid) in
                guard let value = T(rawValue: text.trimmingSpaces) ?? aliases[text.trimmingSpaces] else {
                    throw Invalid(reason: "must be one of: \(names.joined(separator: ", "))")
                }
                settings[keyPath: keyPath] = value
            },
            read: { [$0[keyPath: keyPath].rawValue] })
    }

    static func formatSeconds(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return String(s)
    }
}
