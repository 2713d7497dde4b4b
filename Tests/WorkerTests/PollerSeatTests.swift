import Dispatch
import Glibc
import Platform
import Synchronization
import Testing
@testable import Worker

@Suite struct PollerSeatTests {
    /// Atomics shared with the test's threads.
    private final class Shared: Sendable {
        let took = Atomic<Bool>(false)
        let holders = Atomic<Int>(0)
        let overlaps = Atomic<Int>(0)
        init() {}
    }

    /// Runs `body` on a new thread; the semaphore is signalled when it returns.
    private static func spawn(_ body: @escaping @Sendable () -> Void) -> DispatchSemaphore {
        let done = DispatchSemaphore(value: 0)
        startThread(name: "seat-test") {
            body()
            done.signal()
        }
        return done
    }

    @Test func aFreeSeatIsTakenAtOnceAndHandsOutTheWaitsEventsInTurn() throws {
        let seat = PollerSeat(batch: 4)
        let set = try Epoll()
        let first = try WakeUp(), second = try WakeUp()
        defer {
            close(set.fd)
            close(first.fd)
            close(second.fd)
        }
        try set.add(first.fd, events: Events.readable, token: 1)
        try set.add(second.fd, events: Events.readable, token: 2)
        first.signal()
        second.signal()
        var tokens: [UInt64] = []
        for _ in 0..<2 {
            seat.take()
            tokens.append(seat.nextEvent(in: set).token)
            seat.leave()
        }
        // One wait took both; the second holder got the one the first left.
        #expect(tokens.sorted() == [1, 2])
    }

    /// A holder that does not come back for a whole `grace` (its request turned out slow) loses the
    /// seat to the standby; one that holds it (waiting in epoll) keeps it.
    @Test func aHolderAwayAWholeGraceLosesTheSeatToTheStandby() {
        let seat = PollerSeat(grace: 0.002)
        seat.take()
        let shared = Shared()
        let done = Self.spawn {
            seat.take()
            shared.took.store(true, ordering: .releasing)
        }
        // The standby's checks (ten, then it sleeps until a leave) find the seat taken.
        usleep(100_000)
        let tookWhileHeld = shared.took.load(ordering: .acquiring)
        #expect(!tookWhileHeld)
        seat.leave()
        #expect(done.wait(timeout: .now() + 10) == .success)
        let tookOnceLeft = shared.took.load(ordering: .acquiring)
        #expect(tookOnceLeft)
    }

    /// A standby that found the seat taken long enough sleeps without a timeout (an idle worker
    /// does not wake every `grace`), and the next holder to leave wakes it.
    @Test func aDormantStandbyIsWokenWhenTheSeatIsLeft() throws {
        let seat = PollerSeat(grace: 0.001, dormantAfter: 3)
        seat.take()
        let done = Self.spawn { seat.take() }
        let deadline = Clock.monotonic() + 10
        while !seat.standbyIsDormant && Clock.monotonic() < deadline { usleep(1000) }
        try #require(seat.standbyIsDormant)
        seat.leave()
        #expect(done.wait(timeout: .now() + 10) == .success)
    }

    /// A holder that serves quick requests one after another keeps the seat: the standby finds it
    /// free at its checks, but taken and left in between, and a second thread would add nothing.
    /// Slow requests in a row (their threads wait on something) pass it to the standby.
    @Test(arguments: [false, true])
    func aRunOfQuickRequestsKeepsTheSeatAndARunOfSlowOnesPassesIt(slowRequests: Bool) throws {
        // Long enough that the test's thread, preempted between `leave` and `take` on a busy
        // machine, is not away for a whole check (which is a vacancy, rightly taken).
        let grace = 0.1
        let seat = PollerSeat(grace: grace, dormantAfter: 3)
        seat.take()
        let shared = Shared()
        let done = Self.spawn {
            seat.take()
            shared.took.store(true, ordering: .releasing)
            seat.leave()
        }
        // The other thread is the standby, asleep once its checks found the seat taken.
        let deadline = Clock.monotonic() + 10
        while !seat.standbyIsDormant && Clock.monotonic() < deadline { usleep(1000) }
        try #require(seat.standbyIsDormant)
        // Serve "requests" for 20 checks' worth of `grace` while holding and leaving the seat, as
        // a request thread does: quick ones in no time, slow ones waiting for `grace / 5` each.
        let end = Clock.monotonic() + 20 * grace
        var tookDuringRequests = false
        while Clock.monotonic() < end {
            seat.leave()
            if slowRequests { usleep(UInt32(grace / 5 * 1e6)) }
            seat.served(seconds: slowRequests ? grace / 5 : 0)
            seat.take()
            if shared.took.load(ordering: .acquiring) {
                tookDuringRequests = true
                break
            }
        }
        #expect(tookDuringRequests == slowRequests)
        seat.leave()
        #expect(done.wait(timeout: .now() + 10) == .success)
    }

    /// Many threads taking and leaving: one holder at a time, and none is left waiting.
    @Test func oneHolderAtATimeAndNoThreadIsLeftWaiting() {
        let seat = PollerSeat(grace: 0.001)
        let shared = Shared()
        let threads = 8, rounds = 2000
        let finished = (0..<threads).map { index in
            Self.spawn {
                for round in 0..<rounds {
                    seat.take()
                    if shared.holders.add(1, ordering: .relaxed).newValue != 1 { shared.overlaps.add(1, ordering: .relaxed) }
                    shared.holders.subtract(1, ordering: .relaxed)
                    seat.leave()
                    // Now and then a "request" that takes longer than the grace.
                    if (round + index) % 500 == 0 { usleep(3000) }
                }
            }
        }
        for done in finished { #expect(done.wait(timeout: .now() + 60) == .success) }
        let overlaps = shared.overlaps.load(ordering: .relaxed)
        #expect(overlaps == 0)
    }
}
