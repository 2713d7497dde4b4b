import ArbiterABI
import Dispatch
import Synchronization
@_spi(ExperimentalScheduling) import _Concurrency
import Testing
@testable import AppProtocol

/// A host whose loop is a serial Dispatch queue and whose timers record the delays they are given.
private enum FakeLoop {
    static let queue = DispatchQueue(label: "fake-loop")
    static let delays = Mutex<[UInt64]>([])

    struct Job: @unchecked Sendable {  // the queue is the only user of the pointers
        let app: UnsafeMutableRawPointer?
        let job: UnsafeMutableRawPointer?
        let run: HostExecutor.RunJob
        func callAsFunction() { run(app, job) }
    }

    static func host(withTimers: Bool) -> arbiter_host {
        var host = arbiter_host()
        host.struct_size = MemoryLayout<arbiter_host>.size
        host.enqueue = { _, job, app, run in
            let work = Job(app: app, job: job, run: run!)
            FakeLoop.queue.async { work() }
        }
        if withTimers {
            host.enqueue_after = { _, job, app, run, delay in
                FakeLoop.delays.withLock { $0.append(delay) }
                let work = Job(app: app, job: job, run: run!)
                FakeLoop.queue.asyncAfter(deadline: .now() + .nanoseconds(Int(min(delay, UInt64(Int.max))))) { work() }
            }
        }
        return host
    }
}

@Suite(.serialized) struct SchedulingHostExecutorTests {
    @Test func aSleepingTaskWaitsOnTheHostsTimers() async throws {
        FakeLoop.delays.withLock { $0.removeAll() }
        let executor = SchedulingHostExecutor(FakeLoop.host(withTimers: true))
        let woke = try await Task(executorPreference: executor) {
            try await Task.sleep(nanoseconds: 30_000_000)
            return true
        }.value
        #expect(woke)
        let delays = FakeLoop.delays.withLock { $0 }
        #expect(delays.count == 1)
        #expect(delays.allSatisfy { $0 <= 30_000_000 })
    }

    @Test(.timeLimit(.minutes(1))) func aCancelledSleepEndsWithoutWaitingForItsTimer() async throws {
        FakeLoop.delays.withLock { $0.removeAll() }
        let executor = SchedulingHostExecutor(FakeLoop.host(withTimers: true))
        let started = Mutex(false)
        let task = Task(executorPreference: executor) {
            started.withLock { $0 = true }
            try await Task.sleep(nanoseconds: 3_600_000_000_000)
        }
        for _ in 0..<10_000 where !started.withLock({ $0 }) { await Task.yield() }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }

    @Test func withoutTimersTheRuntimeKeepsDelayedJobs() async throws {
        let host = FakeLoop.host(withTimers: false)
        FakeLoop.delays.withLock { $0.removeAll() }
        let executor = HostExecutor(host)
        #expect(!(executor is any SchedulingExecutor))
        let woke = try await Task(executorPreference: executor) {
            try await Task.sleep(nanoseconds: 1_000_000)
            return true
        }.value
        #expect(woke)
        #expect(FakeLoop.delays.withLock { $0 }.isEmpty)
    }

    @Test func aHostTableIsReadOnlyAsFarAsItsSizeCovers() {
        var full = FakeLoop.host(withTimers: true)
        #expect(Runtime.table(&full).enqueue_after != nil)
        // A server from before `enqueue_after`: its table ends at `offload_limit`.
        full.struct_size = MemoryLayout<arbiter_host>.offset(of: \.enqueue_after)!
        let older = Runtime.table(&full)
        #expect(older.enqueue_after == nil)
        #expect(older.enqueue != nil)
        // A server from before `on_executor`: nothing is refused as blocking its loop.
        full.on_executor = { _ in 1 }
        full.struct_size = MemoryLayout<arbiter_host>.size
        #expect(Runtime.table(&full).on_executor != nil)
        full.struct_size = MemoryLayout<arbiter_host>.offset(of: \.on_executor)!
        #expect(Runtime.table(&full).on_executor == nil)
    }

    @Test func delaysBecomeWholeNanoseconds() {
        #expect(SchedulingHostExecutor.nanoseconds(.milliseconds(1500)) == 1_500_000_000)
        #expect(SchedulingHostExecutor.nanoseconds(.nanoseconds(7)) == 7)
        #expect(SchedulingHostExecutor.nanoseconds(.seconds(-3)) == 0)
        #expect(SchedulingHostExecutor.nanoseconds(.zero) == 0)
        #expect(SchedulingHostExecutor.nanoseconds(.seconds(Int64.max)) == UInt64.max)
    }
}
