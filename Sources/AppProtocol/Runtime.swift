import ArbiterABI
import Dispatch
import Synchronization

/// What the hosting worker provided at startup: its log, executor and thread pool.
public enum Runtime {
    struct Host: @unchecked Sendable {
        var host: arbiter_host
        var executor: HostExecutor?
    }

    private static let current = Mutex<Host?>(nil)

    static func install(_ host: arbiter_host) {
        // With the host's timers, the executor is also a `SchedulingExecutor`: a task's sleep then
        // waits on the worker's loop instead of a global timer thread.
        let executor: HostExecutor? =
            host.enqueue == nil ? nil : host.enqueue_after == nil ? HostExecutor(host) : SchedulingHostExecutor(host)
        current.withLock { $0 = Host(host: host, executor: executor) }
        hasExecutor.store(executor != nil, ordering: .releasing)
    }

    /// The host runs the application's tasks on its event loop (`executor` is set): read on every
    /// request, so kept apart from the lock.
    static let hasExecutor = Atomic<Bool>(false)

    /// The host's table as far as its `struct_size` covers it: fields a server predates stay zero.
    static func table(_ pointer: UnsafePointer<arbiter_host>) -> arbiter_host {
        var host = arbiter_host()
        let size = min(pointer.pointee.struct_size, MemoryLayout<arbiter_host>.size)
        withUnsafeMutableBytes(of: &host) { $0.copyMemory(from: UnsafeRawBufferPointer(start: pointer, count: size)) }
        return host
    }

    static var executor: HostExecutor? { current.withLock { $0?.executor } }

    /// Refuses a call that blocks its thread until the server answers, when the calling thread runs
    /// the worker's event loop: the loop delivers the answer, so the call would wait forever, and
    /// every request of the worker with it (until the worker timeout kills it).
    static func checkMayBlock(_ call: String) throws {
        guard let host = current.withLock({ $0?.host }), let onExecutor = host.on_executor,
              onExecutor(host.executor_ctx) != 0 else { return }
        throw BlockingOnEventLoop(call: call)
    }

    /// The priority of every task the server starts for the application (lifespan hooks, requests,
    /// `blockingWait`). Without one, a task started on the main thread gets `.high`: Swift's runtime
    /// on Linux calls the main thread user-initiated. Where it runs on Dispatch's global pool (a
    /// synchronous worker has no task executor), Dispatch then starts its threads with
    /// `setpriority(-2)`, which an unprivileged user may not do: each boot would log "Failed to set
    /// thread priority for worker thread … errno=13" to syslog (the journal under `User=`).
    /// `.medium` is Dispatch's default class, nice 0, what every other thread of the worker has.
    static let taskPriority = TaskPriority.medium

    /// Writes a line to the server's error log (stderr when no server hosts the application).
    public static func log(_ level: LogLevel, _ message: String) {
        let host = current.withLock { $0?.host }
        guard let host, let log = host.log else {
            print("[\(level)] \(message)")
            return
        }
        var text = message
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { log(host.log_ctx, level.rawValue, $0.baseAddress, $0.count) }
        }
    }

    public enum LogLevel: Int32, Sendable {
        case error = 3, warning = 4, info = 6, debug = 7
    }

    /// Runs synchronous work on the host's thread pool, so it does not block the event loop (without a
    /// host, as in unit tests, on a Dispatch queue, so it does not block Swift's cooperative pool). Inside `blockingWait` (a synchronous part above this one already
    /// holds a thread for the request) the work runs on that waiting thread instead: nested
    /// sync/async/sync chains never need a second pool thread, so they cannot exhaust the pool.
    public static func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        if let mailbox = Mailbox.current {
            return try await withCheckedThrowingContinuation { continuation in
                mailbox.post { continuation.resume(with: Result { try work() }) }
            }
        }
        let host = current.withLock { $0?.host }
        guard let host, let offload = host.offload else {
            return try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            let job = Unmanaged.passRetained(Callback<T>({ continuation.resume(with: $0) }))
            let context = Unmanaged.passRetained(OffloadJob { job.takeRetainedValue().done(Result { try work() }) })
            offload(host.offload_ctx, context.toOpaque()) { pointer in
                Unmanaged<OffloadJob>.fromOpaque(pointer!).takeRetainedValue().run()
            }
        }
    }

    /// Runs async work from synchronous code and blocks the calling thread until it is done; while
    /// it waits, the thread runs synchronous work that the async part offloads.
    public static func blockingWait<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        try checkMayBlock("Runtime.blockingWait")
        let mailbox = Mailbox()
        let result = Mutex<Result<T, Error>?>(nil)
        Task(executorPreference: executor, priority: taskPriority) {
            let outcome: Result<T, Error>
            do { outcome = .success(try await Mailbox.$current.withValue(mailbox) { try await work() }) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            mailbox.post(nil)
        }
        mailbox.serve()
        return try result.withLock { $0! }.get()
    }
}

/// A thread blocked in `blockingWait` runs what is posted here until it is told to stop.
final class Mailbox: Sendable {
    @TaskLocal static var current: Mailbox?

    private let jobs = Mutex<[(@Sendable () -> Void)?]>([])
    private let available = DispatchSemaphore(value: 0)

    /// Posts work for the waiting thread; nil tells it to return.
    func post(_ job: (@Sendable () -> Void)?) {
        jobs.withLock { $0.append(job) }
        available.signal()
    }

    func serve() {
        while true {
            available.wait()
            guard let job = jobs.withLock({ $0.removeFirst() }) else { return }
            job()
        }
    }
}

final class OffloadJob: @unchecked Sendable {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}

/// The worker's event loop as a Swift `TaskExecutor`, through the host's C `enqueue`.
/// Immutable after `init`; the host's functions may be called from any thread.
class HostExecutor: TaskExecutor, @unchecked Sendable {
    let context: UnsafeMutableRawPointer?
    private let enqueueJob: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?, RunJob?) -> Void

    typealias RunJob = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Void

    init(_ host: arbiter_host) {
        context = host.executor_ctx
        enqueueJob = host.enqueue!
    }

    func enqueue(_ job: consuming ExecutorJob) {
        enqueueJob(context, Self.pointer(job), Unmanaged.passUnretained(self).toOpaque(), Self.run)
    }

    /// A job as the pointer it is: `UnownedJob` is a single pointer, and crosses the C boundary as that.
    static func pointer(_ job: consuming ExecutorJob) -> UnsafeMutableRawPointer {
        unsafeBitCast(UnownedJob(job), to: UnsafeMutableRawPointer.self)
    }

    /// Runs a job the host hands back, on this executor (the host calls it on its loop thread).
    static let run: RunJob = { app, job in
        let executor = Unmanaged<HostExecutor>.fromOpaque(app!).takeUnretainedValue()
        unsafeBitCast(job!, to: UnownedJob.self).runSynchronously(on: executor.asUnownedTaskExecutor())
    }
}

/// A blocking call made on the async worker's event loop (see `Runtime.checkMayBlock`): the request
/// fails with 500 and this message in the error log, instead of the worker hanging.
public struct BlockingOnEventLoop: Error, CustomStringConvertible {
    /// What would have blocked: the call as the application wrote it (`request.body.read(upTo:)`),
    /// or what the server was asked to do.
    public let call: String

    public var description: String {
        "\(call) blocks its thread until the server answers, but this code runs on the async worker's "
            + "event loop, which is what answers: it would wait forever. Use the asynchronous form "
            + "(`try await request.body.collect(upTo:)`, `for try await chunk in request.body`, "
            + "`try await writer.write(…)`) in code that runs on the loop; blocking code belongs in "
            + "an `Application` or `Middleware` (the async worker runs those on its --offload-threads "
            + "pool) or in the sync worker (`-k sync`)"
    }
}
