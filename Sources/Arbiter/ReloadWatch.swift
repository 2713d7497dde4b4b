import CArbiter
import Glibc
import Platform

/// `--reload`: an inotify descriptor watching the directories of the files that matter (every
/// place the loader looks for the application library, and each `--reload-extra-file`), polled by
/// the master's loop. Owned by the master's only thread.
final class ReloadWatch {
    let fd: Int32
    /// Watch descriptor → the directory and the file names watched in it.
    private var watched: [Int32: (directory: String, names: Set<String>)] = [:]
    /// Changed files not yet acted on.
    private(set) var changed: [String] = []
    /// When to act on them: a linker writes its output in steps, so changes settle for `quiet`
    /// seconds first.
    private(set) var deadline: Double?
    static let quiet = 0.3

    /// Watches `files` (absolute paths); files in directories that do not exist yet are skipped.
    init(files: [String]) throws(SystemError) {
        fd = try syscall("inotify_init1") { arbiter_inotify_init() }
        for path in files {
            let slash = path.lastIndex(of: "/") ?? path.startIndex
            let directory = slash == path.startIndex ? "/" : String(path[..<slash])
            let name = String(path[path.index(after: slash)...])
            let wd = arbiter_inotify_watch_directory(fd, directory)
            guard wd >= 0 else { continue }
            watched[wd, default: (directory, [])].names.insert(name)
        }
    }

    deinit { Descriptor.close(fd) }

    /// The files actually watched.
    var files: [String] {
        watched.values.flatMap { entry in entry.names.map { "\(entry.directory)/\($0)" } }.sorted()
    }

    /// Reads the pending events; a watched file written or moved into place (re)starts the quiet
    /// period.
    func drain(now: Double) {
        final class Events {
            var all: [(wd: Int32, name: String)] = []
        }
        let events = Events()
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { break }
            buffer.withUnsafeBufferPointer { bytes in
                arbiter_inotify_each(bytes.baseAddress, n, Unmanaged.passUnretained(events).toOpaque()) { context, wd, name in
                    let events = Unmanaged<Events>.fromOpaque(context!).takeUnretainedValue()
                    events.all.append((wd, name.map { String(cString: $0) } ?? ""))
                }
            }
        }
        for event in events.all {
            guard let entry = watched[event.wd], entry.names.contains(event.name) else { continue }
            let path = "\(entry.directory)/\(event.name)"
            if !changed.contains(path) { changed.append(path) }
            deadline = now + Self.quiet
        }
    }

    /// The changed files once they have settled (and forgets them), else nil.
    func settled(now: Double) -> [String]? {
        guard let deadline, now >= deadline, !changed.isEmpty else { return nil }
        defer {
            changed = []
            self.deadline = nil
        }
        return changed
    }

    /// Acts on the changes later (a reload is still starting).
    func postpone(until time: Double) {
        deadline = time
    }
}
