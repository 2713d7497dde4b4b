import Glibc

/// A mutual-exclusion lock over a `pthread_mutex_t`, for state handed between threads.
///
/// Preferred to `Synchronization.Mutex` where a worker's threads meet: `Mutex` waits on futexes,
/// which ThreadSanitizer does not model, so it reports the accesses it protects as races; the
/// pthread calls are intercepted, so a TSan run of the server stays meaningful without suppressions.
public final class Lock<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Guarded by `mutex`.
    private var value: Value

    public init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
