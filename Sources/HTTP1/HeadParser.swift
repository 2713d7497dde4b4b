/// Incremental parser of a request head (RFC 9112 §2–§7), strict by design.
///
/// Feed it the connection's buffered bytes each time more arrive; it remembers how far it has
/// searched for the end of the head, so a client trickling bytes costs linear time.
public struct HeadParser: Sendable {
    public enum Result: Sendable {
        case incomplete
        /// `consumed` bytes of the buffer belong to the head (including leading empty lines).
        case complete(RequestHead, consumed: Int)
        case failure(HTTPError)
    }

    public var limits: Limits
    /// How far the end of the head has been searched for.
    private(set) var searched = 0

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// A parser resuming where one with these limits left off (`searched`).
    init(limits: Limits, searched: Int) {
        self.limits = limits
        self.searched = searched
    }

    /// Forget progress (call after a head was consumed).
    public mutating func reset() { searched = 0 }

    public mutating func parse(_ buffer: [UInt8]) -> Result {
        buffer.withUnsafeBufferPointer { parse($0) }
    }

    public mutating func parse(_ buffer: UnsafeBufferPointer<UInt8>) -> Result {
        switch locate(buffer) {
        case .incomplete: return .incomplete
        case .failure(let error): return .failure(error)
        case .head(let start, let end):
            return make(Array(UnsafeBufferPointer(rebasing: buffer[start..<end])), count: end - start, consumed: end + 2)
        }
    }

    /// Parses `input` from its start. When it holds exactly one head and nothing else, the head keeps
    /// `input`'s storage instead of a copy and `input` is left empty (`consumed` is then all of it):
    /// a connection's input usually holds just that head, and a head lives as long as its request,
    /// so the request holds one buffer, not two, and no copy is made.
    public mutating func parse(taking input: inout [UInt8]) -> Result {
        switch input.withUnsafeBufferPointer({ locate($0) }) {
        case .incomplete: return .incomplete
        case .failure(let error): return .failure(error)
        case .head(let start, let end):
            // Only a buffer without much spare room is kept for the request's lifetime.
            guard start == 0, end + 2 == input.count, input.capacity <= input.count + 64 else {
                return make(Array(input[start..<end]), count: end - start, consumed: end + 2)
            }
            var bytes: [UInt8] = []
            swap(&bytes, &input)  // the head's bytes are the storage's only owner
            let result = make(bytes, count: end, consumed: end + 2)
            if case .failure = result { swap(&bytes, &input) }
            return result
        }
    }

    private enum Located {
        case incomplete
        case failure(HTTPError)
        /// The head is `start..<end`, followed by its final CRLF.
        case head(start: Int, end: Int)
    }

    private mutating func locate(_ buffer: UnsafeBufferPointer<UInt8>) -> Located {
        // RFC 9112 §2.2: ignore empty lines before the request line (a few, from sloppy clients).
        var start = 0
        while start + 1 < buffer.count, start < 8, buffer[start] == ASCII.cr, buffer[start + 1] == ASCII.lf {
            start += 2
        }
        guard let end = findEndOfHead(buffer, from: start) else {
            if let error = tooLarge(buffer, start: start) { return .failure(error) }
            return .incomplete
        }
        return .head(start: start, end: end)
    }

    private mutating func make(_ bytes: [UInt8], count: Int, consumed: Int) -> Result {
        do {
            let head = try Self.parseHead(bytes, count: count, limits: limits)
            searched = 0
            return .complete(head, consumed: consumed)
        } catch {
            return .failure(error as! HTTPError)
        }
    }

    /// Index of the CRLF that ends the head (the second of CRLFCRLF), or nil.
    private mutating func findEndOfHead(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        var i = max(start, searched - 3)
        let n = buffer.count
        while i + 3 < n {
            if buffer[i + 3] != ASCII.lf { i += 1; continue }
            if buffer[i] == ASCII.cr, buffer[i + 1] == ASCII.lf, buffer[i + 2] == ASCII.cr {
                return i + 2
            }
            i += 1
        }
        // A head with no fields: the request line's CRLF directly followed by CRLF is found above;
        // anything shorter is incomplete.
        searched = max(start, n)
        return nil
    }

    /// Why an incomplete head is refused already, if it is.
    private func tooLarge(_ buffer: UnsafeBufferPointer<UInt8>, start: Int) -> HTTPError? {
        let lineLimit = limits.effectiveRequestLine
        var lineEnd: Int?
        var i = start
        while i + 1 < buffer.count, i - start <= lineLimit + 1 {
            if buffer[i] == ASCII.cr && buffer[i + 1] == ASCII.lf { lineEnd = i; break }
            i += 1
        }
        if lineEnd == nil, buffer.count - start > lineLimit + 1 {
            return .uriTooLong("request line longer than \(lineLimit) bytes")
        }
        if let lineEnd, lineEnd - start > lineLimit {
            return .uriTooLong("request line longer than \(lineLimit) bytes")
        }
        if buffer.count - start > limits.maxHeadSize {
            return .fieldsTooLarge("request head larger than \(limits.maxHeadSize) bytes")
        }
        return nil
    }

    /// Parses the head in the first `count` bytes of `bytes`: the request line and field lines, each
    /// ending in CRLF, without the final CRLF (which `bytes` may hold after them).
    static func parseHead(_ bytes: [UInt8], count: Int, limits: Limits) throws -> RequestHead {
        return try bytes.withUnsafeBufferPointer { all in
            let b = UnsafeBufferPointer(rebasing: all[..<count])
            var lineEnd = 0
            while !(b[lineEnd] == ASCII.cr && b[lineEnd + 1] == ASCII.lf) { lineEnd += 1 }
            if lineEnd > limits.effectiveRequestLine {
                throw HTTPError.uriTooLong("request line longer than \(limits.effectiveRequestLine) bytes")
            }
            let (methodRange, targetRange, version) = try parseRequestLine(b, 0..<lineEnd)

            // As many fields as lines (each ends in LF): the head lives as long as its request, so
            // a fixed reserve would hold unused room through every long-running request.
            var lines = 0
            for byte in UnsafeBufferPointer(rebasing: b[(lineEnd + 2)...]) where byte == ASCII.lf { lines += 1 }
            var fields: [RequestHead.Field] = []
            fields.reserveCapacity(lines)
            var semantics = FieldSemantics()
            var fieldLines = 0
            var lineStart = lineEnd + 2
            while lineStart < b.count {
                var end = lineStart
                while !(b[end] == ASCII.cr && b[end + 1] == ASCII.lf) { end += 1 }
                if end - lineStart > limits.fieldSize {
                    throw HTTPError.fieldsTooLarge("header line longer than \(limits.fieldSize) bytes")
                }
                let field = try parseField(b, lineStart..<end)
                lineStart = end + 2
                // Every field line counts against the limit, also those dropped below.
                fieldLines += 1
                if fieldLines > limits.fields {
                    throw HTTPError.fieldsTooLarge("more than \(limits.fields) header fields")
                }
                if b[field.name].contains(UInt8(ascii: "_")) {
                    switch limits.underscoreHeaders {
                    case .drop: continue
                    case .refuse: throw HTTPError.badRequest("header name with underscore")
                    case .allow: break
                    }
                }
                try semantics.observe(b, field)
                fields.append(field)
            }
            let method = b[methodRange]
            let framing = try semantics.framing(version: version)
            // RFC 9112 §3.2: 400 for HTTP/1.1 without Host, and for any request with more than one.
            if semantics.hostCount > 1 { throw HTTPError.badRequest("more than one Host field") }
            if version == .http11 && semantics.hostCount == 0 {
                throw HTTPError.badRequest("HTTP/1.1 request without Host")
            }
            _ = try RequestTarget.parse(UnsafeBufferPointer(rebasing: b[targetRange]), method: UnsafeBufferPointer(rebasing: method))
            let keepAlive = version == .http11 ? !semantics.connectionClose : semantics.connectionKeepAlive && !semantics.connectionClose
            return RequestHead(
                bytes: bytes, methodRange: methodRange, targetRange: targetRange, version: version,
                fields: fields, framing: framing, keepAlive: keepAlive,
                expectsContinue: version == .http11 && semantics.expectContinue)
        }
    }

    static func parseRequestLine(_ b: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) throws
        -> (Range<Int>, Range<Int>, Version)
    {
        var i = line.lowerBound
        while i < line.upperBound, ASCII.isToken(b[i]) { i += 1 }
        let method = line.lowerBound..<i
        guard !method.isEmpty, i < line.upperBound, b[i] == ASCII.space else {
            throw HTTPError.badRequest("malformed request method")
        }
        i += 1
        let targetStart = i
        while i < line.upperBound, b[i] > 0x20, b[i] < 0x7F { i += 1 }
        let target = targetStart..<i
        guard !target.isEmpty, i < line.upperBound, b[i] == ASCII.space else {
            throw HTTPError.badRequest("malformed request target")
        }
        i += 1
        let v = i..<line.upperBound
        guard v.count == 8, b[v.lowerBound] == UInt8(ascii: "H"), b[v.lowerBound + 1] == UInt8(ascii: "T"),
            b[v.lowerBound + 2] == UInt8(ascii: "T"), b[v.lowerBound + 3] == UInt8(ascii: "P"),
            b[v.lowerBound + 4] == UInt8(ascii: "/"),
            b[v.lowerBound + 6] == UInt8(ascii: "."),
            let major = digit(b[v.lowerBound + 5]), let minor = digit(b[v.lowerBound + 7])
        else {
            throw HTTPError.badRequest("malformed HTTP version")
        }
        guard major == 1 else {
            throw HTTPError.versionNotSupported("HTTP/\(major).\(minor) is not supported")
        }
        // RFC 9110 §2.5: a higher minor version is served as the highest this server conforms to.
        return (method, target, Version(major: major, minor: min(minor, 1)))
    }

    private static func digit(_ c: UInt8) -> UInt8? {
        c >= 48 && c <= 57 ? c - 48 : nil
    }

    static func parseField(_ b: UnsafeBufferPointer<UInt8>, _ line: Range<Int>) throws -> RequestHead.Field {
        if line.isEmpty { throw HTTPError.badRequest("empty header line") }
        if b[line.lowerBound] == ASCII.space || b[line.lowerBound] == ASCII.tab {
            throw HTTPError.badRequest("obsolete line folding")
        }
        var i = line.lowerBound
        while i < line.upperBound, ASCII.isToken(b[i]) { i += 1 }
        guard i > line.lowerBound, i < line.upperBound, b[i] == ASCII.colon else {
            throw HTTPError.badRequest("malformed header name")
        }
        let name = line.lowerBound..<i
        i += 1
        while i < line.upperBound, b[i] == ASCII.space || b[i] == ASCII.tab { i += 1 }
        var end = line.upperBound
        while end > i, b[end - 1] == ASCII.space || b[end - 1] == ASCII.tab { end -= 1 }
        for j in i..<end where !ASCII.isFieldValueByte(b[j]) {
            throw HTTPError.badRequest("invalid character in header value")
        }
        return RequestHead.Field(name: name, value: i..<end)
    }
}
