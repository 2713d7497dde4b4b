import Glibc
import Platform

extension MasterStateMachine {
    /// Graceful (TERM) or quick (INT/QUIT) stop; the first exit code stands.
    mutating func stop(graceful: Bool, exitCode: Int32, now: Double) -> [Action] {
        if case .stopping(let deadline, let code, let killed) = phase {
            guard !graceful else { return [] }
            phase = .stopping(deadline: min(deadline, now + config.quickTimeout), exitCode: code, killed: killed)
            return workers.keys.sorted().map { .kill(pid: $0, signal: SIGQUIT) }
        }
        let timeout = graceful ? config.gracefulTimeout : config.quickTimeout
        phase = .stopping(deadline: now + timeout, exitCode: exitCode, killed: false)
        stopAfterDelay = nil
        pendingSpawns.removeAll()
        reload = nil
        recycling = nil
        recycleQueue.removeAll()
        var actions: [Action] = [.notify(.stopping), .closeListeners]
        let signo = graceful ? SIGTERM : SIGQUIT
        for pid in workers.keys.sorted() {
            workers[pid]!.retiring = true
            actions.append(.kill(pid: pid, signal: signo))
        }
        if workers.isEmpty { actions += finishStopping() }
        return actions
    }

    func finishStopping() -> [Action] {
        guard case .stopping(_, let code, _) = phase else { return [] }
        return [.log(.info, "Shutting down: Master"), .exit(code)]
    }

    /// Workers serving now (not leaving) per slot.
    private var servingSlots: Set<Int> {
        Set(workers.values.filter { !$0.retiring && $0.generation == generation }.map(\.slot))
    }

    mutating func fillSlots(_ cause: Statistics.StartCause) -> [Action] {
        let used = servingSlots.union(pendingSpawns.keys)
        return (0..<config.workers).filter { !used.contains($0) }.map { spawn($0, cause) }
    }

    /// TTOU (or `arbiter ctl scale`): workers in slots at or above the new count leave gracefully.
    mutating func retireExtraSlots(because reason: String = "SIGTTOU") -> [Action] {
        for slot in pendingSpawns.keys where slot >= config.workers { pendingSpawns[slot] = nil }
        return workers.keys.sorted()
            .filter { workers[$0]!.slot >= config.workers }
            .flatMap { retire($0, because: reason) }
    }

    // MARK: Reload (HUP)

    /// Starts a new generation in every slot; old workers leave one by one as their replacements
    /// become ready, so capacity never drops.
    mutating func startReload(_ new: Config, now: Double) -> [Action] {
        guard case .running = phase else { return [] }
        if let reload {
            return [.log(.warning, "Reload ignored: generation \(reload.generation) is still starting")]
        }
        newestGeneration = max(newestGeneration, generation) + 1
        reload = Reload(generation: newestGeneration, previous: config, previousGeneration: generation)
        generation = newestGeneration
        config = new
        pendingSpawns.removeAll()
        announcedReady = true
        return [.log(.info, "Reloading: starting generation \(generation) with \(config.workers) worker(s)"),
                .notify(.reloading(generation: generation))]
            + (0..<config.workers).map { spawn($0, .reload) }
    }

    /// A new-generation worker is ready: its predecessor in that slot leaves; when all are ready
    /// the old generation's extra slots leave too.
    mutating func reloadProgress(readySlot: Int) -> [Action] {
        guard let reload else { return [] }
        var actions: [Action] = []
        for (pid, worker) in workers.sorted(by: { $0.key < $1.key })
        where worker.generation < reload.generation && worker.slot == readySlot {
            actions += retire(pid, because: "generation \(reload.generation) took over slot \(readySlot)")
        }
        let newReady = workers.values.filter { $0.generation == reload.generation && $0.ready && !$0.retiring }.count
        if newReady >= config.workers {
            for (pid, worker) in workers.sorted(by: { $0.key < $1.key }) where worker.generation < reload.generation {
                actions += retire(pid, because: "generation \(reload.generation) is serving")
            }
            self.reload = nil
            statistics.reloadsDone += 1
            actions.append(.reloadSucceeded(generation: reload.generation))
            actions.append(.log(.info, "Reload complete: generation \(reload.generation) serving with \(config.workers) worker(s)"))
            actions.append(.notify(.ready(workers: config.workers, generation: reload.generation)))
            actions += nextRecycling()
        }
        return actions
    }

    /// The new generation failed to boot: it leaves, the previous configuration serves on, and
    /// slots whose old worker already left are filled with the previous configuration.
    mutating func rollback(reason: String) -> [Action] {
        guard let reload else { return [] }
        var actions: [Action] = [
            .log(.error, "Reload failed: \(reason); keeping generation \(reload.previousGeneration)"),
            .reloadFailed(generation: reload.generation, reason: reason),
        ]
        for (pid, worker) in workers.sorted(by: { $0.key < $1.key }) where worker.generation == reload.generation {
            workers[pid]!.retiring = true
            actions.append(.kill(pid: pid, signal: SIGTERM))
        }
        config = reload.previous
        generation = reload.previousGeneration
        self.reload = nil
        statistics.reloadsRolledBack += 1
        // systemd ends its reload state at READY=1; the status says the reload failed.
        actions.append(.notify(.ready(workers: config.workers, generation: generation)))
        actions.append(.notify(.status("Reload failed; serving generation \(generation)")))
        // Old workers that were already retired cannot be called back: refill their slots.
        return actions + fillSlots(.reload) + nextRecycling()
    }

    // MARK: Recycling (max requests, memory)

    mutating func requestRecycling(pid: Int32, reason: String, now: Double) -> [Action] {
        guard case .running = phase, let worker = workers[pid], !worker.retiring,
              recycling?.old != pid, !recycleQueue.contains(where: { $0.pid == pid })
        else { return [] }
        recycleQueue.append((pid, reason))
        return nextRecycling()
    }

    /// Starts the next recycling unless one is under way: one worker at a time.
    mutating func nextRecycling() -> [Action] {
        guard recycling == nil, reload == nil else { return [] }
        while !recycleQueue.isEmpty {
            let (pid, reason) = recycleQueue.removeFirst()
            guard let worker = workers[pid], !worker.retiring else { continue }
            recycling = Recycling(old: pid, replacement: nil)
            return [.log(.info, "Recycling worker (pid: \(pid), slot \(worker.slot)): \(reason); starting its replacement first"),
                    spawn(worker.slot, Statistics.StartCause(recyclingReason: reason))]
        }
        return []
    }

    mutating func recyclingDone() -> [Action] {
        recycling = nil
        return nextRecycling()
    }
}
