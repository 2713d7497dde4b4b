/// One extension from a `Sec-WebSocket-Extensions` field (RFC 6455 §9.1): a name and its parameters.
struct ExtensionOffer: Sendable, Hashable {
    var name: String
    /// Parameters in order; the value is nil when the parameter has none, unquoted when it was quoted.
    var parameters: [(name: String, value: String?)]

    static func == (lhs: ExtensionOffer, rhs: ExtensionOffer) -> Bool {
        lhs.name == rhs.name && lhs.parameters.elementsEqual(rhs.parameters) { $0.name == $1.name && $0.value == $1.value }
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        for parameter in parameters {
            hasher.combine(parameter.name)
            hasher.combine(parameter.value)
        }
    }

    /// Parses field values (several fields combine as one list, RFC 9110 §5.3). Returns nil when
    /// the syntax is broken (§9.1: extension = token *(";" token ["=" (token | quoted-string)])).
    static func parse(_ values: [String]) -> [ExtensionOffer]? {
        var offers: [ExtensionOffer] = []
        for value in values {
            var scanner = Scanner(Array(value.utf8))
            while true {
                scanner.skipWhitespace()
                if scanner.atEnd { break }
                if scanner.take(UInt8(ascii: ",")) { continue } // empty list elements are allowed (RFC 9110 §5.6.1)
                guard let name = scanner.token() else { return nil }
                var offer = ExtensionOffer(name: name.lowercased(), parameters: [])
                scanner.skipWhitespace()
                while scanner.take(UInt8(ascii: ";")) {
                    scanner.skipWhitespace()
                    guard let parameter = scanner.token() else { return nil }
                    scanner.skipWhitespace()
                    var parameterValue: String?
                    if scanner.take(UInt8(ascii: "=")) {
                        scanner.skipWhitespace()
                        guard let text = scanner.quotedString() ?? scanner.token() else { return nil }
                        parameterValue = text
                        scanner.skipWhitespace()
                    }
                    offer.parameters.append((parameter.lowercased(), parameterValue))
                }
                offers.append(offer)
                if scanner.atEnd { break }
                guard scanner.take(UInt8(ascii: ",")) else { return nil }
            }
        }
        return offers
    }
}

/// Splits a comma-separated field value into trimmed, non-empty elements (RFC 9110 §5.6.1).
func fieldList(_ values: [String]) -> [String] {
    values.flatMap { $0.split(separator: ",") }
        .map { $0.trimmingWhitespace() }
        .filter { !$0.isEmpty }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (OWS, RFC 9110 §5.6.3).
    func trimmingWhitespace() -> String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}

/// A cursor over a field value's bytes.
private struct Scanner {
    let bytes: [UInt8]
    var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var atEnd: Bool { index == bytes.count }

    mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") { index += 1 }
    }

    mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// A token (RFC 9110 §5.6.2), or nil when none starts here.
    mutating func token() -> String? {
        let begin = index
        while index < bytes.count, Self.isTokenCharacter(bytes[index]) { index += 1 }
        return index > begin ? String(decoding: bytes[begin..<index], as: UTF8.self) : nil
    }

    /// A quoted-string's content with escapes removed (RFC 9110 §5.6.4), or nil.
    mutating func quotedString() -> String? {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
        var cursor = index + 1
        var content: [UInt8] = []
        while cursor < bytes.count {
            let byte = bytes[cursor]
            if byte == UInt8(ascii: "\"") {
                index = cursor + 1
                return String(decoding: content, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") {
                cursor += 1
                guard cursor < bytes.count else { return nil }
            }
            content.append(bytes[cursor])
            cursor += 1
        }
        return nil
    }

    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
        }
    }
}
