import Glibc

/// Monotonic and wall-clock time.
public enum Clock {
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
