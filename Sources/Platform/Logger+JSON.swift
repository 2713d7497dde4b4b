import Glibc

extension Logger {
    /// The error log line as JSON: the text format's atoms (time, pid, level, message), one object
    /// per line. Under the journal the `<N>` priority prefix stays and the time goes (the journal
    /// stamps each line itself).
    func jsonLine(_ level: Level, _ message: String) -> String {
        var fields: [(String, JSONValue)] = []
        if !journal { fields.append(("time", .string(Clock.isoTimestamp()))) }
        fields += [("level", .string(level.name.lowercased())), ("pid", .integer(Int(getpid()))), ("message", .string(message))]
        let line = JSONValue.object(fields).rendered
        return journal ? "<\(level.rawValue)>" + line : line
    }
}

extension Clock {
    /// UTC time as RFC 3339 with milliseconds, `2026-11-21T12:00:00.123Z`, for JSON logs.
    public static func isoTimestamp(_ seconds: Double = wall()) -> String {
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        let n = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &parts)
        let millis = min(999, Int((seconds - seconds.rounded(.down)) * 1000))
        let fraction = String(millis)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            + "." + String(repeating: "0", count: 3 - fraction.count) + fraction + "Z"
    }
}
