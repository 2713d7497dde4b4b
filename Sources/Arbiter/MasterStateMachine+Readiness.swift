extension MasterStateMachine {
    /// Whether a load balancer should send traffic (`/readyz`): a full generation serves — every
    /// wanted slot has a ready worker that is not leaving — and the master is neither booting, nor
    /// refilling slots after a reload rolled back, nor stopping or waiting out its shutdown delay.
    /// During a reload the old generation serves until its replacements are ready, so readiness holds.
    public var isReady: Bool {
        guard case .running = phase, stopAfterDelay == nil, announcedReady else { return false }
        let wanted = reload.map { min(config.workers, $0.previous.workers) } ?? config.workers
        guard wanted > 0 else { return false }
        return workers.values.filter { $0.ready && !$0.retiring }.count >= wanted
    }

    /// TERM: with a shutdown delay, first stop being ready and keep serving for that long, so load
    /// balancers and Kubernetes stop sending before the listeners close; then the graceful stop.
    mutating func gracefulStop(now: Double) -> [Action] {
        guard case .running = phase else { return stop(graceful: true, exitCode: 0, now: now) }
        if stopAfterDelay != nil { return [] }
        guard config.shutdownDelay > 0 else { return stop(graceful: true, exitCode: 0, now: now) }
        stopAfterDelay = now + config.shutdownDelay
        let delay = config.shutdownDelay == config.shutdownDelay.rounded() ? String(Int(config.shutdownDelay)) : String(config.shutdownDelay)
        return [
            .log(.info, "Not ready; serving on for \(delay) s (shutdown_delay) before stopping"),
            .notify(.status("Stopping in \(delay) s (shutdown delay)")),
        ]
    }

    /// The shutdown delay ran out: the graceful stop begins.
    mutating func shutdownDelayElapsed(now: Double) -> [Action] {
        guard let until = stopAfterDelay, now >= until else { return [] }
        stopAfterDelay = nil
        return [.log(.info, "Shutdown delay over; stopping gracefully")] + stop(graceful: true, exitCode: 0, now: now)
    }
}
