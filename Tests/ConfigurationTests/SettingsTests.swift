import Configuration
import Testing

func resolve(_ arguments: [String], env: [String: String] = [:], files: [String: String] = [:]) throws -> Invocation {
    try Invocation.resolve(arguments: arguments, environment: env) { path in
        guard let text = files[path] else { throw NoFile() }
        return text
    }
}

struct NoFile: Error, CustomStringConvertible { var description: String { "No such file or directory" } }

func errorText(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return "\(error)"
    }
}

@Suite struct SettingsTests {
    @Test func defaults() throws {
        let s = try resolve(["hello:application"]).settings
        #expect(s.app == "hello:application")
        #expect(s.bind == ["127.0.0.1:8000"])
        #expect(s.workers == 1)
        #expect(s.workerClass == .sync)
        #expect(s.threads == 1)
        #expect(s.keepalive == 5)
        #expect(s.gracefulTimeout == 30)
        #expect(s.limitRequestLine == 4094)
        #expect(s.limitRequestFields == 100)
        #expect(s.limitRequestFieldSize == 8190)
        #expect(s.backlog == 2048)
        #expect(s.workerConnections == 1000)
    }

    @Test func environmentDefaults() throws {
        let s = try resolve(["a:b"], env: ["PORT": "9000", "WEB_CONCURRENCY": "3"]).settings
        #expect(s.bind == ["0.0.0.0:9000"])
        #expect(s.workers == 3)
    }

    @Test func flagForms() throws {
        let s = try resolve(["-w4", "--threads=8", "-b", "127.0.0.1:1", "--bind", "unix:/tmp/x.sock", "--preload", "a:b"]).settings
        #expect(s.workers == 4)
        #expect(s.threads == 8)
        #expect(s.bind == ["127.0.0.1:1", "unix:/tmp/x.sock"])
        #expect(s.preloadApp)
    }

    @Test func precedenceDefaultsFileEnvironmentCommandLine() throws {
        let file = "workers = 2\nthreads = 3\nkeepalive = 7\nbind = 127.0.0.1:1\nbind = 127.0.0.1:2\n"
        let env = ["ARBITER_CMD_ARGS": "--threads 5 --keep-alive 9", "WEB_CONCURRENCY": "6"]
        let s = try resolve(["-c", "a.conf", "--keep-alive", "11", "x:y"], env: env, files: ["a.conf": file]).settings
        #expect(s.workers == 2)  // file beats the WEB_CONCURRENCY default
        #expect(s.threads == 5)  // env beats file
        #expect(s.keepalive == 11)  // command line beats env
        #expect(s.bind == ["127.0.0.1:1", "127.0.0.1:2"])  // a list accumulates within its layer
        let replaced = try resolve(["-c", "a.conf", "-b", "127.0.0.1:3", "x:y"], files: ["a.conf": file]).settings
        #expect(replaced.bind == ["127.0.0.1:3"])  // and a higher layer replaces it
    }

    @Test func fileErrorsNameFileAndLine() {
        let text = errorText { _ = try resolve(["-c", "bad.conf", "x:y"], files: ["bad.conf": "# ok\nworkers = abc\n"]) }
        #expect(text == "bad.conf:2: workers = 'abc': not a whole number")
        let unknown = errorText { _ = try resolve(["-c", "bad.conf", "x:y"], files: ["bad.conf": "\n\nworkerz = 2\n"]) }
        #expect(unknown?.hasPrefix("bad.conf:3: unknown setting 'workerz'") == true)
        let syntax = errorText { _ = try resolve(["-c", "bad.conf", "x:y"], files: ["bad.conf": "just words\n"]) }
        #expect(syntax == "bad.conf:1: expected 'key = value', got 'just words'")
        let python = errorText { _ = try resolve(["-c", "bad.conf", "x:y"], files: ["bad.conf": "import multiprocessing\n"]) }
        #expect(python?.contains("not Python") == true)
        let missing = errorText { _ = try resolve(["-c", "nope.conf", "x:y"]) }
        #expect(missing?.contains("nope.conf") == true)
    }

    @Test func commandLineErrors() {
        #expect(errorText { _ = try resolve(["--nope", "x:y"]) } == "command line: unknown option '--nope' (see arbiter --help)")
        #expect(errorText { _ = try resolve(["-w", "0", "x:y"]) } == "command line -w: workers = '0': must be at least 1")
        #expect(errorText { _ = try resolve(["-k", "prefork", "x:y"]) } == "command line -k: worker_class = 'prefork': must be one of: sync, async")
        #expect(errorText { _ = try resolve(["-w"]) } == "command line: -w needs a value")
        // Gunicorn's flags arbiter has no use for say why; typos get the nearest flags.
        #expect(errorText { _ = try resolve(["x:y", "--worker-tmp-dir", "/dev/shm"]) }?.contains("a Gunicorn flag: arbiter's heartbeats live in shared memory") == true)
        #expect(errorText { _ = try resolve(["x:y", "--loglevel", "debug"]) }?.contains("did you mean --log-level") == true)
        #expect(errorText { _ = try resolve(["x:y", "--acess-logfile", "-"]) }?.contains("--access-logfile") == true)
        #expect(errorText { _ = try resolve(["-b", "127.0.0.1:99999", "x:y"]) }?.contains("not a port number") == true)
        #expect(errorText { _ = try resolve(["a:b", "c:d"]) }?.contains("more than one application") == true)
        #expect(errorText { _ = try resolve(["--log-level", "loud", "x:y"]) }?.contains("must be debug, info") == true)
    }

    @Test func environmentArgumentsSplitLikeAShell() throws {
        #expect(try splitArguments(#"-w 2 --access-logformat "%(h)s %(r)s" 'a b' c\ d"#) == ["-w", "2", "--access-logformat", "%(h)s %(r)s", "a b", "c d"])
    }

    @Test func quotedValuesAndComments() throws {
        let file = #"access_log_format = "%(h)s \"%(r)s\" # not a comment"  # a comment"# + "\nproc_name = web # trailing\n"
        let s = try resolve(["-c", "f", "x:y"], files: ["f": file]).settings
        #expect(s.accessLogFormat == #"%(h)s "%(r)s" # not a comment"#)
        #expect(s.procName == "web")
    }

    @Test func renderReadsBackToTheSameSettings() throws {
        var s = try resolve(["-w", "3", "-b", "unix:/tmp/a b.sock", "--access-logfile", "-", "--chdir", "/srv", "x:y"]).settings
        s.accessLogFormat = #"%(h)s "%(r)s" \ end"#
        let text = ConfigFile.render(s)
        #expect(try Invocation.workerSettings(text) == s)
    }

    @Test func actions() throws {
        #expect(try resolve(["--print-config"]).action == .printConfig)
        #expect(try resolve(["--check-config", "x:y"]).action == .checkConfig)
        #expect(try resolve(["-v"]).action == .version)
        #expect(try resolve(["-h"]).action == .help)
    }

    @Test func everySettingHasAFlagOrIsTheApp() {
        for setting in Registry.all where setting.name != "app" {
            #expect(!setting.flags.isEmpty, "\(setting.name)")
        }
        let flags = Registry.all.flatMap(\.flags)
        #expect(Set(flags).count == flags.count, "a flag is used twice")
    }
}

@Suite struct ReferenceTests {
    /// docs/settings.md is generated; regenerate with `swift run arbiter --settings-reference > docs/settings.md`.
    @Test func generatedReferenceIsUpToDate() throws {
        var root = #filePath.split(separator: "/").map(String.init)
        root.removeLast(3)
        let path = "/" + root.joined(separator: "/") + "/docs/settings.md"
        let committed = try String(decoding: readFile(path), as: UTF8.self)
        #expect(committed == Reference.markdown(), "docs/settings.md is stale: run `swift run arbiter --settings-reference > docs/settings.md`")
    }

    /// The simple assignments of a gunicorn.conf.py read the same: single quotes, bracketed lists.
    @Test func gunicornStyleValues() throws {
        let file = """
            bind = ["127.0.0.1:18110", 'unix:/tmp/a.sock',]
            proc_name = 'my app'
            raw_env = ['A=1', "B=two words"]  # two variables
            workers = 3
            """
        let s = try resolve(["-c", "g.conf", "x:y"], files: ["g.conf": file]).settings
        #expect(s.bind == ["127.0.0.1:18110", "unix:/tmp/a.sock"])
        #expect(s.procName == "my app")
        #expect(s.rawEnv == ["A=1", "B=two words"])
        #expect(s.workers == 3)
        let notAList = errorText { _ = try resolve(["-c", "g.conf", "x:y"], files: ["g.conf": "workers = [\"1\", \"2\"]\n"]) }
        #expect(notAList?.contains("workers takes one value, not a list") == true)
        let unclosed = errorText { _ = try resolve(["-c", "g.conf", "x:y"], files: ["g.conf": "bind = [\"a:1\"\n"]) }
        #expect(unclosed?.contains("missing ']'") == true)
    }

    @Test func exampleConfigIsValid() throws {
        var root = #filePath.split(separator: "/").map(String.init)
        root.removeLast(3)
        let path = "/" + root.joined(separator: "/") + "/config/arbiter.conf"
        let s = try Invocation.resolve(arguments: ["-c", path], environment: [:]).settings
        #expect(s.app == "hello:application")
        #expect(s.workers == 4)
    }
}
