import Dispatch
import Glibc
import Platform

/// A FIFO that blocks takers until an item arrives.
final class BlockingQueue<T: Sendable>: Sendable {
    private let items = Lock<[T]>([])
    private let available = DispatchSemaphore(value: 0)

    func put(_ item: T) {
        items.withLock { $0.append(item) }
        available.signal()
    }

    func take() -> T {
        available.wait()
        return items.withLock { $0.removeFirst() }
    }
}

/// Threads running submitted jobs in order; `size` bounds how many run at once. Threads start when a
/// job finds none idle, so a large bound costs nothing until it is used.
final class ThreadPool: Sendable {
    let size: Int
    private let name: String
    private let queue = BlockingQueue<@Sendable () -> Void>()
    /// Threads started, and threads idle that no submitted job has claimed yet; any thread may
    /// change them under the lock.
    private let counts = Lock<(started: Int, idle: Int)>((0, 0))

    init(size: Int, name: String) {
        self.size = size
        self.name = name
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        let start: Int? = counts.withLock { counts in
            if counts.idle > 0 {
                counts.idle -= 1
                return nil
            }
            guard counts.started < size else { return nil }
            counts.started += 1
            return counts.started - 1
        }
        if let index = start {
            // The pool lives as long as the worker; its threads keep it.
            startThread(name: "\(name)-\(index)") { [self] in
                while true {
                    queue.take()()
                    counts.withLock { $0.idle += 1 }
                }
            }
        }
        guard WorkerCounters.isActive else { return queue.put(job) }
        // Counted for metrics: submitted, taken (after how long a wait), finished.
        WorkerCounters.add(WorkerCounters.Field.offloadSubmitted)
        let submitted = Clock.monotonic()
        queue.put {
            WorkerCounters.add(WorkerCounters.Field.offloadStarted)
            WorkerCounters.add(WorkerCounters.Field.offloadWaitMicros, Int((Clock.monotonic() - submitted) * 1_000_000))
            job()
            WorkerCounters.add(WorkerCounters.Field.offloadFinished)
        }
    }
}

/// Starts a detached POSIX thread (the worker is a fresh process, so threads are safe here).
func startThread(name: String, _ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        let name: String
        init(_ body: @escaping @Sendable () -> Void, _ name: String) {
            self.body = body
            self.name = name
        }
    }
    let context = Unmanaged.passRetained(Box(body, name)).toOpaque()
    var thread = pthread_t()
    let rc = pthread_create(&thread, nil, { raw in
        let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
        box.body()
        return nil
    }, context)
    precondition(rc == 0, "pthread_create failed: \(rc)")
    pthread_detach(thread)
}
