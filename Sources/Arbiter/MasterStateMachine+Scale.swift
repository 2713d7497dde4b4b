extension MasterStateMachine {
    /// The most workers `scale` accepts: one scoreboard slot each.
    public static let maxWorkers = 1024

    /// `arbiter ctl scale N`: new slots start, slots at or above `n` retire gracefully (as TTIN and
    /// TTOU, several at once). Refused while stopping or while a reload starts (a rollback would
    /// restore the old count).
    public mutating func scale(to n: Int, now: Double) -> Result<[Action], ScaleRefused> {
        guard case .running = phase else { return .failure(ScaleRefused(reason: "the master is stopping")) }
        guard reload == nil else { return .failure(ScaleRefused(reason: "a reload is starting; scale once it is done")) }
        guard n >= 1, n <= Self.maxWorkers else {
            return .failure(ScaleRefused(reason: "the worker count must be from 1 to \(Self.maxWorkers) (stop the server with `stop`)"))
        }
        let before = config.workers
        config.workers = n
        var actions: [Action] = [.log(.info, "Scaling from \(before) to \(n) worker(s) (arbiter ctl)"), .notify(.status(serving))]
        if n > before { actions += fillSlots(.scale) }
        if n < before { actions += retireExtraSlots(because: "scaled to \(n) worker(s)") }
        return .success(actions)
    }

    /// Why `scale` did nothing.
    public struct ScaleRefused: Error, Equatable, Sendable {
        public let reason: String
    }

    /// `n` workers serve: each slot below `n` has a ready worker of the current generation, and
    /// no worker is left in a slot at or above it (retired ones have exited).
    public func hasSettled(workers n: Int) -> Bool {
        guard config.workers == n, case .running = phase else { return false }
        let ready = Set(workers.values.filter { $0.ready && !$0.retiring && $0.generation == generation }.map(\.slot))
        return (0..<n).allSatisfy(ready.contains) && !workers.values.contains { $0.slot >= n }
    }
}
