@testable import AppProtocol
import Synchronization
import Testing

/// The token an asynchronous request's `handle` returns is its task, retained.
@Suite struct RequestTokenTests {
    @Test func aTokenIsItsTaskAndCancelsIt() async {
        #expect(MemoryLayout<Task<Void, Never>>.size == MemoryLayout<AnyObject>.size)
        let cancelled = Mutex(false)
        let started = AsyncStream<Void>.makeStream()
        let task = Task {
            started.continuation.yield()
            while !Task.isCancelled { try? await Task.sleep(nanoseconds: 1_000_000) }
            cancelled.withLock { $0 = true }
        }
        let token = RequestToken.make(task)
        for await _ in started.stream { break }
        RequestToken.task(token).cancel()
        await task.value
        #expect(cancelled.withLock { $0 })
        RequestToken.release(token)
    }

    @Test func aTokenKeepsItsTaskAliveUntilReleased() async {
        weak var observed: AnyObject?
        var token: UnsafeMutableRawPointer?
        do {
            let task = Task<Void, Never> {}
            await task.value
            token = RequestToken.make(task)
            observed = unsafeBitCast(task, to: AnyObject.self)
        }
        #expect(observed != nil)
        RequestToken.release(token!)
        #expect(observed == nil)
    }
}
