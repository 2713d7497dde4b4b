import Arbiter
import Glibc
import Testing

@Suite struct ControlCommandTests {
    @Test func parsesEveryCommand() throws {
        #expect(try ControlCommand.parse("status") == ControlCommand(verb: .status, json: false))
        #expect(try ControlCommand.parse("workers --json") == ControlCommand(verb: .workers, json: true))
        #expect(try ControlCommand.parse("reload") == ControlCommand(verb: .reload, json: false))
        #expect(try ControlCommand.parse("upgrade") == ControlCommand(verb: .upgrade, json: false))
        #expect(try ControlCommand.parse("reopen-logs") == ControlCommand(verb: .reopenLogs, json: false))
        #expect(try ControlCommand.parse("config --json") == ControlCommand(verb: .config, json: true))
        #expect(try ControlCommand.parse("stop") == ControlCommand(verb: .stop(quick: false), json: false))
        #expect(try ControlCommand.parse("--json stop --quick") == ControlCommand(verb: .stop(quick: true), json: true))
        #expect(try ControlCommand.parse("scale 4") == ControlCommand(verb: .scale(.absolute(4)), json: false))
        #expect(try ControlCommand.parse("scale +2") == ControlCommand(verb: .scale(.relative(2)), json: false))
        #expect(try ControlCommand.parse("scale -1 --json") == ControlCommand(verb: .scale(.relative(-1)), json: true))
    }

    @Test func refusesMalformedRequests() {
        for line in ["", "bogus", "status now", "scale", "scale two", "scale 1 2", "scale +", "reload --quick", "stop now", "scale 100000"] {
            #expect(throws: ControlCommand.Invalid.self, "\(line)") { try ControlCommand.parse(line) }
        }
    }

    @Test func scaleTargetsResolveFromTheCurrentCount() {
        #expect(ControlCommand.ScaleTarget.absolute(3).resolve(from: 5) == 3)
        #expect(ControlCommand.ScaleTarget.relative(2).resolve(from: 5) == 7)
        #expect(ControlCommand.ScaleTarget.relative(-1).resolve(from: 5) == 4)
    }
}

@Suite struct ScaleTests {
    @Test func scalingUpSettlesOnceTheNewWorkersAreReady() throws {
        var m = running(2)
        let actions = try m.scale(to: 4, now: 1).get()
        #expect(spawns(actions) == [2, 3])
        #expect(!m.hasSettled(workers: 4))
        _ = m.handle(.spawned(slot: 2, pid: 102), now: 1)
        _ = m.handle(.spawned(slot: 3, pid: 103), now: 1)
        _ = m.handle(.ready(pid: 102), now: 2)
        #expect(!m.hasSettled(workers: 4))
        _ = m.handle(.ready(pid: 103), now: 2)
        #expect(m.hasSettled(workers: 4))
    }

    @Test func scalingDownSettlesOnceTheExtraWorkersHaveLeft() throws {
        var m = running(3)
        let actions = try m.scale(to: 1, now: 1).get()
        #expect(Set(kills(actions).map(\.0)) == [101, 102])
        #expect(kills(actions).allSatisfy { $0.1 == SIGTERM })
        #expect(!m.hasSettled(workers: 1))
        _ = m.handle(.exited(pid: 101, status: .code(0)), now: 2)
        #expect(!m.hasSettled(workers: 1))
        #expect(spawns(m.handle(.exited(pid: 102, status: .code(0)), now: 2)).isEmpty)
        #expect(m.hasSettled(workers: 1))
    }

    @Test func refusedWhileReloadingOrStoppingOrOutOfRange() {
        var m = running(2)
        #expect(throws: Machine.ScaleRefused.self) { try m.scale(to: 0, now: 1).get() }
        #expect(throws: Machine.ScaleRefused.self) { try m.scale(to: Machine.maxWorkers + 1, now: 1).get() }
        _ = m.handle(.reload(.init(workers: 2, gracefulTimeout: 30)), now: 1)
        #expect(throws: Machine.ScaleRefused.self) { try m.scale(to: 3, now: 1).get() }
        var stopping = running(2)
        _ = stopping.handle(.signal(SIGTERM), now: 1)
        #expect(throws: Machine.ScaleRefused.self) { try stopping.scale(to: 3, now: 1).get() }
        #expect(!stopping.hasSettled(workers: 2))
    }
}

@Suite struct ControlDocsTests {
    /// The README's `arbiter ctl` table is `ControlCommand.usage`.
    @Test func readmeTableMatchesTheCommands() throws {
        var root = #filePath.split(separator: "/").map(String.init)
        root.removeLast(3)  // Tests/ArbiterTests/ControlCommandTests.swift
        let file = try #require(fopen("/" + root.joined(separator: "/") + "/README.md", "r"))
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while case let n = fread(&buffer, 1, buffer.count, file), n > 0 { bytes += buffer[0..<n] }
        let text = String(decoding: bytes, as: UTF8.self)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = try #require(lines.firstIndex { $0.hasPrefix("| `arbiter ctl` command |") }, "README.md has no ctl table")
        let table = lines[header...].prefix { $0.hasPrefix("|") }.joined(separator: "\n")
        #expect(table == ControlCommand.markdownTable())
    }
}
