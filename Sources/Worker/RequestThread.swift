import CArbiter
import Dispatch
import Platform

/// A request thread of the sync worker. It owns the connection it serves; calls an application
/// makes from other threads (an async application's tasks) arrive in its mailbox and run when the
/// thread waits for them.
final class RequestThread: ConnectionOwner, @unchecked Sendable {
    /// Its heartbeat slot.
    let index: Int
    /// Filled by any thread, emptied by this one.
    private let mailbox = Lock<[UnsafeWork]>([])
    private let arrived = DispatchSemaphore(value: 0)

    init(index: Int) {
        self.index = index
    }

    var isCurrent: Bool { arbiter_thread_owner() == UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()) }

    func post(_ work: @escaping () -> Void) {
        mailbox.withLock { $0.append(UnsafeWork(work: .closure(work))) }
        arrived.signal()
    }

    /// Runs what was posted, waiting up to `timeout` seconds for something; false when nothing came.
    func runPosted(waitingUpTo timeout: Double) -> Bool {
        guard arrived.wait(timeout: .now() + timeout) == .success else { return false }
        let work = mailbox.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        // One signal per item: take the extra ones for the items taken now.
        for _ in 1..<max(1, work.count) { _ = arrived.wait(timeout: .now()) }
        for item in work {
            if case .closure(let body) = item.work { body() }
        }
        return true
    }
}

/// The sync worker's loop thread as a connection owner. Between requests no application call
/// happens; an upgraded connection (WebSocket) stays with the loop, and the application's calls on
/// it — from its request thread or its tasks — arrive here and run when the loop wakes.
final class LoopThreadOwner: ConnectionOwner, Sendable {
    /// Filled by any thread, emptied by the loop thread.
    private let mailbox = Lock<[UnsafeWork]>([])
    private let wake: WakeUp

    init(wake: WakeUp) {
        self.wake = wake
    }

    var isCurrent: Bool { arbiter_thread_owner() == UnsafeRawPointer(Unmanaged.passUnretained(self).toOpaque()) }

    func post(_ work: @escaping () -> Void) {
        mailbox.withLock { $0.append(UnsafeWork(work: .closure(work))) }
        wake.signal()
    }

    /// On the loop thread, after a wake-up: runs what was posted.
    func runPosted() {
        let work = mailbox.withLock { queue in
            defer { queue.removeAll(keepingCapacity: true) }
            return queue
        }
        for item in work {
            if case .closure(let body) = item.work { body() }
        }
    }
}

/// Whoever calls: the owner a synchronous application's request thread lends its connection to
/// while the application runs (it blocks there, e.g. waiting for its own async stream, whose calls
/// arrive on other threads). The exchange contract keeps those calls sequential.
final class LentOwner: ConnectionOwner, Sendable {
    static let shared = LentOwner()

    var isCurrent: Bool { true }

    func post(_ work: @escaping () -> Void) { work() }
}
