import HTTP1

/// HTTP header fields: ordered, duplicates kept, names compared case-insensitively.
///
/// Stored as one contiguous byte buffer plus offsets, so copying a request's head costs one allocation
/// and names and values are decoded only when asked for.
public struct Headers: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// Offsets into `storage`: the head parser's field type, kept in 32 bits (a request holds one
    /// per field for its lifetime).
    typealias Entry = RequestHead.Field

    var storage: [UInt8] = []
    var entries: [Entry] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { add(name, value) }
    }

    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs { add(name, value) }
    }

    /// A copy of a request's C field views. A server passes fields that lie in order in one buffer
    /// (the head as received): the span from the first name to the last value is copied at once and
    /// the offsets taken from it. Fields anywhere else are copied one by one.
    static func copying(_ fields: UnsafeBufferPointer<CHeader>) -> Headers {
        guard let first = fields.first?.name.base, let lastField = fields.last, let last = lastField.value.base else {
            return Headers(fieldByField: fields)
        }
        let end = last + lastField.value.length
        var inOrder = first <= end
        var previousEnd = first
        for field in fields {
            guard let name = field.name.base, let value = field.value.base, name >= previousEnd,
                  value >= name + field.name.length, value + field.value.length <= end
            else {
                inOrder = false
                break
            }
            previousEnd = value + field.value.length
        }
        guard inOrder else { return Headers(fieldByField: fields) }
        var headers = Headers()
        headers.storage = Array(UnsafeBufferPointer(start: first, count: end - first))
        headers.entries = fields.map { field in
            let name = field.name.base! - first, value = field.value.base! - first
            return Entry(name: name..<(name + field.name.length), value: value..<(value + field.value.length))
        }
        return headers
    }

    private init(fieldByField fields: UnsafeBufferPointer<CHeader>) {
        var total = 0
        for field in fields { total += field.name.length + field.value.length }
        storage.reserveCapacity(total)
        entries.reserveCapacity(fields.count)
        for field in fields {
            let nameStart = storage.count
            if let base = field.name.base { storage.append(contentsOf: UnsafeBufferPointer(start: base, count: field.name.length)) }
            let valueStart = storage.count
            if let base = field.value.base { storage.append(contentsOf: UnsafeBufferPointer(start: base, count: field.value.length)) }
            entries.append(Entry(name: nameStart..<valueStart, value: valueStart..<storage.count))
        }
    }

    public var count: Int { entries.count }
    public var isEmpty: Bool { entries.isEmpty }

    /// The first value for `name`, or nil. Setting it replaces every field of that name with one
    /// (`headers["Cache-Control"] = "no-store"`); setting nil removes them. Use `add` to keep
    /// duplicates (`Set-Cookie`).
    public subscript(name: String) -> String? {
        get {
            guard let entry = entries.first(where: { matches($0, name) }) else { return nil }
            return string(entry.value)
        }
        set {
            if let newValue { set(name, newValue) } else { remove(name) }
        }
    }

    /// Every value for `name`, in order.
    public func values(for name: String) -> [String] {
        entries.filter { matches($0, name) }.map { string($0.value) }
    }

    public func contains(_ name: String) -> Bool {
        entries.contains { matches($0, name) }
    }

    /// Whether a field is named `first` or `second`, in one pass.
    func contains(_ first: String, or second: String) -> Bool {
        entries.contains { matches($0, first) || matches($0, second) }
    }

    /// Appends a field (keeping any existing ones of that name).
    public mutating func add(_ name: String, _ value: String) {
        let nameStart = storage.count
        storage.append(contentsOf: name.utf8)
        let valueStart = storage.count
        storage.append(contentsOf: value.utf8)
        entries.append(Entry(name: nameStart..<valueStart, value: valueStart..<storage.count))
    }

    /// Replaces all fields of that name with one.
    public mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    public mutating func remove(_ name: String) {
        let storage = self.storage
        entries.removeAll { Self.matches($0, name, in: storage) }
    }

    public func makeIterator() -> AnyIterator<(name: String, value: String)> {
        var index = 0
        return AnyIterator {
            guard index < entries.count else { return nil }
            defer { index += 1 }
            return (string(entries[index].name), string(entries[index].value))
        }
    }

    public var description: String {
        map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    func string(_ range: Range<Int>) -> String { String(decoding: storage[range], as: UTF8.self) }

    private func matches(_ entry: Entry, _ key: String) -> Bool {
        Self.matches(entry, key, in: storage)
    }

    /// Case-insensitive name comparison in place (no temporary arrays).
    private static func matches(_ entry: Entry, _ key: String, in storage: [UInt8]) -> Bool {
        let utf8 = key.utf8
        guard entry.name.count == utf8.count else { return false }
        var i = entry.name.lowerBound
        for k in utf8 {
            if lower(storage[i]) != lower(k) { return false }
            i += 1
        }
        return true
    }

    private static func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c | 0x20 : c }

    /// Calls `body` with C views of every field (valid only during the call).
    func withCHeaders<R>(_ body: (UnsafeBufferPointer<CHeader>) throws -> R) rethrows -> R {
        try storage.withUnsafeBufferPointer { bytes in
            let base = bytes.baseAddress
            // The views live for the call only: on the stack when they are few (every response).
            return try withUnsafeTemporaryAllocation(of: CHeader.self, capacity: entries.count) { views in
                for (index, entry) in entries.enumerated() {
                    views.initializeElement(at: index, to: CHeader(
                        name: CBytes(base: base.map { $0 + entry.name.lowerBound }, length: entry.name.count),
                        value: CBytes(base: base.map { $0 + entry.value.lowerBound }, length: entry.value.count)))
                }
                return try body(UnsafeBufferPointer(views))
            }
        }
    }
}
