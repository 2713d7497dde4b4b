import Glibc

/// The log files workers open themselves after dropping privileges (`--user`, `--group`).
///
/// The master creates them and, running as root, gives them to the workers' user and group, as
/// Gunicorn does: otherwise a worker could not open a file in a directory only root may write to
/// (`/var/log`), and could not open one logrotate re-created as root before `USR1`.
public enum LogFiles {
    /// Creates each file that does not exist (for appending) and, as root with `user` or `group`
    /// set, gives it to them. Returns what went wrong, naming the file.
    ///
    /// The master runs as root and the directory may be the workers' to write, so a worker could
    /// put a symbolic link where a log file was (pointing at `/etc/shadow`): a path is never
    /// followed through a link, must be a regular file, and only a file the master created here,
    /// or one root owns with no other link to it (re-created by logrotate), changes owner.
    /// With `create` false (`--check-config`), nothing is created: a missing file only needs a
    /// directory the master may write to.
    public static func prepare(_ paths: [String], user: String?, group: String?, create: Bool = true) -> String? {
        let owner: WorkerIdentity?
        switch WorkerIdentity.resolve(user: user, group: group) {
        case .success(let identity): owner = identity
        case .failure(let problem): return problem.description
        }
        for path in paths {
            var created = false
            var fd = create ? open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644) : -1
            if fd >= 0 {
                created = true
            } else if !create || errno == EEXIST {
                fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC)
                if fd < 0 && !create && errno == ENOENT {
                    let directory = Self.directory(of: path)
                    if access(directory, W_OK | X_OK) == 0 { continue }
                    return "cannot create log file \(path): \(SystemError("access(\(directory))"))"
                }
            }
            guard fd >= 0 else { return "cannot open log file \(path): \(SystemError("open"))" }
            defer { Descriptor.close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
                return "log file \(path) is not a regular file"
            }
            guard let owner, geteuid() == 0, created || (info.st_uid == 0 && info.st_nlink == 1) else { continue }
            if fchown(fd, owner.uid, owner.gid) != 0 {
                return "cannot give log file \(path) to the workers' user: \(SystemError("fchown"))"
            }
        }
        return nil
    }

    /// The directory part of `path` ("." for a bare name).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
