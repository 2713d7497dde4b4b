import Glibc

/// The log files workers open themselves after dropping privileges (`--user`, `--group`).
///
/// The master creates them and, running as root, gives them to the workers' user and group, as
/// Gunicorn does: otherwise a worker could not open a file in a directory only root may write to
/// (`/var/log`), and could not open one logrotate re-created as root before `USR1`.
public enum LogFiles {
    /// Creates each file that does not exist (for appending) and, as root with `user` or `group`
    /// set, makes it theirs. Returns what went wrong, naming the file.
    public static func prepare(_ paths: [String], user: String?, group: String?) -> String? {
        let owner: (uid: uid_t, gid: gid_t)?
        switch ids(user: user, group: group) {
        case .success(let ids): owner = ids
        case .failure(let problem): return problem.description
        }
        for path in paths {
            let fd: Int32
            do {
                fd = try Files.openForAppend(path)
            } catch {
                return "cannot open log file \(path): \(error)"
            }
            defer { Descriptor.close(fd) }
            if let owner, geteuid() == 0, fchown(fd, owner.uid, owner.gid) != 0 {
                return "cannot give log file \(path) to the workers' user: \(SystemError("fchown"))"
            }
        }
        return nil
    }

    struct UnknownID: Error, CustomStringConvertible {
        let description: String
    }

    /// The user and group the workers run as: a `user` alone brings its primary group; nil when
    /// neither is set.
    static func ids(user: String?, group: String?) -> Result<(uid: uid_t, gid: gid_t)?, UnknownID> {
        guard user != nil || group != nil else { return .success(nil) }
        var uid = getuid()
        var gid = getgid()
        if let user {
            guard let entry = uid_t(user).flatMap({ getpwuid($0) }) ?? getpwnam(user) else {
                return .failure(UnknownID(description: "no such user '\(user)'"))
            }
            uid = entry.pointee.pw_uid
            gid = entry.pointee.pw_gid
        }
        if let group {
            guard let id = gid_t(group) ?? getgrnam(group)?.pointee.gr_gid else {
                return .failure(UnknownID(description: "no such group '\(group)'"))
            }
            gid = id
        }
        return .success((uid, gid))
    }
}
