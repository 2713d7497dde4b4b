import Glibc
import Platform
import Testing

/// The master prepares the log files workers open after dropping privileges, as root: it must not
/// be led through a link, nor take a file from its owner.
@Suite struct LogFilesTests {
    func directory() throws -> String {
        var template = Array("/tmp/arbiter-logs-XXXXXX".utf8CString)
        let made = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
        return String(cString: made)
    }

    @Test func aLinkIsNeverFollowed() throws {
        let dir = try directory()
        defer { _ = system("rm -rf \(dir)") }
        let target = dir + "/target"
        #expect(close(open(target, O_CREAT | O_WRONLY, 0o600)) == 0)
        #expect(symlink(target, dir + "/access.log") == 0)
        let problem = LogFiles.prepare([dir + "/access.log"], user: "nobody", group: nil)
        #expect(problem?.contains("cannot open log file \(dir)/access.log") == true, "\(problem ?? "nil")")
        var info = stat()
        #expect(stat(target, &info) == 0 && info.st_uid == geteuid(), "the link's target keeps its owner")
    }

    @Test(.enabled(if: geteuid() == 0, "needs root to give files away"))
    func onlyNewAndRootOwnedFilesChangeOwner() throws {
        let dir = try directory()
        defer { _ = system("rm -rf \(dir)") }
        #expect(LogFiles.prepare([dir + "/new.log"], user: "nobody", group: nil) == nil)
        var info = stat()
        #expect(stat(dir + "/new.log", &info) == 0 && info.st_uid == 65534)
        // A file another user owns stays theirs.
        let other = dir + "/other.log"
        #expect(close(open(other, O_CREAT | O_WRONLY, 0o644)) == 0)
        #expect(chown(other, 1, 1) == 0)
        #expect(LogFiles.prepare([other], user: "nobody", group: nil) == nil)
        #expect(stat(other, &info) == 0 && info.st_uid == 1)
    }

    @Test func aCheckCreatesNothing() throws {
        let dir = try directory()
        defer { _ = system("rm -rf \(dir)") }
        #expect(LogFiles.prepare([dir + "/a.log"], user: nil, group: nil, create: false) == nil)
        #expect(access(dir + "/a.log", F_OK) != 0)
        #expect(LogFiles.prepare(["/nonexistent-dir/a.log"], user: nil, group: nil, create: false) != nil)
    }
}
