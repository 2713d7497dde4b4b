/// One `setting = value` from some layer, with where it was written (for error messages).
public struct Assignment: Sendable {
    public let setting: Setting
    public let value: String
    public let origin: String
}

/// Applies layers in order of precedence. Within one layer a list setting accumulates; a later layer
/// that names a list setting replaces it. Every bad value is reported, not only the first.
func apply(_ layers: [[Assignment]], to base: Settings) throws(ConfigError) -> Settings {
    var settings = base
    var problems: [ConfigError] = []
    for layer in layers {
        var touchedLists: Set<String> = []
        for assignment in layer {
            let setting = assignment.setting
            if let reset = setting.reset, touchedLists.insert(setting.name).inserted {
                reset(&settings)
            }
            do {
                try setting.apply(assignment.value, to: &settings, origin: assignment.origin)
            } catch {
                problems.append(error)
            }
        }
    }
    if !problems.isEmpty { throw ConfigError(collecting: problems) }
    return settings
}
