import AppLoader
import Configuration
import Glibc
import Platform

extension Master {
    /// The files `--reload` watches: each place the loader looks for the application library (a
    /// build may put a newer one earlier in the search), and each `--reload-extra-file`.
    static func reloadWatchList(_ settings: Settings) -> [String] {
        var files: [String] = []
        if let app = settings.app, let spec = try? AppSpec(parsing: app) {
            files += Loader.candidates(for: spec, directory: Files.currentDirectory(), appPaths: settings.appPath)
        }
        files += settings.reloadExtraFiles.map { Files.absolute($0) }
        return files
    }

    /// The descriptor the loop polls for `--reload` (the watch starts on first use and after each
    /// reload, from the settings then current), or nil.
    func reloadWatchDescriptor() -> Int32? {
        guard settings.reload else {
            reloadWatch = nil
            return nil
        }
        if reloadWatch == nil {
            do {
                let watch = try ReloadWatch(files: Self.reloadWatchList(settings))
                reloadWatch = watch
                logger.info("Watching for changes (--reload, for development only): \(watch.files.joined(separator: ", "))")
            } catch {
                logger.error("--reload: cannot watch for changes: \(error)")
                settings.reload = false
                return nil
            }
        }
        return reloadWatch?.fd
    }

    /// Called each turn of the loop: reads what changed and, once it settled, reloads as on HUP.
    func serviceReloadWatch(readable: Bool) {
        guard let watch = reloadWatch else { return }
        let now = Clock.monotonic()
        if readable { watch.drain(now: now) }
        guard !machine.isStopping else { return }
        if machine.isReloading {
            // The previous reload is still starting: act on these changes once it is done.
            if watch.deadline != nil, watch.deadline! <= now { watch.postpone(until: now + 0.5) }
            return
        }
        guard let changed = watch.settled(now: now) else { return }
        reload(by: "Reloading: \(changed.joined(separator: ", ")) changed (--reload)")
        // The new settings may name another application or other files.
        reloadWatch = nil
    }
}
