import Glibc
import CArbiter

/// Monotonic and wall-clock time.
public enum Clock {
    /// The monotonic time for bookkeeping (activity stamps, timeouts): on a thread whose event loop
    /// keeps a turn clock (`startTurn`), the time its turn began, so a turn that serves many
    /// connections reads the clock once, as nginx does; elsewhere the clock itself. (Inlinable:
    /// read several times per request, in other modules.)
    @inlinable
    public static func turn() -> Double {
        let time = arbiter_get_turn_time()
        return time > 0 ? time : monotonic()
    }

    /// Reads the clock for the calling thread's turn clock (an event loop, once it wakes and after
    /// code that may have run long) and returns it.
    @discardableResult
    public static func startTurn() -> Double {
        let time = monotonic()
        arbiter_set_turn_time(time)
        return time
    }

    /// The calling thread's turn clock no longer holds: code that may block or run long runs next
    /// (an application's, a wait). `turn()` reads the clock itself until the next `startTurn`.
    public static func endTurn() {
        arbiter_set_turn_time(0)
    }

    /// Seconds on the monotonic clock.
    public static func monotonic() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static func monotonicMicroseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000 + UInt64(ts.tv_nsec) / 1000
    }

    /// Seconds since the epoch, with fractions.
    public static func wall() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Local time as `2026-11-21 12:00:00 +0000`, Gunicorn's log timestamp.
    public static func logTimestamp(_ seconds: Int = Int(wall())) -> String {
        format(seconds, "%Y-%m-%d %H:%M:%S %z")
    }

    /// `[21/Nov/2026:12:00:00 +0000]`, the access log's `%(t)s`.
    public static func accessLogTimestamp(_ seconds: Int = Int(wall())) -> String {
        "[" + format(seconds, "%d/%b/%Y:%H:%M:%S %z") + "]"
    }

    private static func format(_ seconds: Int, _ pattern: String) -> String {
        var t = time_t(seconds)
        var parts = tm()
        localtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let n = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
