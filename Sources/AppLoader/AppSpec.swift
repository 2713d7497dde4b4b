/// `MODULE:SYMBOL`, `MODULE` (symbol `application`) or `PATH/libNAME.so:SYMBOL`.
public struct AppSpec: Sendable, Equatable, CustomStringConvertible {
    public static let defaultSymbol = "application"

    public let module: String
    public let symbol: String
    /// Set when the spec names a file rather than a module.
    public let path: String?

    public struct Invalid: Error, CustomStringConvertible {
        public let description: String
    }

    public init(parsing text: String) throws(Invalid) {
        var target = Substring(text)
        var symbol = Self.defaultSymbol
        if let colon = text.lastIndex(of: ":") {
            target = text[..<colon]
            symbol = String(text[text.index(after: colon)...])
            guard !symbol.isEmpty else { throw Invalid(description: "'\(text)': nothing after ':' (expected MODULE:SYMBOL)") }
            guard symbol.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw Invalid(description: "'\(text)': '\(symbol)' is not a C symbol name")
            }
        }
        guard !target.isEmpty else { throw Invalid(description: "'\(text)': no module before ':' (expected MODULE:SYMBOL)") }
        self.symbol = symbol
        if target.contains("/") || target.hasSuffix(".so") {
            path = String(target)
            let file = target.split(separator: "/").last.map(String.init) ?? String(target)
            var name = Substring(file)
            if name.hasPrefix("lib") { name = name.dropFirst(3) }
            if let dot = name.firstIndex(of: ".") { name = name[..<dot] }
            module = String(name)
        } else {
            path = nil
            module = String(target)
            guard module.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                throw Invalid(description: "'\(text)': '\(module)' is not a module name")
            }
        }
    }

    public var libraryName: String { "lib\(module).so" }

    public var description: String { "\(path ?? module):\(symbol)" }
}
