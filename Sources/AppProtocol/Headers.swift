import HTTP1

/// HTTP header fields: ordered, duplicates kept, names compared case-insensitively.
///
/// Stored as one contiguous byte buffer plus offsets, so copying a request's head costs one allocation
/// and names and values are decoded only when asked for.
public struct Headers: Sendable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// Offsets into `storage`: the head parser's field type, kept in 32 bits (a request holds one
    /// per field for its lifetime).
    typealias Entry = RequestHead.Field

    /// Fields the application built or changed: their bytes and offsets.
    var storage: [UInt8] = []
    var entries: [Entry] = []
    /// The object of the received request whose fields these are, which holds their offsets and
    /// bytes after the rest of the request (one allocation per request for all of it); nil for
    /// built fields. Changing them copies them into `storage` and `entries` first (`materialize`).
    var received: Received?

    public init() {}

    public init(dictionaryLiteral elements: (String, String)...) {
        for (name, value) in elements { add(name, value) }
    }

    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs { add(name, value) }
    }

    /// A copy of a request's C field views (without the rest of a request: `Request(copying:)`
    /// keeps both in one object).
    static func copying(_ fields: UnsafeBufferPointer<CHeader>) -> Headers {
        Received.make(fields, request: .none).headers
    }

    init(fieldByField fields: UnsafeBufferPointer<CHeader>) {
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

    /// A received request in one object: its line, peer and body (`Request.Line`) and the counts,
    /// then in the tail its fields' offsets, then the bytes they index. `Request` holds it, and so
    /// do its headers: one allocation per request for all of it. Made once and never changed, so
    /// copies on any thread may read it (hence `@unchecked`: `ManagedBuffer` is not `Sendable`).
    struct Received: @unchecked Sendable {
        final class Storage: ManagedBuffer<Head, Entry> {
            deinit {
                _ = withUnsafeMutablePointers { head, elements in elements.deinitialize(count: head.pointee.entries) }
            }
        }

        struct Head {
            let entries: Int
            /// The fields' bytes; after them in the tail, `addresses` (see `address`).
            let bytes: Int
            /// The lengths of the client's and the server's address text, kept as bytes after the
            /// fields' and decoded only when asked for (most handlers never ask).
            let addresses: (remote: Int32, server: Int32)
            let request: Request.Line
        }

        let storage: Storage

        /// `request` with the fields of `views`. A server passes fields that lie in order in one
        /// buffer (the head as received): the span from the first name to the last value is copied
        /// into the object at once and the offsets taken from it. Fields anywhere else are copied
        /// one by one into headers of their own (`Request.Line.builtHeaders`).
        static func make(_ views: UnsafeBufferPointer<CHeader>, request: consuming Request.Line,
                         addresses: (remote: UnsafeBufferPointer<UInt8>, server: UnsafeBufferPointer<UInt8>) = (.init(start: nil, count: 0), .init(start: nil, count: 0))
        ) -> Received {
            guard let span = inOrderSpan(views) else {
                request.builtHeaders = Headers(fieldByField: views)
                return make(entries: 0, span: UnsafeBufferPointer(start: nil, count: 0), addresses: addresses, request: request) { _ in }
            }
            return make(entries: views.count, span: span, addresses: addresses, request: request) { elements in
                let first = span.baseAddress!
                for (index, field) in views.enumerated() {
                    let name = field.name.base! - first, value = field.value.base! - first
                    (elements + index).initialize(to: Entry(name: name..<(name + field.name.length), value: value..<(value + field.value.length)))
                }
            }
        }

        /// A request made in code, with headers it built.
        static func make(request: consuming Request.Line) -> Received {
            let none = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
            return make(entries: 0, span: none, addresses: (none, none), request: request) { _ in }
        }

        private static func make(entries: Int, span: UnsafeBufferPointer<UInt8>,
                                 addresses: (remote: UnsafeBufferPointer<UInt8>, server: UnsafeBufferPointer<UInt8>),
                                 request: consuming Request.Line, _ initializeEntries: (UnsafeMutablePointer<Entry>) -> Void) -> Received {
            let stride = MemoryLayout<Entry>.stride
            let byteCount = span.count + addresses.remote.count + addresses.server.count
            // Moved into the object, not copied (a copy would retain each of its strings).
            var head: Head? = Head(entries: entries, bytes: span.count,
                                   addresses: (Int32(addresses.remote.count), Int32(addresses.server.count)), request: request)
            let made = Storage.create(minimumCapacity: entries + (byteCount + stride - 1) / stride) { _ in head.take()! }
            made.withUnsafeMutablePointers { head, elements in
                initializeEntries(elements)
                var to = UnsafeMutableRawPointer(mutating: bytes(head, elements))
                func append(_ part: UnsafeBufferPointer<UInt8>) {
                    if let base = part.baseAddress { to.copyMemory(from: base, byteCount: part.count) }
                    to += part.count
                }
                append(span)
                append(addresses.remote)
                append(addresses.server)
            }
            return Received(storage: unsafeDowncast(made, to: Storage.self))
        }

        /// The client's (`remote`) or the server's address as text, from the bytes kept after the
        /// fields' (empty for a request made in code, whose `Request.Line` holds them).
        func address(remote: Bool) -> String {
            storage.withUnsafeMutablePointers { head, elements in
                let (remoteLength, serverLength) = (Int(head.pointee.addresses.remote), Int(head.pointee.addresses.server))
                let start = Self.bytes(head, elements) + head.pointee.bytes
                let text = remote ? UnsafeBufferPointer(start: start, count: remoteLength)
                    : UnsafeBufferPointer(start: start + remoteLength, count: serverLength)
                return String(decoding: text, as: UTF8.self)
            }
        }

        /// The span from the first name to the last value, when every field lies in it in order.
        private static func inOrderSpan(_ views: UnsafeBufferPointer<CHeader>) -> UnsafeBufferPointer<UInt8>? {
            guard let first = views.first?.name.base, let lastField = views.last, let last = lastField.value.base else { return nil }
            let end = last + lastField.value.length
            guard first <= end else { return nil }
            var previousEnd = first
            for field in views {
                guard let name = field.name.base, let value = field.value.base, name >= previousEnd,
                      value >= name + field.name.length, value + field.value.length <= end
                else { return nil }
                previousEnd = value + field.value.length
            }
            return UnsafeBufferPointer(start: first, count: end - first)
        }

        /// Reads the head through its address, where a read of one field copies that field only
        /// (`ManagedBuffer.header`, a class's stored property, would also cost a dynamic
        /// exclusivity check per access).
        @inline(__always)
        func withHead<R>(_ body: (UnsafeMutablePointer<Head>) -> R) -> R {
            storage.withUnsafeMutablePointerToHeader(body)
        }

        /// The headers: the ones the request was made with, or the fields in this object.
        var headers: Headers {
            if let built = withHead({ $0.pointee.request.builtHeaders }) { return built }
            var headers = Headers()
            headers.received = self
            return headers
        }

        /// Borrows the bytes and the entries.
        @inline(__always)
        func withParts<R>(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<Entry>) throws -> R) rethrows -> R {
            try storage.withUnsafeMutablePointers { head, elements in
                try body(UnsafeBufferPointer(start: Self.bytes(head, elements), count: head.pointee.bytes),
                         UnsafeBufferPointer(start: elements, count: head.pointee.entries))
            }
        }

        /// Where the tail's bytes start (the fields', then the addresses'): after the entries.
        @inline(__always)
        private static func bytes(_ head: UnsafeMutablePointer<Head>, _ elements: UnsafeMutablePointer<Entry>) -> UnsafePointer<UInt8> {
            UnsafeRawPointer(elements + head.pointee.entries).assumingMemoryBound(to: UInt8.self)
        }
    }

    /// Borrows the fields' bytes and offsets, received or built (every read goes through here).
    @inline(__always)
    func withParts<R>(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<Entry>) throws -> R) rethrows -> R {
        if let received { return try received.withParts(body) }
        return try storage.withUnsafeBufferPointer { bytes in try entries.withUnsafeBufferPointer { try body(bytes, $0) } }
    }

    /// Received fields become built ones before they change.
    private mutating func materialize() {
        guard let received else { return }
        (storage, entries) = received.withParts { (Array($0), Array($1)) }
        self.received = nil
    }

    public var count: Int { withParts { $1.count } }
    public var isEmpty: Bool { count == 0 }

    /// The first value for `name`, or nil. Setting it replaces every field of that name with one
    /// (`headers["Cache-Control"] = "no-store"`); setting nil removes them. Use `add` to keep
    /// duplicates (`Set-Cookie`).
    public subscript(name: String) -> String? {
        get {
            withParts { bytes, entries in
                entries.first { Self.matches($0, name, in: bytes) }.map { Self.string($0.value, in: bytes) }
            }
        }
        set {
            if let newValue { set(name, newValue) } else { remove(name) }
        }
    }

    /// Every value for `name`, in order.
    public func values(for name: String) -> [String] {
        withParts { bytes, entries in
            entries.filter { Self.matches($0, name, in: bytes) }.map { Self.string($0.value, in: bytes) }
        }
    }

    public func contains(_ name: String) -> Bool {
        withParts { bytes, entries in entries.contains { Self.matches($0, name, in: bytes) } }
    }

    /// Whether a field is named `first` or `second` (lowercase literals), in one pass: names the
    /// server itself looks for in every response, compared in place.
    func contains(_ first: StaticString, or second: StaticString) -> Bool {
        withParts { bytes, entries in
            entries.contains { entry in
                let name = UnsafeBufferPointer(rebasing: bytes[entry.name])
                return ResponseEncoder.equalsIgnoringCase(name, first) || ResponseEncoder.equalsIgnoringCase(name, second)
            }
        }
    }

    /// Appends a field (keeping any existing ones of that name).
    public mutating func add(_ name: String, _ value: String) {
        materialize()
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
        guard contains(name) else { return }
        materialize()
        let storage = self.storage
        storage.withUnsafeBufferPointer { bytes in entries.removeAll { Self.matches($0, name, in: bytes) } }
    }

    public func makeIterator() -> AnyIterator<(name: String, value: String)> {
        var index = 0
        return AnyIterator {
            withParts { bytes, entries in
                guard index < entries.count else { return nil }
                defer { index += 1 }
                return (Self.string(entries[index].name, in: bytes), Self.string(entries[index].value, in: bytes))
            }
        }
    }

    public var description: String {
        map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    private static func string(_ range: Range<Int>, in bytes: UnsafeBufferPointer<UInt8>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }

    /// Case-insensitive name comparison in place (no temporary arrays).
    @inline(__always)
    private static func matches(_ entry: Entry, _ key: String, in bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let utf8 = key.utf8
        guard entry.name.count == utf8.count else { return false }
        var i = entry.name.lowerBound
        for k in utf8 {
            if lower(bytes[i]) != lower(k) { return false }
            i += 1
        }
        return true
    }

    private static func lower(_ c: UInt8) -> UInt8 { (c >= 65 && c <= 90) ? c | 0x20 : c }

    /// Calls `body` with C views of every field (valid only during the call).
    func withCHeaders<R>(_ body: (UnsafeBufferPointer<CHeader>) throws -> R) rethrows -> R {
        // The views live for the call only: on the stack when they are few (every response).
        try withUnsafeTemporaryAllocation(of: CHeader.self, capacity: count) { views in
            withParts { bytes, entries in
                let base = bytes.baseAddress
                for (index, entry) in entries.enumerated() {
                    views.initializeElement(at: index, to: CHeader(
                        name: CBytes(base: base.map { $0 + entry.name.lowerBound }, length: entry.name.count),
                        value: CBytes(base: base.map { $0 + entry.value.lowerBound }, length: entry.value.count)))
                }
            }
            // The views point into this value's storage, which `self` holds for the call.
            return try body(UnsafeBufferPointer(views))
        }
    }
}
