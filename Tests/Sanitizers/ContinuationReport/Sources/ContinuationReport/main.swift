// A task awaits a completion that another thread resumes at once, the way an async application's
// `Exchange` call is answered by the sync worker's request thread. Every access the program makes
// itself is ordered by pthread mutexes, and each continuation is resumed exactly once. When the
// resume lands before the task has reached its suspension, ThreadSanitizer reports a race between
// `UnsafeContinuation.resume(returning:)` (the resuming thread) and the compiler-generated
// resumption of `withUnsafeThrowingContinuation` (the task): the ordering between them lives in
// the Swift concurrency runtime, which ThreadSanitizer does not see on that path.
import Dispatch
import Glibc

/// A pthread mutex: ThreadSanitizer sees its ordering.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private var mutex = pthread_mutex_t()
    init(_ value: Value) {
        self.value = value
        pthread_mutex_init(&mutex, nil)
    }
    func with<R>(_ body: (inout Value) -> R) -> R {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        return body(&value)
    }
}

/// The shape of AppProtocol's `Completion`.
final class Completion: Sendable {
    private enum State { case pending, done, waiting(UnsafeContinuation<Void, any Error>) }
    private let state = Locked(State.pending)

    func complete() {
        let waiter: UnsafeContinuation<Void, any Error>? = state.with { state in
            defer { state = .done }
            if case .waiting(let continuation) = state { return continuation }
            return nil
        }
        waiter?.resume(returning: ())
    }

    func value() async throws {
        if state.with({ if case .done = $0 { true } else { false } }) { return }
        try await withUnsafeThrowingContinuation { continuation in
            let done = state.with { state in
                if case .done = state { return true }
                state = .waiting(continuation)
                return false
            }
            if done { continuation.resume(returning: ()) }
        }
    }
}

/// A thread that completes what it is handed, at once.
final class Resumer: @unchecked Sendable {
    private let queue = Locked<[Completion]>([])
    private let arrived = DispatchSemaphore(value: 0)

    func post(_ completion: Completion) {
        queue.with { $0.append(completion) }
        arrived.signal()
    }

    func run() {
        while true {
            arrived.wait()
            queue.with { $0.removeFirst() }.complete()
        }
    }
}

/// Not isolated to the main actor, as top-level code is: the resuming thread runs from here.
enum Shared {
    static let resumer = Resumer()

    static func startResumer() {
        var thread = pthread_t()
        pthread_create(&thread, nil, { _ in Shared.resumer.run(); return nil }, nil)
    }
}

Shared.startResumer()

let rounds = CommandLine.arguments.count > 1 ? Int(CommandLine.arguments[1]) ?? 100_000 : 100_000
await withTaskGroup(of: Void.self) { group in
    for _ in 0..<8 {
        group.addTask {
            for _ in 0..<rounds / 8 {
                let completion = Completion()
                Shared.resumer.post(completion)
                try? await completion.value()
            }
        }
    }
}
print("completed \(rounds) continuations")
