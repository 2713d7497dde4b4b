import Configuration
import Testing

@Suite struct OperationsSettingsTests {
    @Test func aRelativeConfigPathIsAnchoredToTheLaunchDirectory() throws {
        let anchored = Invocation.anchoringConfigPath(["-c", "shop.conf", "shop:application"], environment: [:], directory: "/srv/app")
        #expect(anchored == ["-c", "shop.conf", "shop:application", "--config=/srv/app/shop.conf"])
        // The anchored path wins over the relative one.
        let files = ["/srv/app/shop.conf": "workers = 3\n"]
        #expect(try resolve(anchored, files: files).configPath == "/srv/app/shop.conf")
        #expect(try resolve(anchored, files: files).settings.workers == 3)
        // Before `--`, so it is not taken for the application.
        #expect(Invocation.anchoringConfigPath(["--config=a.conf", "--", "x:y"], environment: [:], directory: "/d")
            == ["--config=a.conf", "--config=/d/a.conf", "--", "x:y"])
        // From ARBITER_CMD_ARGS too; absolute paths and no config are left alone.
        #expect(Invocation.anchoringConfigPath(["x:y"], environment: ["ARBITER_CMD_ARGS": "-c conf/a.conf -w 2"], directory: "/d")
            == ["x:y", "--config=/d/conf/a.conf"])
        #expect(Invocation.anchoringConfigPath(["-c", "/etc/a.conf"], environment: [:], directory: "/d") == ["-c", "/etc/a.conf"])
        #expect(Invocation.anchoringConfigPath(["x:y"], environment: [:], directory: "/d") == ["x:y"])
    }

    @Test func theErrorLogDashIsStderrAsInGunicorn() throws {
        #expect(try resolve(["a:b", "--error-logfile", "-"]).settings.errorLogDestination == nil)
        #expect(try resolve(["a:b"]).settings.errorLogDestination == nil)
        #expect(try resolve(["a:b", "--error-logfile", "/var/log/a.log"]).settings.errorLogDestination == "/var/log/a.log")
    }

    @Test func offloadThreadsIsItsOwnSettingThatDoesNotSerialise() throws {
        let defaults = try resolve(["a:b"]).settings
        #expect(defaults.threads == 1)
        #expect(defaults.offloadThreads >= 10)
        #expect(try resolve(["a:b", "--offload-threads", "4"]).settings.offloadThreads == 4)
    }
}

@Suite struct HelpAndErrorsTests {
    @Test func helpShowsDefaultsChoicesAndWholeSentences() {
        let help = Reference.usage()
        #expect(help.contains("-k, --worker-class {sync,async}"))
        #expect(help.contains("[default: sync]"))
        #expect(help.contains("--offload-threads INT"))
        #expect(help.contains("[default: 64]"))
        #expect(help.contains("--check-startup"))
        // Not cut at "e.g.": the whole first sentence.
        #expect(help.contains("The file mode creation mask of the master and workers, in octal (e.g. 027)."))
        for line in help.split(separator: "\n") where line.hasPrefix("  -k") {
            #expect(line.contains("gthread is -k sync --threads N"))
        }
    }

    @Test func gunicornWorkerClassesPointToTheirEquivalent() {
        let gthread = errorText { _ = try resolve(["a:b", "-k", "gthread"]) }
        #expect(gthread?.contains("gthread is `-k sync --threads N` here") == true)
        let gevent = errorText { _ = try resolve(["a:b", "-k", "gevent"]) }
        #expect(gevent?.contains("is `-k async` here") == true)
        #expect(errorText { _ = try resolve(["a:b", "-k", "nope"]) }?.contains("must be one of: sync, async") == true)
    }

    @Test func aConfigFileReportsEveryProblem() {
        let text = "workers = many\nbogus = 1\nthreads = 0\nno equals here\ntimeout = 5\n"
        let message = errorText { _ = try resolve(["a:b", "-c", "app.conf"], files: ["app.conf": text]) }
        #expect(message == """
            app.conf:1: workers = 'many': not a whole number
            app.conf:2: unknown setting 'bogus'
            app.conf:3: threads = '0': must be at least 1
            app.conf:4: expected 'key = value', got 'no equals here'
            """)
        // One problem reads as before.
        #expect(errorText { _ = try resolve(["a:b", "-c", "app.conf"], files: ["app.conf": "workers = x\n"]) }
            == "app.conf:1: workers = 'x': not a whole number")
    }

    @Test func unknownAccessLogAtomsAreWarnedAbout() throws {
        let settings = try resolve(["a:b", "--access-logfile", "-", "--access-logformat", #"%(h)s %(x)s "%({user-agent}i)s" %(Z)s %(x)s"#]).settings
        #expect(settings.unknownAccessLogAtoms == ["x", "Z"])
        #expect(settings.startupWarnings == ["access_log_format: unknown atom(s) %(x)s, %(Z)s will print '-' (see arbiter --help for the atoms)"])
        #expect(try resolve(["a:b", "--access-logfile", "-"]).settings.startupWarnings.isEmpty)
    }
}

@Suite struct UmaskTests {
    @Test func umaskIsValidatedWhereItIsRead() throws {
        #expect(try resolve(["a:b", "-m", "027"]).settings.fileModeMask == 0o027)
        #expect(try resolve(["a:b", "-m", "0o77"]).settings.fileModeMask == 0o77)
        #expect(try resolve(["a:b"]).settings.fileModeMask == nil)
        #expect(errorText { _ = try resolve(["a:b", "-m", "999"]) } == "command line -m: umask = '999': not an octal file mode mask (e.g. 027)")
    }
}
