import Glibc
import Testing

@testable import Arbiter

/// `/readyz` (isReady), the shutdown delay, and the statistics metrics report.
@Suite struct ReadinessTests {
    @Test func notReadyWhileBootingThenReady() {
        var m = Machine(config: .init(workers: 2, gracefulTimeout: 30))
        _ = m.start()
        _ = m.handle(.spawned(slot: 0, pid: 10), now: 0)
        _ = m.handle(.spawned(slot: 1, pid: 11), now: 0)
        #expect(!m.isReady)
        _ = m.handle(.ready(pid: 10), now: 1)
        #expect(!m.isReady)
        _ = m.handle(.ready(pid: 11), now: 1)
        #expect(m.isReady)
    }

    @Test func readyThroughAReloadWhileTheOldGenerationServes() {
        var m = running(2)
        _ = m.handle(.reload(.init(workers: 2, gracefulTimeout: 30)), now: 10)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 10)
        _ = m.handle(.spawned(slot: 1, pid: 201), now: 10)
        #expect(m.isReady)
        _ = m.handle(.ready(pid: 200), now: 11)
        #expect(m.isReady, "slot 0's new worker replaced the old one")
        _ = m.handle(.ready(pid: 201), now: 12)
        #expect(m.isReady)
        #expect(m.statistics.reloadsDone == 1)
        #expect(m.statistics.starts[.reload] == 2)
    }

    @Test func notReadyAfterARollbackUntilItsSlotsAreFilled() {
        var m = running(2)
        _ = m.handle(.reload(.init(workers: 2, gracefulTimeout: 30)), now: 10)
        _ = m.handle(.spawned(slot: 0, pid: 200), now: 10)
        _ = m.handle(.spawned(slot: 1, pid: 201), now: 10)
        _ = m.handle(.ready(pid: 200), now: 11)  // slot 0's old worker (100) retires
        let failed = m.handle(.exited(pid: 201, status: .code(4)), now: 11)
        #expect(spawns(failed) == [0])
        #expect(!m.isReady, "slot 0 lost its worker to the failed reload")
        #expect(m.statistics.reloadsRolledBack == 1)
        _ = m.handle(.spawned(slot: 0, pid: 300), now: 12)
        _ = m.handle(.ready(pid: 300), now: 13)
        #expect(m.isReady)
    }

    @Test func notReadyWhileStoppingOrWithoutWorkers() {
        var m = running(1)
        _ = m.handle(.signal(SIGWINCH), now: 1)
        #expect(!m.isReady, "WINCH: no workers wanted")
        var n = running(1)
        _ = n.handle(.signal(SIGTERM), now: 1)
        #expect(!n.isReady)
    }

    @Test func theShutdownDelayKeepsServingThenStopsGracefully() {
        var config = Machine.Config(workers: 1, gracefulTimeout: 30)
        config.shutdownDelay = 5
        var m = Machine(config: config)
        _ = m.handle(.spawned(slot: spawns(m.start())[0], pid: 100), now: 0)
        _ = m.handle(.ready(pid: 100), now: 0)
        let term = m.handle(.signal(SIGTERM), now: 10)
        #expect(!term.contains(.closeListeners), "listeners stay open during the delay")
        #expect(kills(term).isEmpty)
        #expect(logs(term).contains("Not ready; serving on for 5 s (shutdown_delay) before stopping"))
        #expect(!m.isReady)
        #expect(m.isStopping, "a HUP is ignored meanwhile")
        #expect(m.nextDeadline == 15)
        // A crash during the delay is still replaced: the service keeps serving.
        #expect(spawns(m.handle(.exited(pid: 100, status: .signal(SIGKILL)), now: 11)) == [0])
        _ = m.handle(.spawned(slot: 0, pid: 101), now: 11)
        let again = m.handle(.signal(SIGTERM), now: 12)
        #expect(kills(again).isEmpty && !again.contains(.closeListeners), "a second TERM changes nothing")
        #expect(m.handle(.tick, now: 14.9).isEmpty)
        let stop = m.handle(.tick, now: 15)
        #expect(stop.contains(.closeListeners))
        #expect(kills(stop).map(\.1) == [SIGTERM])
        #expect(exitCode(m.handle(.exited(pid: 101, status: .code(0)), now: 16)) == 0)
    }

    @Test func aQuickStopCutsTheShutdownDelayShort() {
        var config = Machine.Config(workers: 1, gracefulTimeout: 30)
        config.shutdownDelay = 5
        var m = Machine(config: config)
        _ = m.handle(.spawned(slot: spawns(m.start())[0], pid: 100), now: 0)
        _ = m.handle(.signal(SIGTERM), now: 1)
        let quit = m.handle(.signal(SIGINT), now: 2)
        #expect(kills(quit).map(\.1) == [SIGQUIT])
        #expect(m.handle(.tick, now: 6).allSatisfy { if case .closeListeners = $0 { false } else { true } })
    }

    @Test func startsAndExitsAreCountedByCause() {
        var m = running(2)
        #expect(m.statistics.starts[.boot] == 2)
        _ = m.handle(.exited(pid: 100, status: .signal(SIGKILL)), now: 50)
        _ = m.handle(.spawned(slot: 0, pid: 300), now: 50)
        _ = m.handle(.ready(pid: 300), now: 50)
        #expect(m.statistics.starts[.crash] == 1)
        #expect(m.statistics.exits[.signal(SIGKILL)] == 1)
        _ = m.handle(.stuck(pid: 101, description: "stuck"), now: 60)
        _ = m.handle(.exited(pid: 101, status: .signal(SIGKILL)), now: 60)
        _ = m.handle(.spawned(slot: 1, pid: 301), now: 60)
        _ = m.handle(.ready(pid: 301), now: 60)
        #expect(m.statistics.starts[.timeout] == 1)
        #expect(m.statistics.exits[.signal(SIGKILL)] == 2)
        #expect(spawns(m.handle(.signal(SIGTTIN), now: 70)) == [2])
        #expect(m.statistics.starts[.scale] == 1)
        #expect(spawns(m.handle(.retire(pid: 300, reason: "max_requests reached (10 requests)"), now: 81)) == [0])
        #expect(m.statistics.starts[.maxRequests] == 1)
        _ = m.handle(.spawned(slot: 0, pid: 400), now: 82)
        _ = m.handle(.ready(pid: 400), now: 82)
        _ = m.handle(.exited(pid: 300, status: .code(0)), now: 83)
        #expect(spawns(m.handle(.retire(pid: 400, reason: "memory: PSS 600 MiB is over max_worker_memory 500 MiB"), now: 84)) == [0])
        #expect(m.statistics.starts[.memory] == 1)
        #expect(m.statistics.starts[.boot] == 2)
        #expect(m.statistics.exits[.code(0)] == 1)
    }
}
