import Glibc

/// Restart backoff: a slot whose workers keep failing is refilled after a delay that doubles with
/// each consecutive failure, instead of at once and forever.
extension MasterStateMachine {
    /// A worker that dies sooner than this after starting, before it was ready, failed at boot
    /// (whatever its exit code).
    static let quickDeath = 1.0
    /// A worker that served this long after it was ready ends its slot's run of failures.
    static let healthyPeriod = 10.0
    /// The first delay, doubled with each further failure.
    static let firstBackoff = 0.1
    static let maxBackoff = 10.0

    /// Counts `worker`'s exit towards its slot's run of failures and returns how long to wait
    /// before refilling the slot (nil: at once) and the log line that says so.
    ///
    /// A failure is a death at boot or an abnormal end (a signal, a non-zero code) at any time; a
    /// clean exit counts nothing. The first failure of a run is restarted at once; the n-th waits
    /// 0.1 s · 2^(n-1), at most 10 s.
    mutating func backoff(after worker: WorkerState, status: ExitStatus, now: Double) -> (delay: Double, reason: String)? {
        if let readyAt = worker.readyAt, now - readyAt >= Self.healthyPeriod {
            failures[worker.slot] = nil
        }
        let diedAtBoot = !worker.ready && now - worker.spawnedAt < Self.quickDeath
        guard diedAtBoot || status != .code(0) else { return nil }
        let count = (failures[worker.slot] ?? 0) + 1
        failures[worker.slot] = count
        guard count > 1 else { return nil }
        let delay = min(Self.firstBackoff * pow(2, Double(count - 1)), Self.maxBackoff)
        let what = diedAtBoot ? "keeps dying right after boot" : "keeps crashing"
        return (delay, "Worker in slot \(worker.slot) \(what) (\(count) times in a row); restarting in \(formatted(delay)) s")
    }
}
