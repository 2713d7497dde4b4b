import CArbiter
import Dispatch
import Glibc
import Testing
@testable import Worker

/// The per-thread cache of exchange handles (`arbiter_handle_alloc`): what a thread gives back it
/// gets again, and no handle is handed out twice, also past what the cache holds.
@Suite struct HandleCacheTests {
    @Test func aHandleGivenBackIsTheNextOneTakenOnTheSameThread() throws {
        let first = try #require(arbiter_handle_alloc())
        arbiter_handle_free(first)
        let second = try #require(arbiter_handle_alloc())
        #expect(second == first)
        arbiter_handle_free(second)
    }

    /// Counts, from a thread of its own (its cache starts empty; its exit drains it).
    private final class Outcome: @unchecked Sendable {
        var takenFirst = 0
        var distinctFirst = 0
        var takenAgain = 0
        var distinctAgain = 0
    }

    @Test func noHandleIsHandedOutTwiceAlsoPastWhatTheCacheHolds() {
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        startThread(name: "handle-test") {
            var handles: [UnsafeMutableRawPointer] = []
            for _ in 0..<200 {
                guard let handle = arbiter_handle_alloc() else { continue }
                memset(handle, 0xA5, Int(ARBITER_HANDLE_SIZE))  // the whole size is usable
                handles.append(handle)
            }
            outcome.takenFirst = handles.count
            outcome.distinctFirst = Set(handles).count
            for handle in handles { arbiter_handle_free(handle) }
            var again: [UnsafeMutableRawPointer] = []
            for _ in 0..<200 { if let handle = arbiter_handle_alloc() { again.append(handle) } }
            outcome.takenAgain = again.count
            outcome.distinctAgain = Set(again).count
            for handle in again { arbiter_handle_free(handle) }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(outcome.takenFirst == 200 && outcome.distinctFirst == 200)
        #expect(outcome.takenAgain == 200 && outcome.distinctAgain == 200)
    }
}
