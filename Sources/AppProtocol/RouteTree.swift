/// A router's routes indexed by pattern: a tree whose edges are pattern segments (a literal's
/// text, any parameter, the trailing wildcard). A request's path is walked once, segment by
/// segment, instead of being tried against every route.
///
/// Where several patterns match, the most specific wins: compared from the left, a literal segment
/// beats a parameter, which beats the wildcard; and a pattern beats its own prefix (`/a/*` beats
/// `/a` for `/a`, the wildcard matching nothing). The walk visits matching patterns in exactly that
/// order — at each segment the literal edge, then the parameter, then the wildcard; at the path's
/// end the wildcard before the node itself — so the first node holding a route for the request's
/// method holds the best one. Routes of one node keep the order they were added in.
///
/// Immutable: a router builds a new tree when a route is added (while the application is set up).
final class RouteTree: Sendable {
    final class Node: Sendable {
        let literals: [String: Node]
        let parameter: Node?
        let wildcard: Node?
        /// The routes whose pattern ends here.
        let routes: [Route]

        init(literals: [String: Node], parameter: Node?, wildcard: Node?, routes: [Route]) {
            self.literals = literals
            self.parameter = parameter
            self.wildcard = wildcard
            self.routes = routes
        }
    }

    let root: Node
    /// Every method some route answers.
    let methods: Set<String>

    init(_ routes: [Route]) {
        root = Self.node(routes, depth: 0)
        methods = Set(routes.map(\.method))
    }

    /// The node for the routes whose pattern continues past `depth` segments.
    private static func node(_ routes: [Route], depth: Int) -> Node {
        var here: [Route] = []
        var literals: [String: [Route]] = [:]
        var parameters: [Route] = []
        var wildcards: [Route] = []
        for route in routes {
            guard depth < route.pattern.count else {
                here.append(route)
                continue
            }
            switch route.pattern[depth] {
            case .literal(let text): literals[text, default: []].append(route)
            case .parameter: parameters.append(route)
            case .wildcard: wildcards.append(route)  // always the last segment
            }
        }
        return Node(
            literals: literals.mapValues { node($0, depth: depth + 1) },
            parameter: parameters.isEmpty ? nil : node(parameters, depth: depth + 1),
            wildcard: wildcards.isEmpty ? nil : Node(literals: [:], parameter: nil, wildcard: nil, routes: wildcards),
            routes: here)
    }

    /// Calls `visit` with each node whose pattern matches `segments` and that holds routes, most
    /// specific first, until it returns true; returns whether one did.
    @discardableResult
    func walk(_ segments: [String], _ visit: (Node) -> Bool) -> Bool {
        Self.walk(root, segments, 0, visit)
    }

    private static func walk(_ node: Node, _ segments: [String], _ index: Int, _ visit: (Node) -> Bool) -> Bool {
        if index < segments.count {
            if let next = node.literals[segments[index]], walk(next, segments, index + 1, visit) { return true }
            if let next = node.parameter, walk(next, segments, index + 1, visit) { return true }
            if let rest = node.wildcard, visit(rest) { return true }
            return false
        }
        if let rest = node.wildcard, visit(rest) { return true }
        return !node.routes.isEmpty && visit(node)
    }
}
