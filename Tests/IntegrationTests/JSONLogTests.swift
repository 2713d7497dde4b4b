import Glibc
import Platform
import Testing
import TestSupport

/// `--log-format json` end to end, each line checked by Python's json module (an independent parser).
extension Integration {
    @Suite(.enabled(if: Requirement.commands("python3"), "needs python3"))
    struct JSONLogs {
        /// Checks every line of `path` with Python; prints one summary line per log line.
        static let checker = """
            import json, sys
            for line in open(sys.argv[1], encoding="utf-8"):
                record = json.loads(line)
                assert isinstance(record, dict), line
                print(json.dumps(record, sort_keys=True))
            """

        @Test(arguments: ["sync", "async"])
        func errorAndAccessLogLinesParseAndCannotBeForged(worker: String) throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let access = dir.file("access.log")
            let errors = dir.file("error.log")
            try dir.write("check.py", Self.checker)
            let evil = #"x", "status": 999, "forged": "\#t\ y"#
            let server = try ServerProcess([
                "hello:application", "-k", worker, "--log-format", "json", "--error-logfile", errors, "--access-logfile", access,
                "--access-logformat", #"%(h)s "%(r)s" %(s)s %({x-evil}i)s"#,
            ])
            defer { server.stop() }
            // The error log goes to the file: readiness shows there.
            try waitUntil(timeout: 60) { (try? Files.readString(errors))?.contains("Ready: 1 worker(s) serving") == true }
            let client = try HTTPConnection(port: server.port)
            defer { client.close() }
            let response = try client.request("GET", "/?q=%221%22", headers: ["X-Evil: \(evil)", "User-Agent: agent \"007\""])
            #expect(response.status == 200)
            // Bytes that are not UTF-8 (obs-text, RFC 9110 §5.5) still make valid JSON.
            try client.send(Array("GET /second HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Evil: ".utf8) + [0xFF, 0xFE, 0x22, 0x7D] + Array("\r\n\r\n".utf8))
            #expect(try client.readResponse().status == 404)
            try waitUntil { (try? Files.readString(access))?.occurrences(of: "\n") == 2 }
            for (path, minimum) in [(access, 2), (errors, 4)] {
                let python = try ChildProcess(["/usr/bin/python3", dir.file("check.py"), path])
                #expect(python.wait(timeout: 30) == 0, "\(path) is not one JSON object per line:\n\(python.output)")
                #expect(python.output.split(separator: "\n").count >= minimum)
            }
            let lines = try Files.readString(access).split(separator: "\n")
            #expect(lines.count == 2, "one line per request")
            let python = try ChildProcess([
                "/usr/bin/python3", "-c",
                """
                import json, sys
                r = json.loads(open(sys.argv[1]).readline())
                assert r["status"] == 200, r
                assert "forged" not in r, r
                assert r["request_headers"]["x-evil"] == sys.argv[2], r
                assert r["user_agent"] == 'agent "007"', r
                assert r["method"] == "GET" and r["path"] == "/" and r["query"] == "q=%221%22", r
                assert isinstance(r["duration"], float) and r["duration"] >= 0, r
                assert r["worker_slot"] == 0 and isinstance(r["pid"], int), r
                print("ok")
                """, access, evil,
            ])
            #expect(python.wait(timeout: 30) == 0, "\(python.output)")
            #expect(python.output == "ok\n")
            #expect(lines[1].contains(#""x-evil":"\#u{FFFD}\#u{FFFD}\"}""#), "invalid bytes arrive as U+FFFD: \(lines[1])")
            let errorLog = try Files.readString(errors)
            #expect(errorLog.contains(#""level":"info""#) && errorLog.contains(#""message":"Ready: 1 worker(s) serving""#))
        }

        @Test func underTheJournalLinesKeepThePriorityPrefix() throws {
            let server = try ServerProcess(["hello:application", "--log-format", "json"], journal: true)
            defer { server.stop() }
            try server.waitForLog(#""message":"Ready: 1 worker(s) serving""#)
            let ready = try #require(server.log.split(separator: "\n").first { $0.contains("Ready: 1 worker(s)") })
            #expect(ready.hasPrefix(#"<6>{"level":"info","pid":"#), "\(ready)")
            #expect(!ready.contains(#""time""#), "the journal stamps the time itself")
        }
    }
}
