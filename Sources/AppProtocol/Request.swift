import ArbiterABI
import Glibc
import HTTP1

typealias CBytes = arbiter_bytes
typealias CHeader = arbiter_header

/// An HTTP version as the client sent it.
public struct HTTPVersion: Sendable, Equatable, CustomStringConvertible {
    public let major: Int
    public let minor: Int
    public init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }
    public var description: String { "HTTP/\(major).\(minor)" }
}

/// One request, as the application sees it. The head is copied once; the body is read on demand.
///
/// The fields live in one shared object: a request is passed by value through the router,
/// middleware and handlers, and every asynchronous frame that holds a copy across a suspension
/// point (10,000 sleeping requests hold 10,000 chains of them) holds one reference instead of
/// the whole head.
public struct Request: Sendable {
    /// What every copy shares, immutable: the request's line, peer and body, and its header fields
    /// as received, in one object (`Headers.Received`).
    private let shared: Headers.Received
    /// What the matched route's pattern captured (`:id`, the trailing `*`); set by `Router`.
    public internal(set) var parameters = Parameters()

    public var method: String { shared.withHead { $0.pointee.request.method } }
    /// The request target exactly as sent (`/search?q=swift`).
    public var target: String { shared.withHead { $0.pointee.request.target } }
    public var version: HTTPVersion { shared.withHead { $0.pointee.request.version } }
    public var headers: Headers { shared.headers }
    public var body: RequestBody { shared.withHead { $0.pointee.request.body } }
    /// The client's address (after trusted proxy headers, when the server applies them).
    public var remoteAddress: String { shared.withHead { $0.pointee.request.remoteAddress } ?? shared.address(remote: true) }
    public var remotePort: Int { shared.withHead { $0.pointee.request.remotePort } }
    /// `http` or `https`.
    public var scheme: String { shared.withHead { $0.pointee.request.scheme } }
    public var serverAddress: String { shared.withHead { $0.pointee.request.serverAddress } ?? shared.address(remote: false) }
    public var serverPort: Int { shared.withHead { $0.pointee.request.serverPort } }
    /// The client's verified TLS certificate under mutual TLS; nil on plain HTTP or without one.
    public var clientCertificate: ClientCertificate? { shared.withHead { $0.pointee.request.clientCertificate?.value } }

    /// A request apart from its header fields (which `Headers.Received` keeps after it).
    struct Line {
        var method: String
        var target: String
        var version: HTTPVersion
        var body: RequestBody
        /// The addresses as text for a request made in code; nil for one received, whose object
        /// keeps them as bytes (`Headers.Received.address`).
        var remoteAddress: String?
        var remotePort: Int
        var scheme: String
        var serverAddress: String?
        var serverPort: Int
        /// Boxed: most requests have none, and each holds these fields for its lifetime.
        var clientCertificate: CertificateBox?
        /// The headers of a request made in code (or received as fields apart); nil when the
        /// fields follow this in the object.
        var builtHeaders: Headers?

        /// For headers copied without a request.
        static var none: Line {
            Line(method: "", target: "", version: HTTPVersion(major: 1, minor: 1), body: .empty, remoteAddress: "", remotePort: 0,
                 scheme: "", serverAddress: "", serverPort: 0, clientCertificate: nil, builtHeaders: nil)
        }
    }

    final class CertificateBox: Sendable {
        let value: ClientCertificate
        init(_ value: ClientCertificate) { self.value = value }
    }

    public init(
        method: String, target: String, version: HTTPVersion = HTTPVersion(major: 1, minor: 1),
        headers: Headers = Headers(), body: RequestBody = .empty, remoteAddress: String = "127.0.0.1",
        remotePort: Int = 0, scheme: String = "http", serverAddress: String = "127.0.0.1", serverPort: Int = 8000,
        clientCertificate: ClientCertificate? = nil
    ) {
        shared = Headers.Received.make(request: Line(
            method: method, target: target, version: version, body: body, remoteAddress: remoteAddress,
            remotePort: remotePort, scheme: scheme, serverAddress: serverAddress, serverPort: serverPort,
            clientCertificate: clientCertificate.map(CertificateBox.init), builtHeaders: headers))
    }

    init(copying view: arbiter_request, body: RequestBody) {
        func text(_ b: arbiter_bytes) -> String {
            guard let base = b.base, b.length > 0 else { return "" }
            return String(decoding: UnsafeBufferPointer(start: base, count: b.length), as: UTF8.self)
        }
        // The usual methods and schemes are the literals, not strings decoded from bytes (a
        // literal costs no validation; every request has a method and a scheme).
        func known(_ b: arbiter_bytes, _ literals: [(bytes: StaticString, value: String)]) -> String {
            if let base = b.base {
                for literal in literals where literal.bytes.utf8CodeUnitCount == b.length
                    && memcmp(base, literal.bytes.utf8Start, b.length) == 0 {
                    return literal.value
                }
            }
            return text(b)
        }
        func bytes(_ b: arbiter_bytes) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(start: b.length > 0 ? b.base : nil, count: b.length)
        }
        let line = Line(
            method: known(view.method, Self.commonMethods), target: text(view.target),
            version: HTTPVersion(major: Int(view.version_major), minor: Int(view.version_minor)), body: body,
            remoteAddress: nil, remotePort: Int(view.remote_port),
            scheme: known(view.scheme, Self.schemes), serverAddress: nil, serverPort: Int(view.server_port),
            clientCertificate: ClientCertificate(view: view).map(CertificateBox.init), builtHeaders: nil)
        shared = Headers.Received.make(UnsafeBufferPointer(start: view.headers, count: view.header_count), request: consume line,
                                       addresses: (bytes(view.remote_host), bytes(view.server_host)))
    }

    private static let commonMethods: [(bytes: StaticString, value: String)] = [
        ("GET", "GET"), ("POST", "POST"), ("HEAD", "HEAD"), ("PUT", "PUT"), ("DELETE", "DELETE"), ("PATCH", "PATCH"),
        ("OPTIONS", "OPTIONS"),
    ]
    private static let schemes: [(bytes: StaticString, value: String)] = [("http", "http"), ("https", "https")]

    /// The path, percent-decoded (`/a%20b` → `/a b`); for an absolute-form target, its path part.
    public var path: String {
        let raw = rawPath
        return raw.utf8.contains(UInt8(ascii: "%")) ? Percent.decode(raw, plusAsSpace: false) : raw
    }

    /// The path as sent, before the query (`/` for an absolute-form target without one).
    public var rawPath: String {
        guard let end = RequestTarget.originFormPathEnd(of: target) else { return String(RequestTarget.pathAndQuery(of: target).path) }
        // Without a query an origin-form target is its own path: no slice, no copy.
        return end == target.utf8.count ? target : String(Substring(target.utf8.prefix(end)))
    }

    /// The query string after `?`, parsed on demand.
    public var query: Query {
        guard let end = RequestTarget.originFormPathEnd(of: target) else { return Query(String(RequestTarget.pathAndQuery(of: target).query)) }
        return Query(end == target.utf8.count ? "" : String(Substring(target.utf8.dropFirst(end + 1))))  // after the `?`
    }
}

/// A query string (`a=1&b=two`), decoded on demand with form rules (`+` is a space).
public struct Query: Sendable, CustomStringConvertible {
    public let raw: String

    public init(_ raw: String) { self.raw = raw }

    /// The first value of `name`.
    public subscript(name: String) -> String? {
        var found: String?
        scan(for: name) { value in
            found = value
            return false
        }
        return found
    }

    public func values(for name: String) -> [String] {
        var found: [String] = []
        scan(for: name) { value in
            found.append(value)
            return true
        }
        return found
    }

    /// Calls `body` with the decoded value of each pair named `name`, in order, while it returns
    /// true. Names are compared byte for byte when they need no decoding, and only the values asked
    /// for are decoded: a lookup allocates nothing for the pairs it passes over.
    private func scan(for name: String, _ body: (String) -> Bool) {
        // On the contiguous UTF-8 bytes with integer offsets: `String.Index` steps cost far more
        // than the comparisons on a query of a few bytes.
        var raw = raw
        var wanted = name
        raw.withUTF8 { bytes in
            wanted.withUTF8 { wantedBytes in
                func text(_ range: Range<Int>) -> String {
                    Percent.decode(String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self), plusAsSpace: true)
                }
                bytes.forEachPart(separatedBy: UInt8(ascii: "&")) { part in
                    var eq = part.lowerBound
                    while eq < part.upperBound && bytes[eq] != UInt8(ascii: "=") { eq += 1 }
                    let rawName = UnsafeBufferPointer(rebasing: bytes[part.lowerBound..<eq])
                    let encoded = rawName.contains { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }
                    let matches = encoded
                        ? text(part.lowerBound..<eq) == name
                        : rawName.count == wantedBytes.count
                            && (rawName.isEmpty || memcmp(rawName.baseAddress!, wantedBytes.baseAddress!, rawName.count) == 0)
                    guard matches else { return true }
                    return body(eq < part.upperBound ? text((eq + 1)..<part.upperBound) : "")
                }
            }
        }
    }

    /// All pairs, in order.
    public var pairs: [(name: String, value: String)] {
        raw.split(separator: "&", omittingEmptySubsequences: true).map { part in
            if let eq = part.firstIndex(of: "=") {
                return (Percent.decode(String(part[..<eq]), plusAsSpace: true),
                        Percent.decode(String(part[part.index(after: eq)...]), plusAsSpace: true))
            }
            return (Percent.decode(String(part), plusAsSpace: true), "")
        }
    }

    public var description: String { raw }
}

extension UnsafeBufferPointer<UInt8> {
    /// Calls `body` with the range of each non-empty part between `separator` bytes, in order,
    /// while it returns true (query pairs, path segments).
    func forEachPart(separatedBy separator: UInt8, _ body: (Range<Int>) -> Bool) {
        var start = 0
        while start < count {
            var end = start
            while end < count && self[end] != separator { end += 1 }
            if end > start && !body(start..<end) { return }
            start = end + 1
        }
    }
}

enum Percent {
    static func decode(_ text: String, plusAsSpace: Bool) -> String {
        var scanned = text
        let encoded = scanned.withUTF8 { bytes in
            bytes.contains { $0 == UInt8(ascii: "%") || (plusAsSpace && $0 == UInt8(ascii: "+")) }
        }
        guard encoded else { return text }
        var out: [UInt8] = []
        let bytes = Array(text.utf8)
        var i = 0
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hex(bytes[i + 1]), let l = hex(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(plusAsSpace && c == UInt8(ascii: "+") ? UInt8(ascii: " ") : c)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case 48...57: c - 48
        case 65...70: c - 55
        case 97...102: c - 87
        default: nil
        }
    }
}
