import Glibc
import Platform
import Synchronization
import Testing
@testable import Worker

@Suite struct TimerQueueTests {
    @Test func elementsComeOutByDeadlineAndInOrderAmongEqualOnes() {
        var queue = TimerQueue<String>()
        queue.schedule("c", at: 3)
        queue.schedule("a1", at: 1)
        queue.schedule("b", at: 2)
        queue.schedule("a2", at: 1)
        #expect(queue.nextDeadline == 1)
        #expect(queue.popDue(now: 0.5) == nil)
        #expect(queue.popDue(now: 2) == "a1")
        #expect(queue.popDue(now: 2) == "a2")
        #expect(queue.popDue(now: 2) == "b")
        #expect(queue.popDue(now: 2) == nil)
        #expect(queue.count == 1)
        #expect(queue.drain().map(\.element) == ["c"])
        #expect(queue.isEmpty && queue.nextDeadline == nil)
    }

    @Test func aLargeQueueKeepsItsOrderWhileItShrinks() {
        var queue = TimerQueue<Int>()
        var generator = SystemRandomNumberGenerator()
        let deadlines = (0..<5000).map { _ in Double(Int.random(in: 0..<1000, using: &generator)) }
        for (i, deadline) in deadlines.enumerated() { queue.schedule(i, at: deadline) }
        var out: [Int] = []
        while let next = queue.popDue(now: 1000) { out.append(next) }
        // Sorted by deadline, ties by insertion order: what a stable sort gives.
        let expected = deadlines.enumerated().sorted { ($0.element, $0.offset) < ($1.element, $1.offset) }.map(\.offset)
        #expect(out == expected)
        #expect(queue.isEmpty)
    }
}

/// What the loop's delayed jobs did: tags in the order they ran, with the time they ran at.
private let ran = Mutex<[(tag: Int, at: Double)]>([])

private func job(_ tag: Int) -> Loop.Job {
    Loop.Job(job: UnsafeMutableRawPointer(bitPattern: tag), context: nil) { _, job in
        let tag = Int(bitPattern: job)
        ran.withLock { $0.append((tag, Clock.monotonic())) }
    }
}

@Suite(.serialized) struct LoopTimerTests {
    static func loop(dueTimersPerTurn: Int = 256) throws -> Loop {
        let (heartbeat, _) = try Heartbeat.create(slots: 1)
        return Loop(wake: try WakeUp(), logger: Logger(sink: try LogSink(path: nil), level: .error), blockThreshold: 60,
                    heartbeat: heartbeat, dueTimersPerTurn: dueTimersPerTurn)
    }

    /// A burst of due timers (10,000 sleeps ending together) is taken a bounded batch per turn, so
    /// the turn's I/O is not held back behind the whole burst; the batches keep deadline order.
    @Test func aTurnTakesABoundedBatchOfDueTimers() throws {
        ran.withLock { $0.removeAll() }
        let loop = try Self.loop(dueTimersPerTurn: 4)
        for tag in 0..<10 { loop.enqueue(job(tag), after: Double(tag) * 1e-6) }
        loop.runPending()  // moves them into the loop's timer queue
        usleep(2_000)  // all ten are due: the last was 9 µs away
        var perTurn: [Int] = []
        for _ in 0..<5 {
            let before = ran.withLock { $0.count }
            loop.runPending()
            perTurn.append(ran.withLock { $0.count } - before)
        }
        #expect(perTurn == [4, 4, 2, 0, 0])
        #expect(ran.withLock { $0 }.map(\.tag) == Array(0..<10))
        #expect(loop.scheduledCount == 0)
    }

    @Test func delayedJobsRunOnTheLoopInDeadlineOrderAndNeverEarly() throws {
        ran.withLock { $0.removeAll() }
        let loop = try Self.loop()
        var deadlines: [Int: Double] = [:]
        for (tag, delay) in [(1, 0.06), (2, 0.0), (3, 0.03)] {
            deadlines[tag] = Clock.monotonic() + delay
            loop.enqueue(job(tag), after: delay)  // from a thread that is not the loop's
        }
        for _ in 0..<1000 where ran.withLock({ $0.count }) < 3 {
            loop.runPending()
            if let due = loop.nextDeadline { usleep(UInt32(max(0, min(due - Clock.monotonic(), 0.1)) * 1_000_000) + 100) }
        }
        let runs = ran.withLock { $0 }
        #expect(runs.map(\.tag) == [2, 3, 1])
        for run in runs { #expect(run.at >= deadlines[run.tag]!) }
        #expect(loop.scheduledCount == 0 && loop.nextDeadline == nil)
    }

    @Test func delayedJobsStillRunAfterTheLoopHasStopped() throws {
        ran.withLock { $0.removeAll() }
        let loop = try Self.loop()
        loop.enqueue(job(7), after: 0.02)
        loop.runPending()  // now in the loop's timer queue
        #expect(loop.scheduledCount == 1)
        loop.finish()
        loop.enqueue(job(8), after: 0.01)  // after the loop stopped
        for _ in 0..<500 where ran.withLock({ $0.count }) < 2 { usleep(10_000) }
        #expect(Set(ran.withLock { $0 }.map(\.tag)) == [7, 8])
    }
}
