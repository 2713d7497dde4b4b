/// A synchronous application: `respond(to:)` runs to completion on the calling thread.
///
/// In the `sync` worker each request has a thread of its own. In the `async` worker a synchronous
/// application runs on a bounded thread pool (`--threads`), and the worker says so at boot.
public protocol Application: Sendable {
    func respond(to request: Request) throws -> Response
    /// Runs once in each worker before it serves; throwing makes the worker exit with code 3.
    func startup() throws
    /// Runs once in each worker when it stops.
    func shutdown() throws
}

/// An asynchronous application: many requests share a thread while they wait.
public protocol AsyncApplication: Sendable {
    /// Runs on its caller's executor (`nonisolated(nonsending)`): a request's task calls it on the
    /// worker's loop, and it does not hop to the generic executor and back. A conformance may
    /// declare it without the attribute.
    nonisolated(nonsending) func respond(to request: Request) async throws -> Response
    func startup() async throws
    func shutdown() async throws
}

extension Application {
    public func startup() throws {}
    public func shutdown() throws {}
}

extension AsyncApplication {
    public func startup() async throws {}
    public func shutdown() async throws {}
}

/// Synchronous middleware: sees every request on its way in and every response on its way out.
///
/// In an asynchronous chain it runs on the worker's pool for adapted code (`--offload-threads`),
/// holding a pool thread while everything inside it runs; prefer `AsyncMiddleware` there.
public protocol Middleware: Sendable {
    func respond(to request: Request, next: (Request) throws -> Response) throws -> Response
}

/// Asynchronous middleware.
public protocol AsyncMiddleware: Sendable {
    func respond(to request: Request, next: (Request) async throws -> Response) async throws -> Response
}

/// What the exporter needs to know of an application chain besides how to call it.
protocol Chained {
    /// Names of the synchronous parts of the chain, outermost first (`middleware Auth`).
    var synchronousParts: [String] { get }
    /// The innermost application's type name.
    var applicationName: String { get }
    /// Middleware type names, outermost first.
    var middlewareNames: [String] { get }
}

extension Chained {
    /// `Shop (middleware: Auth, Metrics)`.
    var chainName: String {
        middlewareNames.isEmpty ? applicationName : "\(applicationName) (middleware: \(middlewareNames.joined(separator: ", ")))"
    }
}

func chainInfo(_ app: Any) -> (application: String, middleware: [String]) {
    if let chained = app as? Chained { return (chained.applicationName, chained.middlewareNames) }
    return (typeName(app), [])
}

/// The name logs use for an application or chain.
func displayName(_ app: Any) -> String {
    (app as? Chained)?.chainName ?? typeName(app)
}

func typeName(_ value: Any) -> String { String(describing: type(of: value)) }

/// A synchronous chain (sync middleware around an application of either kind).
public struct SyncChain: Application, Chained {
    let handler: @Sendable (Request) throws -> Response
    let start: @Sendable () throws -> Void
    let stop: @Sendable () throws -> Void
    let synchronousParts: [String]
    let applicationName: String
    let middlewareNames: [String]

    public func respond(to request: Request) throws -> Response { try handler(request) }
    public func startup() throws { try start() }
    public func shutdown() throws { try stop() }
}

/// An asynchronous chain; synchronous parts inside it run on the host's thread pool.
public struct AsyncChain: AsyncApplication, Chained {
    let handler: RouteHandler
    let start: @Sendable () async throws -> Void
    let stop: @Sendable () async throws -> Void
    let synchronousParts: [String]
    let applicationName: String
    let middlewareNames: [String]

    public nonisolated(nonsending) func respond(to request: Request) async throws -> Response { try await handler(request) }
    public func startup() async throws { try await start() }
    public func shutdown() async throws { try await stop() }
}

func synchronousParts(of app: some Application) -> [String] {
    (app as? Chained)?.synchronousParts ?? ["application \(typeName(app))"]
}

func synchronousParts(of app: some AsyncApplication) -> [String] {
    (app as? Chained)?.synchronousParts ?? []
}

/// An application from a closure.
public struct Handler: Application {
    let body: @Sendable (Request) throws -> Response
    public init(_ body: @escaping @Sendable (Request) throws -> Response) { self.body = body }
    public func respond(to request: Request) throws -> Response { try body(request) }
}

/// An async application from a closure.
public struct AsyncHandler: AsyncApplication {
    let body: RouteHandler
    public init(_ body: @escaping RouteHandler) { self.body = body }
    public nonisolated(nonsending) func respond(to request: Request) async throws -> Response { try await body(request) }
}
