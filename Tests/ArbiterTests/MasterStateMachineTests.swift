import Arbiter
import Supervision
import Glibc
import Testing

typealias Machine = MasterStateMachine

func spawns(_ actions: [Machine.Action]) -> [Int] {
    actions.compactMap { if case .spawn(let slot) = $0 { slot } else { nil } }
}

func kills(_ actions: [Machine.Action]) -> [(Int32, Int32)] {
    actions.compactMap { if case .kill(let pid, let signo) = $0 { (pid, signo) } else { nil } }
}

func exitCode(_ actions: [Machine.Action]) -> Int32? {
    actions.compactMap { if case .exit(let code) = $0 { code } else { nil } }.first
}

func logs(_ actions: [Machine.Action]) -> [String] {
    actions.compactMap { if case .log(_, let text) = $0 { text } else { nil } }
}

/// A machine with `n` workers spawned as pids 100, 101, … and all ready at t=0.
func running(_ n: Int, gracefulTimeout: Double = 30) -> Machine {
    var m = Machine(config: .init(workers: n, gracefulTimeout: gracefulTimeout))
    for slot in spawns(m.start()) {
        _ = m.handle(.spawned(slot: slot, pid: Int32(100 + slot)), now: 0)
    }
    for slot in 0..<n { _ = m.handle(.ready(pid: Int32(100 + slot)), now: 0) }
    return m
}

@Suite struct MasterStateMachineTests {
    @Test func startFillsEverySlot() {
        var m = Machine(config: .init(workers: 3, gracefulTimeout: 30))
        #expect(spawns(m.start()) == [0, 1, 2])
    }

    @Test func announcesReadyOnceAllWorkersAreReady() {
        var m = Machine(config: .init(workers: 2, gracefulTimeout: 30))
        _ = m.start()
        _ = m.handle(.spawned(slot: 0, pid: 10), now: 0)
        _ = m.handle(.spawned(slot: 1, pid: 11), now: 0)
        #expect(logs(m.handle(.ready(pid: 10), now: 0)).isEmpty)
        #expect(logs(m.handle(.ready(pid: 11), now: 0)) == ["Ready: 2 worker(s) serving"])
    }

    @Test func aDeadWorkerIsReplacedInItsSlot() {
        var m = running(3)
        let actions = m.handle(.exited(pid: 101, status: .signal(SIGKILL)), now: 5)
        #expect(spawns(actions) == [1])
        #expect(logs(actions).first?.contains("was killed by SIGKILL") == true)
    }

    @Test func bootFailureStopsTheMasterWithItsCode() {
        // No worker serves yet: the application cannot run, so the master stops instead of looping.
        var m = Machine(config: .init(workers: 2, gracefulTimeout: 30))
        _ = m.start()
        _ = m.handle(.spawned(slot: 0, pid: 100), now: 0)
        _ = m.handle(.spawned(slot: 1, pid: 101), now: 0)
        let actions = m.handle(.exited(pid: 100, status: .code(3)), now: 1)
        #expect(spawns(actions).isEmpty)
        #expect(kills(actions).map(\.0) == [101])
        #expect(kills(actions).map(\.1) == [SIGTERM])
        let end = m.handle(.exited(pid: 101, status: .code(0)), now: 1.5)
        #expect(exitCode(end) == 3)
    }

    /// A replacement that fails to load (the library changed on disk after a rolled-back reload, or
    /// a `startup()` that failed once) does not stop a server that has served, even with one worker.
    @Test func aFailedReplacementOfTheOnlyWorkerIsRetried() {
        var m = running(1)
        #expect(spawns(m.handle(.retire(pid: 100, reason: "max_requests"), now: 20)) == [0])
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 20)
        let failed = m.handle(.exited(pid: 200, status: .code(4)), now: 20.5)
        #expect(exitCode(failed) == nil)
        #expect(spawns(failed) == [0])
    }

    /// A replacement that fails to load (the library changed on disk after a rolled-back reload, or
    /// a `startup()` that failed once) does not stop a server whose other workers serve.
    @Test func aFailedReplacementLeavesTheOtherWorkersServing() {
        var m = running(2)
        let first = m.handle(.retire(pid: 100, reason: "max_requests"), now: 20)
        #expect(spawns(first) == [0])
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 20)
        let failed = m.handle(.exited(pid: 200, status: .code(4)), now: 20.5)
        #expect(exitCode(failed) == nil)
        #expect(!kills(failed).contains { $0.0 == 101 }, "the healthy worker keeps serving")
        #expect(logs(failed).contains { $0.contains("exited with code 4") && $0.contains("the master serves on and retries the slot") })
        // The slot is refilled, with backoff when it fails again.
        #expect(spawns(failed) == [0])
        _ = m.handle(.spawned(slot: 0, pid: 201), now: 21)
        let again = m.handle(.exited(pid: 201, status: .code(4)), now: 21.2)
        #expect(spawns(again).isEmpty)
        #expect(logs(again).contains { $0.contains("restarting in") })
        #expect(exitCode(again) == nil)
    }

    @Test func appLoadFailureExitsFour() {
        var m = Machine(config: .init(workers: 1, gracefulTimeout: 30))
        _ = m.start()
        _ = m.handle(.spawned(slot: 0, pid: 7), now: 0)
        #expect(exitCode(m.handle(.exited(pid: 7, status: .code(4)), now: 0.1)) == 4)
    }

    @Test func termIsGracefulThenKillsAfterTheTimeout() {
        var m = running(2, gracefulTimeout: 10)
        let actions = m.handle(.signal(SIGTERM), now: 100)
        #expect(actions.contains(.closeListeners))
        #expect(kills(actions).map(\.1) == [SIGTERM, SIGTERM])
        #expect(m.nextDeadline == 110)
        #expect(kills(m.handle(.tick, now: 109)).isEmpty)
        _ = m.handle(.exited(pid: 100, status: .code(0)), now: 105)
        let late = m.handle(.tick, now: 110)
        #expect(kills(late).map(\.0) == [101])
        #expect(kills(late).map(\.1) == [SIGKILL])
        #expect(exitCode(m.handle(.exited(pid: 101, status: .signal(SIGKILL)), now: 110.1)) == 0)
    }

    @Test func quitIsQuick() {
        var m = running(1)
        let actions = m.handle(.signal(SIGQUIT), now: 0)
        #expect(kills(actions).map(\.1) == [SIGQUIT])
        #expect(m.nextDeadline == 2)
    }

    @Test func workersAreNotRespawnedWhileStopping() {
        var m = running(2)
        _ = m.handle(.signal(SIGTERM), now: 0)
        #expect(spawns(m.handle(.exited(pid: 100, status: .signal(SIGKILL)), now: 1)).isEmpty)
    }

    @Test func ttinAndTtouChangeTheCount() {
        var m = running(2)
        #expect(spawns(m.handle(.signal(SIGTTIN), now: 1)) == [2])
        _ = m.handle(.spawned(slot: 2, pid: 102), now: 1)
        let less = m.handle(.signal(SIGTTOU), now: 2)
        #expect(kills(less).map(\.0) == [102])
        #expect(spawns(m.handle(.exited(pid: 102, status: .code(0)), now: 3)).isEmpty)
        _ = m.handle(.signal(SIGTTOU), now: 4)
        #expect(logs(m.handle(.signal(SIGTTOU), now: 5)).first?.contains("already at 1 worker") == true)
        #expect(m.config.workers == 1)
    }

    @Test func workersDyingAtBootBackOff() {
        var m = Machine(config: .init(workers: 1, gracefulTimeout: 30))
        _ = m.start()
        _ = m.handle(.spawned(slot: 0, pid: 1), now: 0)
        // First quick death: respawn at once.
        #expect(spawns(m.handle(.exited(pid: 1, status: .code(1)), now: 0.1)) == [0])
        _ = m.handle(.spawned(slot: 0, pid: 2), now: 0.1)
        // Second: wait, and say so.
        let second = m.handle(.exited(pid: 2, status: .code(1)), now: 0.2)
        #expect(spawns(second).isEmpty)
        #expect(logs(second).last?.contains("keeps dying right after boot") == true)
        #expect(m.nextDeadline.map { abs($0 - 0.4) < 1e-9 } == true)
        #expect(spawns(m.handle(.tick, now: 0.41)) == [0])
    }
}

@Suite struct ReloadAndRecyclingTests {
    @Test func hupReplacesEachWorkerOnlyAfterItsSuccessorIsReady() {
        var m = running(2)
        let start = m.handle(.reload(.init(workers: 2, gracefulTimeout: 30)), now: 10)
        #expect(spawns(start) == [0, 1])
        #expect(m.generation == 1)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 10)
        _ = m.handle(.spawned(slot: 1, pid: 201), now: 10)
        // Nobody is retired before a replacement is ready.
        #expect(kills(m.handle(.tick, now: 11)).isEmpty)
        let first = m.handle(.ready(pid: 200), now: 12)
        #expect(kills(first).map(\.0) == [100])
        #expect(!first.contains(.reloadSucceeded(generation: 1)))
        let second = m.handle(.ready(pid: 201), now: 12)
        #expect(kills(second).map(\.0) == [101])
        #expect(second.contains(.reloadSucceeded(generation: 1)))
        // The old workers leave without being replaced.
        #expect(spawns(m.handle(.exited(pid: 100, status: .code(0)), now: 13)).isEmpty)
        #expect(spawns(m.handle(.exited(pid: 101, status: .code(0)), now: 13)).isEmpty)
        #expect(m.workerCount == 2)
    }

    @Test func aReloadThatFailsToBootRollsBack() {
        var m = running(2)
        _ = m.handle(.reload(.init(workers: 3, gracefulTimeout: 30)), now: 10)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 10)
        _ = m.handle(.spawned(slot: 1, pid: 201), now: 10)
        _ = m.handle(.spawned(slot: 2, pid: 202), now: 10)
        _ = m.handle(.ready(pid: 200), now: 11)  // slot 0's old worker (100) retires
        let failed = m.handle(.exited(pid: 201, status: .code(4)), now: 11)
        #expect(failed.contains(.reloadFailed(generation: 1, reason: "new worker (pid: 201) exited with code 4 before it was ready")))
        #expect(exitCode(failed) == nil, "a failed reload does not stop the master")
        #expect(Set(kills(failed).map(\.0)) == [200, 202])
        #expect(logs(failed).first?.contains("Reload failed: new worker (pid: 201) exited with code 4") == true)
        // Slot 0 lost its old worker to the reload: it is refilled with the previous configuration.
        #expect(spawns(failed) == [0])
        #expect(m.config.workers == 2)
        #expect(m.generation == 0)
    }

    @Test func changedWorkerCountOnReload() {
        var m = running(3)
        _ = m.handle(.reload(.init(workers: 1, gracefulTimeout: 30)), now: 1)
        _ = m.handle(.spawned(slot: 0, pid: 300), now: 1)
        let done = m.handle(.ready(pid: 300), now: 2)
        #expect(Set(kills(done).map(\.0)) == [100, 101, 102])
        #expect(done.contains(.reloadSucceeded(generation: 1)))
    }

    @Test func recyclingStartsTheReplacementFirstAndOneAtATime() {
        var m = running(2)
        let first = m.handle(.retire(pid: 100, reason: "max_requests"), now: 1)
        #expect(spawns(first) == [0])
        #expect(spawns(m.handle(.retire(pid: 101, reason: "max_requests"), now: 1)).isEmpty, "one at a time")
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 1)
        #expect(kills(m.handle(.tick, now: 2)).isEmpty)
        #expect(kills(m.handle(.ready(pid: 200), now: 2)).map(\.0) == [100])
        // When the old worker is gone, the next one's replacement starts.
        let next = m.handle(.exited(pid: 100, status: .code(0)), now: 3)
        #expect(spawns(next) == [1])
    }

    /// A new generation whose `startup()` hangs is killed at the boot timeout, and the reload
    /// rolls back instead of holding every later HUP off.
    @Test func aWorkerNotReadyWithinTheTimeoutIsKilled() {
        var config = Machine.Config(workers: 1, gracefulTimeout: 30)
        config.bootTimeout = 5
        var m = Machine(config: config)
        _ = m.start()
        _ = m.handle(.spawned(slot: 0, pid: 100), now: 0)
        _ = m.handle(.ready(pid: 100), now: 1)
        _ = m.handle(.reload(config), now: 10)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 10)
        #expect(m.nextDeadline == 15)
        #expect(kills(m.handle(.tick, now: 14)).isEmpty)
        let late = m.handle(.tick, now: 15)
        #expect(kills(late).map(\.0) == [200] && kills(late).map(\.1) == [SIGKILL])
        #expect(logs(late).contains { $0.contains("Worker (pid: 200, slot 0) not ready 5.0 s after it started (timeout)") })
        let gone = m.handle(.exited(pid: 200, status: .signal(SIGKILL)), now: 15.1)
        #expect(gone.contains { if case .reloadFailed = $0 { true } else { false } })
        #expect(!m.isReloading)
    }

    /// A worker asked to leave (here, by a reload) that still runs after the graceful timeout is killed.
    @Test func aRetiringWorkerIsKilledAfterTheGracefulTimeout() {
        var m = running(1, gracefulTimeout: 10)
        _ = m.handle(.reload(.init(workers: 1, gracefulTimeout: 10)), now: 100)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 100)
        #expect(kills(m.handle(.ready(pid: 200), now: 101)).map(\.0) == [100])
        #expect(m.nextDeadline == 0, "the retiring worker is stamped at the next tick")
        _ = m.handle(.tick, now: 101)
        #expect(m.nextDeadline == 111)
        #expect(kills(m.handle(.tick, now: 110)).isEmpty)
        let late = m.handle(.tick, now: 111)
        #expect(kills(late).map(\.0) == [100] && kills(late).map(\.1) == [SIGKILL])
        #expect(logs(late).contains { $0.contains("Worker (pid: 100, slot 0) still running 10.0 s after it was asked to leave (graceful_timeout)") })
        #expect(m.handle(.tick, now: 120).isEmpty)
    }

    @Test func aStuckWorkerIsKilledAtOnce() {
        var m = running(1)
        let stuck = m.handle(.stuck(pid: 100, description: "GET /slow made no progress for 31.0 s"), now: 50)
        // Not ABRT: Swift's runtime would catch it, print a backtrace and let the worker carry on.
        #expect(kills(stuck).map(\.1) == [SIGKILL])
        #expect(logs(stuck) == ["WORKER TIMEOUT (pid: 100, slot 0): GET /slow made no progress for 31.0 s; killing it (SIGKILL)"])
        #expect(!m.isHealthy)
        #expect(m.handle(.stuck(pid: 100, description: "again"), now: 51).isEmpty)
        #expect(kills(m.handle(.tick, now: 52)).isEmpty)
        let gone = m.handle(.exited(pid: 100, status: .signal(SIGKILL), serving: ["GET /slow"]), now: 52.1)
        #expect(logs(gone) == ["Worker (pid: 100, slot 0) was killed by SIGKILL while serving GET /slow"])
        #expect(spawns(gone) == [0])
    }

    @Test func winchStopsWorkersAndHupStartsThemAgain() {
        var m = running(2)
        let winch = m.handle(.signal(SIGWINCH), now: 1)
        #expect(kills(winch).map(\.1) == [SIGTERM, SIGTERM])
        #expect(spawns(m.handle(.exited(pid: 100, status: .code(0)), now: 2)).isEmpty)
        #expect(spawns(m.handle(.exited(pid: 101, status: .code(0)), now: 2)).isEmpty)
        #expect(spawns(m.handle(.reload(.init(workers: 2, gracefulTimeout: 30)), now: 3)) == [0, 1])
    }
}

@Suite struct CrashTests {
    /// Worker `pid` takes slot 0 at `now` and is ready at once.
    func respawned(_ m: inout Machine, pid: Int32, now: Double) {
        _ = m.handle(.spawned(slot: 0, pid: pid), now: now)
        _ = m.handle(.ready(pid: pid), now: now)
    }

    @Test func theExitLineNamesTheRequestsInFlight() {
        var m = running(2)
        let actions = m.handle(.exited(pid: 101, status: .signal(SIGILL), serving: ["GET /stream?chunks=-1"]), now: 5)
        #expect(logs(actions) == ["Worker (pid: 101, slot 1) was killed by SIGILL while serving GET /stream?chunks=-1"])
        let two = m.handle(.exited(pid: 100, status: .signal(SIGSEGV), serving: ["GET /a", "POST /b"]), now: 5)
        #expect(logs(two).first?.hasSuffix("while serving GET /a, POST /b") == true)
    }

    @Test func workersCrashingAfterReadinessBackOff() throws {
        var m = running(1)
        var now = 100.0
        // The first crash is replaced at once.
        #expect(spawns(m.handle(.exited(pid: 100, status: .signal(SIGSEGV)), now: now)) == [0])
        respawned(&m, pid: 1, now: now)
        // Each further crash in a row doubles the wait: 0.2, 0.4, 0.8, … s, at most 10 s.
        var waits: [Double] = []
        for pid in Int32(2)...9 {
            now += 0.05
            let crash = m.handle(.exited(pid: pid - 1, status: .signal(SIGSEGV), serving: ["GET /crash"]), now: now)
            #expect(spawns(crash).isEmpty)
            #expect(logs(crash).last?.hasPrefix("Worker in slot 0 keeps crashing (\(pid) times in a row); restarting in") == true)
            let deadline = try #require(m.nextDeadline)
            waits.append(deadline - now)
            #expect(spawns(m.handle(.tick, now: deadline - 0.01)).isEmpty)
            now = deadline
            #expect(spawns(m.handle(.tick, now: now)) == [0])
            respawned(&m, pid: pid, now: now)
        }
        let expected: [Double] = [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10, 10]
        #expect(zip(waits, expected).allSatisfy { abs($0 - $1) < 1e-6 }, "\(waits)")
    }

    @Test func aHealthyPeriodEndsTheRunOfCrashes() {
        var m = running(1)
        #expect(spawns(m.handle(.exited(pid: 100, status: .code(1)), now: 1)) == [0])
        respawned(&m, pid: 1, now: 1)
        #expect(spawns(m.handle(.exited(pid: 1, status: .code(1)), now: 2)).isEmpty, "second crash in a row")
        _ = m.handle(.tick, now: 3)
        respawned(&m, pid: 2, now: 3)
        // It served 10 s: its crash is a first one again.
        #expect(spawns(m.handle(.exited(pid: 2, status: .signal(SIGSEGV)), now: 13)) == [0])
    }

    @Test func cleanExitsAndRetirementsAreNoFailures() {
        var m = running(1)
        #expect(spawns(m.handle(.exited(pid: 100, status: .code(0)), now: 5)) == [0])
        respawned(&m, pid: 1, now: 5)
        #expect(spawns(m.handle(.exited(pid: 1, status: .code(0)), now: 6)) == [0])
        respawned(&m, pid: 2, now: 6)
        #expect(spawns(m.handle(.exited(pid: 2, status: .signal(SIGKILL)), now: 7)) == [0], "the first failure")
    }

    @Test func aWorkerExitWhileStoppingIsLoggedOnce() {
        var m = running(2)
        _ = m.handle(.signal(SIGTERM), now: 0)
        #expect(logs(m.handle(.exited(pid: 100, status: .code(0)), now: 1)) == ["Worker (pid: 100, slot 0) exited"])
        let last = m.handle(.exited(pid: 101, status: .signal(SIGKILL), serving: ["GET /slow"]), now: 31)
        #expect(logs(last) == ["Worker (pid: 101, slot 1) was killed by SIGKILL while serving GET /slow", "Shutting down: Master"])
    }

    @Test func theSignalTableDrivesTheMachine() {
        for signal in MasterSignal.all where signal.action != .reload && signal.action != .upgrade {
            var m = running(2)
            let actions = m.handle(.signal(signal.number), now: 1)
            #expect(logs(actions).first?.hasPrefix("Handling signal: \(signal.name.lowercased())") == true, "\(signal.name)")
        }
        var m = running(1)
        #expect(logs(m.handle(.signal(SIGALRM), now: 1)) == ["Ignoring signal SIGALRM"])
    }

    @Test func usr1TellsEveryWorkerToReopenItsLogs() {
        var m = running(2)
        let actions = m.handle(.signal(SIGUSR1), now: 1)
        #expect(actions.contains(.reopenLogs))
        #expect(actions.filter { if case .send = $0 { true } else { false } } == [.send(pid: 100, .reopenLogs), .send(pid: 101, .reopenLogs)])
        #expect(kills(actions).isEmpty)
    }
}

@Suite struct EdgeCaseTests {
    @Test func aReloadAfterARollbackGetsAFreshGeneration() {
        var m = running(1)
        _ = m.handle(.reload(.init(workers: 1, gracefulTimeout: 30)), now: 1)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 1)
        _ = m.handle(.exited(pid: 200, status: .code(1)), now: 1.5)  // rollback
        #expect(m.generation == 0)
        _ = m.handle(.reload(.init(workers: 1, gracefulTimeout: 30)), now: 2)
        #expect(m.generation == 2, "not the failed generation's number")
    }

    @Test func recyclingWaitsForAReloadAndResumesAfterIt() {
        var m = running(1)
        _ = m.handle(.reload(.init(workers: 1, gracefulTimeout: 30)), now: 1)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 1)
        #expect(spawns(m.handle(.retire(pid: 200, reason: "max_requests"), now: 2)).isEmpty)
        let done = m.handle(.ready(pid: 200), now: 3)
        #expect(done.contains(.reloadSucceeded(generation: 1)))
        #expect(spawns(done) == [0], "the queued recycling starts once the reload is done")
    }

    @Test func aRecycledWorkerWhoseReplacementFailsLeavesToo() {
        var m = running(1)
        _ = m.handle(.retire(pid: 100, reason: "max_requests"), now: 1)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 1)
        let failed = m.handle(.exited(pid: 200, status: .code(1)), now: 5)
        #expect(kills(failed).map(\.0) == [100])
        #expect(spawns(failed) == [0])
    }

    @Test func aRecycledWorkerThatDiesLeavesTheSlotToItsReplacement() {
        var m = running(1)
        _ = m.handle(.retire(pid: 100, reason: "max_requests"), now: 1)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 1)
        #expect(spawns(m.handle(.exited(pid: 100, status: .signal(SIGKILL)), now: 2)).isEmpty)
        #expect(m.workerCount == 1)
    }

    @Test func winchAbandonsAReload() {
        var m = running(1)
        _ = m.handle(.reload(.init(workers: 1, gracefulTimeout: 30)), now: 1)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 1)
        _ = m.handle(.signal(SIGWINCH), now: 2)
        _ = m.handle(.exited(pid: 200, status: .signal(SIGTERM)), now: 3)
        _ = m.handle(.exited(pid: 100, status: .code(0)), now: 3)
        #expect(spawns(m.handle(.reload(.init(workers: 1, gracefulTimeout: 30)), now: 4)) == [0])
    }
}
