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
