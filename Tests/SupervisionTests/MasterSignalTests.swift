import Glibc
import Supervision
import Testing

@Suite struct MasterSignalTests {
    @Test func everySignalOnceAndNamedAfterItsNumber() {
        let numbers = MasterSignal.all.map(\.number)
        #expect(Set(numbers).count == numbers.count)
        #expect(!numbers.contains(SIGCHLD), "reaping is not an operator's command")
        for signal in MasterSignal.all {
            #expect(MasterSignal.named(signal.number) == signal)
            #expect(!signal.doc.isEmpty && !signal.doc.contains("\n") && !signal.doc.contains("|"), "\(signal.name)")
        }
        #expect(MasterSignal.named(SIGTERM)?.action == .gracefulStop)
        #expect(MasterSignal.named(SIGHUP)?.action == .reload)
        #expect(MasterSignal.named(SIGSEGV) == nil)
    }

    @Test func signalsWithTheSameEffectShareARow() {
        let table = MasterSignal.markdownTable()
        #expect(table.contains("| `INT`, `QUIT` | quick stop:"))
        #expect(table.contains("| `TTIN` | one worker more |"))
        #expect(table.split(separator: "\n").count == 2 + MasterSignal.all.count - 1)
    }

    @Test func helpListsEverySignalWithinItsWidth() {
        let usage = MasterSignal.usage(width: 80)
        for signal in MasterSignal.all { #expect(usage.contains(signal.name)) }
        for line in usage.split(separator: "\n") { #expect(line.count <= 80, "\(line)") }
        #expect(!usage.contains("`"))
    }

    /// The README's signal table is this table; regenerate the rows from `MasterSignal.markdownTable()`.
    @Test func readmeTableIsTheSignalTable() throws {
        var root = #filePath.split(separator: "/").map(String.init)
        root.removeLast(3)
        let path = "/" + root.joined(separator: "/") + "/README.md"
        let readme = try readText(path)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false)
        let header = try #require(lines.firstIndex { $0.hasPrefix("| signal to the master |") }, "README.md has no signal table")
        let table = lines[header...].prefix { $0.hasPrefix("|") }.joined(separator: "\n") + "\n"
        #expect(table == MasterSignal.markdownTable(), "README.md's signal table differs from MasterSignal.all")
    }
}

func readText(_ path: String) throws -> String {
    guard let file = fopen(path, "r") else { throw ReadFailure(path: path) }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, file)
        if n <= 0 { break }
        bytes += buffer[0..<n]
    }
    return String(decoding: bytes, as: UTF8.self)
}

struct ReadFailure: Error, CustomStringConvertible {
    let path: String
    var description: String { "cannot read \(path)" }
}
