import ArbiterABI
import Glibc

/// Makes the C entry-point table for a synchronous application. Call it from the function you export:
///
/// ```swift
/// @_cdecl("application")
/// public func application() -> UnsafeRawPointer { export(MyApp()) }
/// ```
public func export(_ app: some Application) -> UnsafeRawPointer {
    ExportedApplication(
        name: displayName(app), kind: .sync(app), synchronousParts: synchronousParts(of: app)
    ).table
}

/// Makes the C entry-point table for an asynchronous application.
public func export(_ app: some AsyncApplication) -> UnsafeRawPointer {
    ExportedApplication(
        name: displayName(app), kind: .async(app), synchronousParts: synchronousParts(of: app)
    ).table
}

/// Owns one exported application and its C table for the life of the process.
final class ExportedApplication: @unchecked Sendable {
    enum Kind {
        case sync(any Application)
        case async(any AsyncApplication)
    }

    let kind: Kind
    /// The application when it is a router, which can answer some requests without a task.
    let router: Router?
    let table: UnsafeRawPointer

    init(name: String, kind: Kind, synchronousParts: [String]) {
        self.kind = kind
        if case .async(let app) = kind { router = app as? Router } else { router = nil }
        let table = UnsafeMutablePointer<arbiter_app>.allocate(capacity: 1)
        self.table = UnsafeRawPointer(table)
        var flags: UInt32 = 0
        if case .sync = kind { flags |= UInt32(ARBITER_APP_BLOCKING) }
        table.initialize(to: arbiter_app(
            magic: UInt32(ARBITER_ABI_MAGIC), abi_version: UInt32(ARBITER_ABI_VERSION),
            struct_size: MemoryLayout<arbiter_app>.size, ctx: nil, name: strdup(name), flags: flags,
            synchronous_parts: strdup(synchronousParts.joined(separator: "\n")),
            startup: { ctx, host, doneContext, done in
                ExportedApplication.from(ctx).startup(Runtime.table(host!)) { [doneContext = UnsafeContext(doneContext)] error in
                    if let error { error.withCString { done?(doneContext.pointer, $0) } } else { done?(doneContext.pointer, nil) }
                }
            },
            shutdown: { ctx, doneContext, done in
                ExportedApplication.from(ctx).shutdown { [doneContext = UnsafeContext(doneContext)] error in
                    if let error { error.withCString { done?(doneContext.pointer, $0) } } else { done?(doneContext.pointer, nil) }
                }
            },
            handle: { ctx, request, exchange in
                ExportedApplication.from(ctx).handle(request!.pointee, Exchange(exchange!))
            },
            cancel: { _, token in
                guard let token else { return }
                RequestToken.task(token).cancel()
            },
            release: { _, token in
                guard let token else { return }
                RequestToken.release(token)
            }))
        // The table lives as long as the process: the exported object is never released.
        table.pointee.ctx = Unmanaged.passRetained(self).toOpaque()
    }

    static func from(_ ctx: UnsafeMutableRawPointer?) -> ExportedApplication {
        Unmanaged<ExportedApplication>.fromOpaque(ctx!).takeUnretainedValue()
    }

    func startup(_ host: arbiter_host, done: @escaping @Sendable (String?) -> Void) {
        Runtime.install(host)
        switch kind {
        case .sync(let app):
            do { try app.startup(); done(nil) } catch { done("\(error)") }
        case .async(let app):
            Task(executorPreference: Runtime.executor, priority: Runtime.taskPriority) {
                do { try await app.startup(); done(nil) } catch { done("\(error)") }
            }
        }
    }

    func shutdown(done: @escaping @Sendable (String?) -> Void) {
        switch kind {
        case .sync(let app):
            do { try app.shutdown(); done(nil) } catch { done("\(error)") }
        case .async(let app):
            Task(executorPreference: Runtime.executor, priority: Runtime.taskPriority) {
                do { try await app.shutdown(); done(nil) } catch { done("\(error)") }
            }
        }
    }

    func handle(_ view: arbiter_request, _ exchange: Exchange) -> UnsafeMutableRawPointer? {
        let declared = view.content_length < 0 ? nil : Int(view.content_length)
        let body = declared == 0 ? RequestBody.empty : RequestBody(source: .exchange(exchange), declaredLength: declared)
        let request = Request(copying: view, body: body)
        // On the worker's loop, a router's synchronous route (and a request no route takes) is
        // answered here, without a task, when the answer needs no waiting: the server takes a
        // whole response at once. Not on a sync worker's request thread: it owns the connection
        // and serves the calls that code's blocking waits (`Runtime.blockingWait`) post to it
        // only while it waits for a task. (`router` is set only for an asynchronous application;
        // checked before `kind`, whose payload a `switch` would copy.)
        if let router, Runtime.hasExecutor.load(ordering: .acquiring), exchange.offersWholeResponses {
            switch router.resolve(request) {
            case .answered(.success(let response)):
                if Responder.respondWhole(response, request: request, exchange: exchange) { return nil }
                return start { await Responder.send(response, request: request, exchange: exchange) }
            case .answered(.failure(let error)):
                Responder.fail(error, request: request, exchange: exchange) { try exchange.sendBlockingError($0) }
                return nil
            case .waits(let handler, let routed):
                return start { await ExportedApplication.serve(handler, routed, exchange) }
            }
        }
        switch kind {
        case .sync(let app):
            let response: Response
            do {
                response = try app.respond(to: request)
            } catch {
                Responder.fail(error, request: request, exchange: exchange) { try exchange.sendBlockingError($0) }
                return nil
            }
            Responder.sendBlocking(response, request: request, exchange: exchange)
            return nil
        case .async:
            return start { [self] in await serve(request, exchange) }
        }
    }

    /// Starts a request's task and returns its token.
    ///
    /// The task's closure holds what it serves as few references as it can: every request in
    /// flight holds that closure. A throwing task (it never throws) takes the closure as it is,
    /// without a wrapper of its own.
    @inline(__always)
    private func start(_ operation: sending @escaping @isolated(any) () async throws -> Void) -> UnsafeMutableRawPointer {
        let task: Task<Void, any Error>
        if let executor = Runtime.executor {
            // `handle` runs on the worker's loop, the task's own executor (ABI: `executor_ctx`):
            // the task starts here and runs until it first waits, often to its answer, without
            // a trip through the loop's queue.
            task = Task.immediate(priority: Runtime.taskPriority, executorPreference: executor, operation: operation)
        } else {
            task = Task(priority: Runtime.taskPriority, operation: operation)
        }
        return RequestToken.make(task)
    }
}

extension ExportedApplication {
    /// An asynchronous application's request, in its task.
    @inline(__always)
    nonisolated(nonsending) func serve(_ request: Request, _ exchange: Exchange) async {
        guard case .async(let app) = kind else { preconditionFailure("an asynchronous task for a synchronous application") }
        await Self.serve(app.respond(to:), request, exchange)
    }

    /// A request in its task: `respond` (the application's, or the router's handler resolved
    /// before the task started) answers it, or its error does.
    @inline(__always)
    nonisolated(nonsending) static func serve(_ respond: RouteHandler, _ request: Request, _ exchange: Exchange) async {
        let response: Response
        do {
            response = try await respond(request)
        } catch {
            Responder.fail(error, request: request, exchange: exchange) { try exchange.sendBlockingError($0) }
            return
        }
        await Responder.send(response, request: request, exchange: exchange)
    }
}

/// The token of an asynchronous request, which lets the server cancel its task: the task itself,
/// retained. A `Task` is a frozen struct of one reference to the task object, so the token needs no
/// allocation of its own.
enum RequestToken {
    static func make<Failure>(_ task: Task<Void, Failure>) -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(unsafeBitCast(task, to: AnyObject.self)).toOpaque()
    }

    /// The task of a token the server still holds.
    static func task(_ token: UnsafeMutableRawPointer) -> Task<Void, any Error> {
        unsafeBitCast(Unmanaged<AnyObject>.fromOpaque(token).takeUnretainedValue(), to: Task<Void, any Error>.self)
    }

    static func release(_ token: UnsafeMutableRawPointer) {
        Unmanaged<AnyObject>.fromOpaque(token).release()
    }
}

/// A C context pointer carried into a completion closure; the C side guarantees its lifetime.
struct UnsafeContext: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer?
    init(_ pointer: UnsafeMutableRawPointer?) { self.pointer = pointer }
}
