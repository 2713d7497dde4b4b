import Glibc

/// An HTTP version; only 1.0 and 1.1 are served.
public struct Version: Sendable, Equatable, CustomStringConvertible {
    public let major: UInt8
    public let minor: UInt8
    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }
    public static let http10 = Version(major: 1, minor: 0)
    public static let http11 = Version(major: 1, minor: 1)
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// A request method; the few the server treats specially have constants.
public struct Method: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let name: String
    public init(_ name: String) { self.name = name }
    public static let get = Method("GET")
    public static let head = Method("HEAD")
    public static let post = Method("POST")
    public static let options = Method("OPTIONS")
    public static let connect = Method("CONNECT")
    public var description: String { name }
}

/// How the request body is delimited (RFC 9112 §6.3).
public enum BodyFraming: Sendable, Equatable {
    case none
    case length(Int64)
    case chunked
}

/// A parsed request head: its fields' offsets and a copy of its bytes, decoded on demand.
///
/// One allocation: the offsets and the bytes live in the tail of one object, so a request costs
/// one object for its head and the connection's input buffer stays with the connection for the
/// next request. A reference to that object: a head passes through the machine, the connection,
/// the exchange and the access log, and a copy is one retain.
///
/// `@unchecked Sendable`: the object is written only by the parser, before it returns the head;
/// from then on it is immutable, so any thread may read it.
public struct RequestHead: @unchecked Sendable {
    @usableFromInline final class Storage: ManagedBuffer<Layout, Field> {}
    @usableFromInline let storage: Storage

    /// Offsets into `bytes`, kept in 32 bits (a head is bounded by `Limits`, far below 4 GiB): a
    /// request holds one per field for its lifetime.
    public struct Field: Sendable, Equatable {
        @usableFromInline let nameStart, nameEnd, valueStart, valueEnd: UInt32
        @inlinable public var name: Range<Int> { Int(nameStart)..<Int(nameEnd) }
        @inlinable public var value: Range<Int> { Int(valueStart)..<Int(valueEnd) }

        @inlinable public init(name: Range<Int>, value: Range<Int>) {
            nameStart = UInt32(name.lowerBound)
            nameEnd = UInt32(name.upperBound)
            valueStart = UInt32(value.lowerBound)
            valueEnd = UInt32(value.upperBound)
        }
    }

    /// What the object holds before its tail: the tail is `fieldCapacity` fields, then the bytes.
    /// (`@usableFromInline`, with the readers below `@inlinable`: the worker reads a head several
    /// times per request, and a call across modules for each read costs more than the read.)
    @usableFromInline struct Layout {
        @usableFromInline var byteCount: UInt32
        @usableFromInline var fieldCount: UInt32
        @usableFromInline let fieldCapacity: UInt32
        @usableFromInline let byteCapacity: UInt32
        @usableFromInline var methodStart: UInt32 = 0, methodEnd: UInt32 = 0, targetStart: UInt32 = 0, targetEnd: UInt32 = 0
        @usableFromInline var framing: BodyFraming = .none
        @usableFromInline var version: Version = .http11
        @usableFromInline var keepAlive = false
        @usableFromInline var expectsContinue = false
    }

    /// A head holding a copy of `bytes` and room for `fieldCapacity` fields and `spareBytes` more
    /// bytes; the parser fills in the rest.
    static func make(copying bytes: UnsafeBufferPointer<UInt8>, fieldCapacity: Int, spareBytes: Int = 0) -> RequestHead {
        let byteCapacity = bytes.count + spareBytes
        let fieldStride = MemoryLayout<Field>.stride
        let tail = fieldCapacity + (byteCapacity + fieldStride - 1) / fieldStride
        let made = Storage.create(minimumCapacity: tail) { _ in
            Layout(byteCount: UInt32(bytes.count), fieldCount: 0, fieldCapacity: UInt32(fieldCapacity), byteCapacity: UInt32(byteCapacity))
        }
        let storage = unsafeDowncast(made, to: Storage.self)
        storage.withUnsafeMutablePointerToElements { elements in
            let start = UnsafeMutableRawPointer(elements + fieldCapacity).bindMemory(to: UInt8.self, capacity: byteCapacity)
            if let base = bytes.baseAddress { start.initialize(from: base, count: bytes.count) }
        }
        return RequestHead(storage: storage)
    }

    /// A head with nothing in it (a placeholder).
    static func empty() -> RequestHead {
        make(copying: UnsafeBufferPointer(start: nil, count: 0), fieldCapacity: 0)
    }

    /// The parser's: adds a field (within the room the head was made with).
    func append(_ field: Field) {
        storage.withUnsafeMutablePointers { layout, elements in
            precondition(layout.pointee.fieldCount < layout.pointee.fieldCapacity)
            (elements + Int(layout.pointee.fieldCount)).initialize(to: field)
            layout.pointee.fieldCount += 1
        }
    }

    /// The parser's: replaces field `index`.
    func replaceField(at index: Int, with field: Field) {
        storage.withUnsafeMutablePointers { layout, elements in
            precondition(index < Int(layout.pointee.fieldCount))
            elements[index] = field
        }
    }

    /// The parser's: adds bytes after the head's (within the room it was made with); returns their offsets.
    func appendBytes(_ more: [UInt8]) -> Range<Int> {
        storage.withUnsafeMutablePointers { layout, elements in
            let start = Int(layout.pointee.byteCount)
            precondition(start + more.count <= Int(layout.pointee.byteCapacity))
            let bytes = UnsafeMutableRawPointer(elements + Int(layout.pointee.fieldCapacity)).assumingMemoryBound(to: UInt8.self)
            for (i, byte) in more.enumerated() { bytes[start + i] = byte }
            layout.pointee.byteCount += UInt32(more.count)
            return start..<(start + more.count)
        }
    }

    /// The parser's: the request line's parts and what the fields said.
    func finish(methodRange: Range<Int>, targetRange: Range<Int>, version: Version, framing: BodyFraming,
                keepAlive: Bool, expectsContinue: Bool) {
        storage.withUnsafeMutablePointerToHeader { layout in
            layout.pointee.methodStart = UInt32(methodRange.lowerBound)
            layout.pointee.methodEnd = UInt32(methodRange.upperBound)
            layout.pointee.targetStart = UInt32(targetRange.lowerBound)
            layout.pointee.targetEnd = UInt32(targetRange.upperBound)
            layout.pointee.version = version
            layout.pointee.framing = framing
            layout.pointee.keepAlive = keepAlive
            layout.pointee.expectsContinue = expectsContinue
        }
    }

    /// The head's bytes, borrowed for the call.
    @inlinable
    public func withBytes<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutablePointers { layout, elements in
            let bytes = UnsafeRawPointer(elements + Int(layout.pointee.fieldCapacity)).assumingMemoryBound(to: UInt8.self)
            return try body(UnsafeBufferPointer(start: bytes, count: Int(layout.pointee.byteCount)))
        }
    }

    /// The fields, borrowed for the call.
    @inlinable
    public func withFields<R>(_ body: (UnsafeBufferPointer<Field>) throws -> R) rethrows -> R {
        try storage.withUnsafeMutablePointers { layout, elements in
            try body(UnsafeBufferPointer(start: elements, count: Int(layout.pointee.fieldCount)))
        }
    }

    /// The head's bytes as a collection (for a copy or a slice; `withBytes` borrows them).
    public var bytes: Bytes { Bytes(head: self) }
    /// The fields, in order, without the ones dropped (names with `_` under the default setting).
    public var fields: Fields { Fields(head: self) }

    public struct Bytes: RandomAccessCollection, Sendable {
        let head: RequestHead
        public var startIndex: Int { 0 }
        public var endIndex: Int { head.withLayout { Int($0.byteCount) } }
        public subscript(position: Int) -> UInt8 {
            precondition(position >= 0 && position < endIndex, "index out of range")
            return head.withBytes { $0[position] }
        }
        public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R? {
            try head.withBytes(body)
        }
    }

    public struct Fields: RandomAccessCollection, Sendable {
        let head: RequestHead
        public var startIndex: Int { 0 }
        public var endIndex: Int { head.withLayout { Int($0.fieldCount) } }
        public subscript(position: Int) -> Field {
            precondition(position >= 0 && position < endIndex, "index out of range")
            return head.withFields { $0[position] }
        }
    }

    /// Reads the layout through its address: `ManagedBuffer.header`, a class's stored property,
    /// would cost a dynamic exclusivity check per access.
    @inlinable
    func withLayout<R>(_ body: (Layout) -> R) -> R {
        storage.withUnsafeMutablePointerToHeader { body($0.pointee) }
    }

    @inlinable public var framing: BodyFraming { withLayout { $0.framing } }
    @inlinable public var version: Version { withLayout { $0.version } }
    /// Whether the connection may serve another request after this one (before the response says otherwise).
    @inlinable public var keepAlive: Bool { withLayout { $0.keepAlive } }
    /// `Expect: 100-continue` on HTTP/1.1.
    @inlinable public var expectsContinue: Bool { withLayout { $0.expectsContinue } }

    @inlinable public var methodRange: Range<Int> { withLayout { Int($0.methodStart)..<Int($0.methodEnd) } }
    @inlinable public var targetRange: Range<Int> { withLayout { Int($0.targetStart)..<Int($0.targetEnd) } }

    public var method: Method { Method(string(methodRange)) }
    public var target: String { string(targetRange) }

    /// Whether the method is `name` (methods are case-sensitive, RFC 9110 §9.1), without making a string.
    public func isMethod(_ name: StaticString) -> Bool {
        let range = methodRange
        guard range.count == name.utf8CodeUnitCount else { return false }
        return withBytes { memcmp($0.baseAddress! + range.lowerBound, name.utf8Start, range.count) == 0 }
    }

    public func string(_ range: Range<Int>) -> String {
        withBytes { String(decoding: UnsafeBufferPointer(rebasing: $0[range]), as: UTF8.self) }
    }

    /// The first value of a field, by case-insensitive name.
    public func field(_ name: String) -> String? {
        let lower = name.utf8.map(ASCII.lower)
        let found = withFields { fields in
            withBytes { bytes in fields.first { ASCII.equalsIgnoringCase(UnsafeBufferPointer(rebasing: bytes[$0.name]), lower) } }
        }
        return found.map { string($0.value) }
    }

    /// The head as name/value strings, in order.
    public var headers: [(String, String)] {
        fields.map { (string($0.name), string($0.value)) }
    }

    public var hasBody: Bool {
        switch framing {
        case .none: false
        case .length(let n): n > 0
        case .chunked: true
        }
    }
}

enum ASCII {
    static let cr: UInt8 = 13
    static let lf: UInt8 = 10
    static let space: UInt8 = 32
    static let tab: UInt8 = 9
    static let colon: UInt8 = 58

    /// tchar (RFC 9110 §5.6.2) as a set of 128 bits: DIGIT, ALPHA and !#$%&'*+-.^_`|~.
    static let tokenLow: UInt64 = 0x03FF_6CFA_0000_0000
    static let tokenHigh: UInt64 = 0x57FF_FFFF_C7FF_FFFE

    @inline(__always) static func isToken(_ c: UInt8) -> Bool {
        c < 64 ? (tokenLow >> UInt64(c)) & 1 != 0 : c < 128 && (tokenHigh >> UInt64(c - 64)) & 1 != 0
    }
    /// field-vchar or SP/HTAB; obs-text (0x80–0xFF) is allowed, CTLs and DEL are not.
    @inline(__always) static func isFieldValueByte(_ c: UInt8) -> Bool {
        c == tab || (c >= 0x20 && c != 0x7F)
    }
    /// Whether every byte of a field value is a field-vchar, SP or HTAB (obs-text allowed; RFC 9110
    /// §5.5), in a request's fields and a response's alike: eight bytes at a time while none is
    /// below 0x20 or DEL, then byte by byte.
    static func isFieldValue(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = value.baseAddress else { return true }
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var i = 0
        while i + 8 <= value.count {
            let word = UnsafeRawPointer(base + i).loadUnaligned(as: UInt64.self)
            // A byte below 0x20 (a control; HTAB among them) or equal to 0x7F (DEL) sets its high bit here.
            let below = (word &- ones &* 0x20) & ~word & highs
            let del = word ^ (ones &* 0x7F)
            let isDel = (del &- ones) & ~del & highs
            if below | isDel != 0 { break }
            i += 8
        }
        while i < value.count {
            if !isFieldValueByte(value[i]) { return false }
            i += 1
        }
        return true
    }

    @inline(__always) static func isHexDigit(_ c: UInt8) -> Bool {
        (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102)
    }
    @inline(__always) static func lower(_ c: UInt8) -> UInt8 {
        (c >= 65 && c <= 90) ? c | 0x20 : c
    }

    static func equalsIgnoringCase<C: Collection>(_ a: C, _ lowered: [UInt8]) -> Bool where C.Element == UInt8 {
        guard a.count == lowered.count else { return false }
        var i = 0
        for c in a {
            if lower(c) != lowered[i] { return false }
            i += 1
        }
        return true
    }
}
