import Glibc

/// Incremental parser of a request head (RFC 9112 §2–§7), strict by design.
///
/// Feed it the connection's buffered bytes each time more arrive; it remembers how far it has
/// searched for the end of the head and where the line being received starts, so a client
/// trickling bytes costs linear time, and each line is checked as it arrives.
public struct HeadParser: Sendable {
    public enum Result: Sendable {
        case incomplete
        /// `consumed` bytes of the buffer belong to the head (including leading empty lines).
        case complete(RequestHead, consumed: Int)
        case failure(HTTPError)
    }

    /// How far an incomplete head has been searched: offsets into the buffer (a head is at most
    /// `Limits.headCeiling` bytes), both 0 before a head and after one is complete.
    struct Progress: Sendable, Equatable {
        /// Bytes searched for the end of the head.
        var searched: UInt32 = 0
        /// Where the line being received starts.
        var lineStart: UInt32 = 0
        /// Lines ended so far (the request line, then field lines): the head's field count, known
        /// without another pass over its bytes.
        var linesEnded: UInt32 = 0
    }

    public var limits: Limits
    private(set) var progress = Progress()

    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// A parser resuming where one with these limits left off.
    init(limits: Limits, progress: Progress) {
        self.limits = limits
        self.progress = progress
    }

    /// Forget progress, to parse another buffer from its start. A complete head or a failure
    /// resets it already.
    public mutating func reset() { progress = Progress() }

    public mutating func parse(_ buffer: [UInt8]) -> Result {
        buffer.withUnsafeBufferPointer { parse($0) }
    }

    /// Parses `buffer` from its start; a complete head is copied out of it (into one object with
    /// its fields), so the buffer can be reused at once.
    public mutating func parse(_ buffer: UnsafeBufferPointer<UInt8>) -> Result {
        switch locate(buffer) {
        case .incomplete: return .incomplete
        case .failure(let error): return .failure(error)
        case .head(let start, let end, let fieldLines):
            progress = Progress()
            do {
                let head = try Self.parseHead(UnsafeBufferPointer(rebasing: buffer[start..<end]), fieldLines: fieldLines, limits: limits)
                return .complete(head, consumed: end + 2)
            } catch {
                return .failure(error as! HTTPError)
            }
        }
    }

    private enum Located {
        case incomplete
        case failure(HTTPError)
        /// The head is `start..<end`, followed by its final CRLF; `fieldLines` lines follow its
        /// request line.
        case head(start: Int, end: Int, fieldLines: Int)
    }

    private mutating func locate(_ buffer: UnsafeBufferPointer<UInt8>) -> Located {
        // RFC 9112 §2.2: ignore empty lines before the request line (a few, from sloppy clients).
        var start = 0
        while start + 1 < buffer.count, start < 8, buffer[start] == ASCII.cr, buffer[start + 1] == ASCII.lf {
            start += 2
        }
        do throws(HTTPError) {
            guard let (end, lines) = try findEndOfHead(buffer, from: start) else {
                if buffer.count - start > limits.maxHeadSize {
                    return .failure(.fieldsTooLarge("request head larger than \(limits.maxHeadSize) bytes"))
                }
                return .incomplete
            }
            return .head(start: start, end: end, fieldLines: lines - 1)
        } catch {
            progress = Progress()
            return .failure(error)
        }
    }

    /// Index of the CR that ends the head (the second CRLF of CRLFCRLF) and the number of lines
    /// before it (the request line's included), or nil while incomplete.
    /// Each line is checked when its LF arrives, and the line still arriving as it grows: a bare LF
    /// is refused (RFC 9112 §2.2 lets a server refuse it; waiting for a CRLF that never comes would
    /// only end in a 408), and so is a line over its limit, at once instead of once the head ends.
    private mutating func findEndOfHead(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int) throws(HTTPError) -> (end: Int, lines: Int)? {
        let n = buffer.count
        var p = max(start, Int(progress.searched))
        var lineStart = max(start, Int(progress.lineStart))
        var lines = Int(progress.linesEnded)
        while p < n {
            guard let found = Self.firstLF(in: buffer, from: p) else { break }
            p = found
            guard p > start, buffer[p - 1] == ASCII.cr else { throw .badRequest("bare LF in the request head") }
            // An empty line after the request line ends the head.
            if p - 1 == lineStart && lineStart > start { return (p - 1, lines) }
            try checkLine(length: p - 1 - lineStart, isRequestLine: lineStart == start)
            lines += 1
            lineStart = p + 1
            p += 1
        }
        // The line still arriving, without the CR that may end it.
        try checkLine(length: n - lineStart - (n > lineStart && buffer[n - 1] == ASCII.cr ? 1 : 0), isRequestLine: lineStart == start)
        progress = Progress(searched: UInt32(truncatingIfNeeded: n), lineStart: UInt32(truncatingIfNeeded: lineStart),
                            linesEnded: UInt32(truncatingIfNeeded: lines))
        return nil
    }

    /// The limit of one line of the head: the request line's, or a field line's.
    private func checkLine(length: Int, isRequestLine: Bool) throws(HTTPError) {
        if isRequestLine {
            if length > limits.effectiveRequestLine {
                throw .uriTooLong("request line longer than \(limits.effectiveRequestLine) bytes")
            }
        } else if length > limits.fieldSize {
            throw .fieldsTooLarge("header line longer than \(limits.fieldSize) bytes")
        }
    }

    /// Parses the head in `b`: the request line and field lines, each ending in CRLF, without the
    /// final CRLF, `fieldLines` of them after the request line. `findEndOfHead` has checked each
    /// line's length and that every LF ends a CRLF, and counted the lines.
    static func parseHead(_ b: UnsafeBufferPointer<UInt8>, fieldLines lines: Int, limits: Limits) throws -> RequestHead {
        let lineEnd = endOfLine(b, from: 0)
        let (methodRange, targetRange, version) = try parseRequestLine(b, 0..<lineEnd)
        // Every field line counts against the limit, also those dropped below.
        if lines > limits.fields {
            throw HTTPError.fieldsTooLarge("more than \(limits.fields) header fields")
        }

        // As many fields as lines: the head lives as long as its request, so a fixed reserve
        // would hold unused room through every long-running request. A target not in origin
        // form may need a Host field added (below): room for one more, and its name.
        let originForm = b[targetRange.lowerBound] == UInt8(ascii: "/")
        let head = RequestHead.make(copying: b, fieldCapacity: lines + (originForm ? 0 : 1),
                                    spareBytes: originForm ? 0 : FieldSemantics.host.count)
        var semantics = FieldSemantics()
        var lineStart = lineEnd + 2
        while lineStart < b.count {
            let end = endOfLine(b, from: lineStart)
            let field = try parseField(b, lineStart..<end)
            lineStart = end + 2
            if b[field.name].contains(UInt8(ascii: "_")) {
                switch limits.underscoreHeaders {
                case .drop: continue
                case .refuse: throw HTTPError.badRequest("header name with underscore")
                case .allow: break
                }
            }
            try semantics.observe(b, field)
            head.append(field)
        }
        let method = b[methodRange]
        let framing = try semantics.framing(version: version)
        // RFC 9112 §3.2: 400 for HTTP/1.1 without Host, and for any request with more than one.
        if semantics.hostCount > 1 { throw HTTPError.badRequest("more than one Host field") }
        if version == .http11 && semantics.hostCount == 0 {
            throw HTTPError.badRequest("HTTP/1.1 request without Host")
        }
        let target = try RequestTarget.parse(UnsafeBufferPointer(rebasing: b[targetRange]), method: UnsafeBufferPointer(rebasing: method))
        // RFC 9112 §3.2.2: with an absolute-form target, the target's authority is the request's
        // host and the Host field's value is ignored: the field carries the authority instead
        // (and is added, naming bytes appended after the head, when an HTTP/1.0 request has none).
        if target.form == .absolute, let authority = target.authority {
            let value = (targetRange.lowerBound + authority.lowerBound)..<(targetRange.lowerBound + authority.upperBound)
            if semantics.hostCount == 0 {
                head.append(RequestHead.Field(name: head.appendBytes(FieldSemantics.host), value: value))
            }
            for (i, field) in head.fields.enumerated()
            where head.withBytes({ ASCII.equalsIgnoringCase(UnsafeBufferPointer(rebasing: $0[field.name]), FieldSemantics.host) }) {
                head.replaceField(at: i, with: RequestHead.Field(name: field.name, value: value))
            }
        }
        head.finish(
            methodRange: methodRange, targetRange: targetRange, version: version, framing: framing,
            keepAlive: version == .http11 ? !semantics.connectionClose : semantics.connectionKeepAlive && !semantics.connectionClose,
            expectsContinue: version == .http11 && semantics.expectContinue)
        return head
    }

    /// The CR of the CRLF that ends the line starting at `start` (each line of a located head
    /// ends in one, and every LF in it ends a CRLF).
    private static func endOfLine(_ b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        firstLF(in: b, from: start)! - 1
    }

    /// The index of the first LF at or after `start` (`start` < `b.count`), found by libc's
    /// vectorised `memchr`: a byte-at-a-time loop cost about 8 instructions per byte of every head.
    private static func firstLF(in b: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        guard let found = memchr(b.baseAddress! + start, Int32(ASCII.lf), b.count - start) else { return nil }
        return b.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
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
        // Visible ASCII, and bytes of 0x80 and above: a target typed with raw UTF-8 (`/q=€`, as curl
        // sends it) is taken as nginx and Gunicorn take it, though RFC 9112 §3.2 lets a server
        // refuse it. Controls, spaces and DEL end or break the line.
        while i < line.upperBound, b[i] > 0x20, b[i] != 0x7F { i += 1 }
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
        guard ASCII.isFieldValue(UnsafeBufferPointer(rebasing: b[i..<end])) else {
            throw HTTPError.badRequest("invalid character in header value")
        }
        return RequestHead.Field(name: name, value: i..<end)
    }
}
