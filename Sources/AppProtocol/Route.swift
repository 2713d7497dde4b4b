/// One route: a method, a parsed path pattern, its group's middleware and the handler.
///
/// A class: the routes a request may take are found through `RouteTree`, and a reference is one
/// retain where a struct would retain each of its fields.
final class Route: Sendable {
    enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case wildcard
    }

    /// What the route runs. A synchronous handler with no middleware around it can answer without
    /// a task of its own (`Router.resolve`).
    enum Handler: Sendable {
        case sync(SynchronousRouteHandler)
        case async(RouteHandler)

        /// The handler as asynchronous code, for middleware to wrap.
        var asynchronous: RouteHandler {
            switch self {
            case .async(let handler): handler
            case .sync(let handler): { request in try handler(request) }
            }
        }
    }

    let method: String
    let pattern: [Segment]
    let layers: [Layer]
    let handler: Handler
    let synchronousParts: [String]
    /// The pattern ends in `*` (which may match no segment at all).
    let hasWildcard: Bool

    init(method: String, pattern: [Segment], layers: [Layer], handler: Handler, synchronousParts: [String]) {
        self.method = method
        self.pattern = pattern
        self.layers = layers
        self.handler = handler
        self.synchronousParts = synchronousParts
        hasWildcard = pattern.last == .wildcard
    }

    static func parse(_ path: String) -> [Segment] {
        path.split(separator: "/", omittingEmptySubsequences: true).map { part in
            if part == "*" { return .wildcard }
            if part.first == ":" {
                let name = part.dropFirst()
                if name.isEmpty { preconditionFailure("Route \(path): a parameter needs a name (`:id`)") }
                return .parameter(String(name))
            }
            return .literal(String(part))
        }
    }

    static func render(_ pattern: [Segment]) -> String {
        "/" + pattern.map {
            switch $0 {
            case .literal(let text): text
            case .parameter(let name): ":" + name
            case .wildcard: "*"
            }
        }.joined(separator: "/")
    }

    /// A request path's segments, split first and then each percent-decoded.
    static func segments(of rawPath: String) -> [String] {
        // Split on the byte `/` (not `Character`s), then decode each segment: `%2F` stays inside.
        var path = rawPath
        return path.withUTF8 { bytes in
            var segments: [String] = []
            bytes.forEachPart(separatedBy: UInt8(ascii: "/")) { segment in
                segments.append(Percent.decode(String(decoding: UnsafeBufferPointer(rebasing: bytes[segment]), as: UTF8.self), plusAsSpace: false))
                return true
            }
            return segments
        }
    }

    /// The captured parameters when the pattern matches `segments`.
    func match(_ segments: [String]) -> Parameters? {
        // The count decides most misses before any segment is compared.
        guard hasWildcard ? segments.count >= pattern.count - 1 : segments.count == pattern.count else { return nil }
        var parameters = Parameters()
        for (index, segment) in pattern.enumerated() {
            switch segment {
            case .wildcard:
                parameters.wildcard = segments[min(index, segments.count)...].joined(separator: "/")
                return parameters
            case .literal(let text):
                guard index < segments.count, segments[index] == text else { return nil }
            case .parameter(let name):
                guard index < segments.count else { return nil }
                parameters.values.append((name, segments[index]))
            }
        }
        return pattern.count == segments.count ? parameters : nil
    }
}
