import Glibc

/// The user and group the workers run as (`--user`, `--group`): names or numbers, a user alone
/// bringing its primary group. The worker drops to them; the master gives them the log files.
public struct WorkerIdentity: Sendable, Equatable {
    public let uid: uid_t
    public let gid: gid_t

    public struct Unknown: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    /// nil when neither is set (the workers keep the master's identity).
    public static func resolve(user: String?, group: String?) -> Result<WorkerIdentity?, Unknown> {
        guard user != nil || group != nil else { return .success(nil) }
        var uid = getuid()
        var gid = getgid()
        if let group {
            guard let id = gid_t(group) ?? getgrnam(group)?.pointee.gr_gid else {
                return .failure(Unknown(description: "no such group '\(group)'"))
            }
            gid = id
        }
        if let user {
            guard let entry = uid_t(user).flatMap({ getpwuid($0) }) ?? getpwnam(user) else {
                return .failure(Unknown(description: "no such user '\(user)'"))
            }
            uid = entry.pointee.pw_uid
            if group == nil { gid = entry.pointee.pw_gid }
        }
        return .success(WorkerIdentity(uid: uid, gid: gid))
    }
}
