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
/// Immutable: adding a route makes a new tree that shares every node off the route's pattern.
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

        static let empty = Node(literals: [:], parameter: nil, wildcard: nil, routes: [])

        /// This node with `route`, whose pattern continues past `depth` segments, added.
        func inserting(_ route: Route, depth: Int) -> Node {
            guard depth < route.pattern.count else {
                return Node(literals: literals, parameter: parameter, wildcard: wildcard, routes: routes + [route])
            }
            switch route.pattern[depth] {
            case .literal(let text):
                var literals = self.literals
                literals[text] = (literals[text] ?? .empty).inserting(route, depth: depth + 1)
                return Node(literals: literals, parameter: parameter, wildcard: wildcard, routes: routes)
            case .parameter:
                return Node(literals: literals, parameter: (parameter ?? .empty).inserting(route, depth: depth + 1),
                            wildcard: wildcard, routes: routes)
            case .wildcard:  // always the last segment
                return Node(literals: literals, parameter: parameter,
                            wildcard: (wildcard ?? .empty).inserting(route, depth: depth + 1), routes: routes)
            }
        }
    }

    let root: Node
    /// Every method some route answers.
    let methods: Set<String>

    /// The tree without routes.
    init() {
        root = .empty
        methods = []
    }

    private init(root: Node, methods: Set<String>) {
        self.root = root
        self.methods = methods
    }

    /// The tree with `route` added after the others: the nodes along its pattern are new, the
    /// rest is shared, so adding a route costs its pattern's length, not the table's size.
    func inserting(_ route: Route) -> RouteTree {
        RouteTree(root: root.inserting(route, depth: 0), methods: methods.union([route.method]))
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
