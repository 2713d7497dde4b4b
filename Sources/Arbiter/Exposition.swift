/// Text in the Prometheus exposition format (version 0.0.4): families with `# HELP` and `# TYPE`,
/// then their samples, label values escaped (`\\`, `\"`, `\n`).
struct Exposition {
    static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    enum Kind: String {
        case counter, gauge, histogram
    }

    private(set) var text = ""

    /// Starts a family; its samples follow.
    mutating func family(_ name: String, _ kind: Kind, _ help: String) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(kind.rawValue)\n"
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
        line(name, labels, String(value))
    }

    mutating func sample(_ name: String, _ labels: [(String, String)], _ value: Double) {
        line(name, labels, Self.format(value))
    }

    mutating func sample(_ name: String, _ value: UInt64) { line(name, [], String(value)) }

    mutating func sample(_ name: String, _ value: Double) { line(name, [], Self.format(value)) }

    private mutating func line(_ name: String, _ labels: [(String, String)], _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " " + value + "\n"
    }

    /// A counter with one sample.
    mutating func counter(_ name: String, _ help: String, _ value: UInt64) {
        family(name, .counter, help)
        sample(name, value)
    }

    mutating func counter(_ name: String, _ help: String, _ value: Double) {
        family(name, .counter, help)
        sample(name, value)
    }

    /// A gauge with one sample.
    mutating func gauge(_ name: String, _ help: String, _ value: Double) {
        family(name, .gauge, help)
        sample(name, value)
    }

    /// A histogram from per-bucket counts (not cumulative; one more than `bounds`, the last past
    /// every bound) and the sum of the observations.
    mutating func histogram(_ name: String, _ help: String, bounds: [Double], counts: [UInt64], sum: Double) {
        family(name, .histogram, help)
        var cumulative: UInt64 = 0
        for (i, bound) in bounds.enumerated() {
            cumulative &+= counts[i]
            sample(name + "_bucket", [("le", Self.format(bound))], cumulative)
        }
        cumulative &+= counts[bounds.count]
        sample(name + "_bucket", [("le", "+Inf")], cumulative)
        sample(name + "_sum", sum)
        sample(name + "_count", cumulative)
    }

    /// Go's float syntax as Prometheus reads it: integers without a fraction, `+Inf`, `NaN`.
    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(value)
    }

    static func escapeLabel(_ value: String) -> String {
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    static func escapeHelp(_ value: String) -> String {
        value.replacingOccurrences("\\", "\\\\").replacingOccurrences("\n", "\\n")
    }
}

extension String {
    func replacingOccurrences(_ target: Character, _ replacement: String) -> String {
        var out = ""
        for c in self { if c == target { out += replacement } else { out.append(c) } }
        return out
    }
}
