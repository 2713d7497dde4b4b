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

/// A fixed set of threads running submitted jobs in order; `size` bounds how many run at once.
final class ThreadPool: Sendable {
    let size: Int
    private let queue = BlockingQueue<@Sendable () -> Void>()

    init(size: Int, name: String) {
        self.size = size
        for index in 0..<size {
            startThread(name: "\(name)-\(index)") { [queue] in
                while true { queue.take()() }
            }
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        queue.put(job)
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
