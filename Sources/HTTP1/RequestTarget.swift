/// A request target's form and where its path and query are (RFC 9112 §3.2): the one place that
/// reads a target, for the parser's checks and the application's `path` and `query`.
public struct RequestTarget: Sendable, Equatable {
    public enum Form: Sendable, Equatable {
        /// `/where?q=now`
        case origin
        /// `http://www.example.org/where?q=now` (scheme case-insensitive, RFC 3986 §3.1)
        case absolute
        /// `www.example.com:80`, for CONNECT
        case authority
        /// `*`, for a server-wide OPTIONS
        case asterisk
    }

    public let form: Form
    /// The path, offsets into the target; empty for an absolute-form target without one, whose
    /// path is `/` (RFC 9112 §3.2.1).
    public let path: Range<Int>
    /// The query after `?`, if any.
    public let query: Range<Int>?
    /// The authority of an absolute-form or authority-form target.
    public let authority: Range<Int>?

    /// Reads `target` (the bytes between the method and the version, already known to be visible
    /// ASCII or bytes of 0x80 and above, raw UTF-8). Throws 400 for a fragment, a malformed or userinfo-carrying authority, an unknown
    /// scheme, a path that percent-decodes to NUL, or a form the method does not allow.
    public static func parse(_ target: UnsafeBufferPointer<UInt8>, method: UnsafeBufferPointer<UInt8>? = nil) throws(HTTPError) -> RequestTarget {
        guard let first = target.first else { throw .badRequest("empty request target") }
        // RFC 9112 §3.2: no request-target form contains a fragment.
        if target.contains(UInt8(ascii: "#")) { throw .badRequest("fragment in request target") }
        let isConnect = method.map { $0.count == 7 && $0.elementsEqual("CONNECT".utf8) } ?? false
        if isConnect { throw .notImplemented("CONNECT is not supported") }
        if first == UInt8(ascii: "/") {
            let (path, query) = try pathAndQuery(target, from: 0)
            return RequestTarget(form: .origin, path: path, query: query, authority: nil)
        }
        if target.count == 1 && first == UInt8(ascii: "*") {
            if let method, !method.elementsEqual("OPTIONS".utf8) { throw .badRequest("asterisk-form target is only for OPTIONS") }
            return RequestTarget(form: .asterisk, path: 0..<1, query: nil, authority: nil)
        }
        guard let schemeEnd = schemeLength(target) else { throw .badRequest("malformed request target") }
        // `scheme://authority`, then the path and query.
        let authorityStart = schemeEnd + 3
        var authorityEnd = authorityStart
        while authorityEnd < target.count, target[authorityEnd] != UInt8(ascii: "/"), target[authorityEnd] != UInt8(ascii: "?") {
            authorityEnd += 1
        }
        let authority = authorityStart..<authorityEnd
        // RFC 9110 §4.2.1–§4.2.2: an http(s) URI has a non-empty host and no userinfo (§4.2.4).
        guard !authority.isEmpty, isValidAuthority(UnsafeBufferPointer(rebasing: target[authority])) else {
            throw .badRequest("malformed authority in request target")
        }
        let (path, query) = try pathAndQuery(target, from: authorityEnd)
        return RequestTarget(form: .absolute, path: path, query: query, authority: authority)
    }

    /// The length of `http` or `https` (any case) when followed by `://`.
    private static func schemeLength(_ t: UnsafeBufferPointer<UInt8>) -> Int? {
        for scheme in [Array("http".utf8), Array("https".utf8)] where t.count >= scheme.count + 3 {
            var matches = true
            for i in 0..<scheme.count where ASCII.lower(t[i]) != scheme[i] { matches = false }
            if matches && t[scheme.count] == UInt8(ascii: ":") && t[scheme.count + 1] == UInt8(ascii: "/")
                && t[scheme.count + 2] == UInt8(ascii: "/") {
                return scheme.count
            }
        }
        return nil
    }

    private static func pathAndQuery(_ t: UnsafeBufferPointer<UInt8>, from start: Int) throws(HTTPError) -> (Range<Int>, Range<Int>?) {
        var end = start
        while end < t.count, t[end] != UInt8(ascii: "?") { end += 1 }
        let path = start..<end
        // A NUL in a decoded path could truncate a file name in the application (CWE-158).
        var i = path.lowerBound
        while i + 2 < path.upperBound {
            if t[i] == UInt8(ascii: "%") && t[i + 1] == UInt8(ascii: "0") && t[i + 2] == UInt8(ascii: "0") {
                throw .badRequest("path contains an encoded NUL")
            }
            i += 1
        }
        return (path, end < t.count ? (end + 1)..<t.count : nil)
    }

    /// `host [ ":" port ]` (RFC 3986 §3.2): an IP literal in brackets, or a reg-name of unreserved,
    /// percent-encoded and sub-delim characters; no userinfo; the port all digits.
    public static func isValidAuthority(_ a: UnsafeBufferPointer<UInt8>) -> Bool {
        var hostEnd = a.count
        if a.first == UInt8(ascii: "[") {
            guard let close = a.firstIndex(of: UInt8(ascii: "]")), close > 1 else { return false }
            for c in a[1..<close] where !(ASCII.isHexDigit(c) || c == UInt8(ascii: ":") || c == UInt8(ascii: ".")) { return false }
            hostEnd = close + 1
            guard hostEnd == a.count || a[hostEnd] == UInt8(ascii: ":") else { return false }
        } else {
            hostEnd = a.lastIndex(of: UInt8(ascii: ":")) ?? a.count
            for c in a[0..<hostEnd] where !isRegNameByte(c) { return false }
        }
        if hostEnd < a.count {
            for c in a[(hostEnd + 1)...] where !(c >= 48 && c <= 57) { return false }
        }
        return true
    }

    /// unreserved / pct-encoded / sub-delims (RFC 3986 §3.2.2).
    private static func isRegNameByte(_ c: UInt8) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        // Spelled out, not `"…".utf8.contains(c)`: every request's Host passes here, and walking a
        // string's UTF-8 view per byte cost 0.5 % of a hello request's CPU (perf).
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "%"), UInt8(ascii: "!"),
             UInt8(ascii: "$"), UInt8(ascii: "&"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "*"),
             UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "="): true
        default: false
        }
    }
}

extension RequestTarget {
    /// For an origin-form target (`/…`), the UTF-8 offset where its path ends: at the first `?`, or
    /// at its end. Nil for the other forms.
    public static func originFormPathEnd(of target: String) -> Int? {
        var target = target
        return target.withUTF8 { bytes in
            bytes.first == UInt8(ascii: "/") ? bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count : nil
        }
    }

    /// The path and query of a target as text, for applications: the path as sent (`/` for an
    /// absolute-form target without one), the query without its `?` (empty when none). A target
    /// that is not valid gives its text before `?` as the path.
    public static func pathAndQuery(of target: String) -> (path: Substring, query: Substring) {
        let text = Substring(target)
        if let end = originFormPathEnd(of: target) {
            // Origin form, the common case: no copy, and slices by UTF-8 offset (a `Character`
            // search would break graphemes along the way).
            let utf8 = target.utf8
            return end == utf8.count ? (text, "") : (Substring(utf8.prefix(end)), Substring(utf8.dropFirst(end + 1)))
        }
        var bytes = Array(target.utf8)
        return bytes.withUnsafeMutableBufferPointer { b in
            let utf8 = text.utf8
            func slice(_ r: Range<Int>) -> Substring {
                Substring(utf8[utf8.index(utf8.startIndex, offsetBy: r.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: r.upperBound)])
            }
            guard let parsed = try? parse(UnsafeBufferPointer(b)) else {
                let q = text.firstIndex(of: "?")
                return (q.map { text[..<$0] } ?? text, q.map { text[text.index(after: $0)...] } ?? "")
            }
            let path = parsed.path.isEmpty ? "/" : slice(parsed.path)
            return (path, parsed.query.map(slice) ?? "")
        }
    }
}
