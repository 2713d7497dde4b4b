import CArbiter
import Glibc
import Platform

/// `--control-socket`: the unix socket `arbiter ctl` talks to, served from the master's poll loop.
///
/// Nothing here blocks: the sockets are non-blocking, a request is one line of at most
/// `maxRequest` bytes that must arrive within `requestTimeout`, a reply that the client does not
/// read within `writeTimeout` is dropped, and at most `maxClients` are served at once (more are
/// closed on accept). A slow or hostile client costs one descriptor and a few bytes, never the
/// master's time. Owned by the master's thread, its only thread.
///
/// Protocol: the client sends `COMMAND [ARGUMENT] [--quick] [--json]\n`; the master answers `ok\n` or
/// `error\n`, then the reply (text, or one JSON object), and closes.
final class ControlServer {
    static let maxClients = 16
    static let maxRequest = 1024
    static let requestTimeout = 5.0
    static let writeTimeout = 10.0

    /// What a client waits for, once its command started a change.
    enum Wait: Equatable {
        case reload
        case scale(workers: Int)
        case upgrade
        case stop
        /// `reopen-logs`: the workers that have not confirmed yet, and until when to wait.
        case reopenLogs(pending: Set<Int32>, until: Double)
    }

    final class Client {
        /// -1 once closed (the client is then forgotten at the next `sweep`).
        var fd: Int32
        /// The request line asked for a JSON reply (known even when the rest of it is invalid).
        var wantsJSON = false
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        /// Reading: the request must be complete by then; replying: written by then.
        var deadline: Double?
        var command: ControlCommand?
        var waiting: Wait?
        var replied = false

        init(fd: Int32, deadline: Double) {
            self.fd = fd
            self.deadline = deadline
        }
    }

    let fd: Int32
    let path: String
    /// The socket file this master created (a successor replaces it; then it is not ours to remove).
    private let identity: (device: UInt64, inode: UInt64)
    private(set) var clients: [Client] = []
    let startedAt = Clock.monotonic()
    var reloadsDone = 0
    var reloadsRolledBack = 0

    /// Binds `path` with mode 0600, replacing it atomically (bind elsewhere, then rename). A live
    /// socket there is taken over only by a successor master (USR2); any other file is refused.
    init(path: String, replacingLive: Bool) throws(SystemError) {
        self.path = path
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else {
                throw SystemError("control socket \(path): the path exists and is not a socket", errno: EEXIST)
            }
            if !replacingLive, UnixSocket.isLive(path) {
                throw SystemError("control socket \(path): another process answers on it", errno: EADDRINUSE)
            }
        }
        let temporary = "\(path).\(getpid()).tmp"
        unlink(temporary)
        let fd = try UnixSocket.socket()
        do {
            // Never reachable by others, not even between bind and chmod.
            let mask = umask(0o177)
            defer { umask(mask) }
            try UnixSocket.bind(fd, path: temporary)
            try syscall("chmod(\(temporary))") { chmod(temporary, 0o600) }
            try syscall("listen(\(temporary))") { listen(fd, Int32(Self.maxClients)) }
            try Descriptor.setNonBlocking(fd)
            try syscall("rename(\(temporary))") { rename(temporary, path) }
            try syscall("stat(\(path))") { stat(path, &st) }
        } catch {
            unlink(temporary)
            Descriptor.close(fd)
            throw error
        }
        self.fd = fd
        identity = (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// The listener, then each client: readable while it may send (a waiting client's hang-up ends
    /// its wait), writable while a reply is pending.
    func appendPollDescriptors(to fds: inout [pollfd]) {
        fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
        for client in clients {
            let events = client.replied ? POLLOUT : POLLIN
            fds.append(pollfd(fd: client.fd, events: Int16(events), revents: 0))
        }
    }

    /// How many descriptors `appendPollDescriptors` adds.
    var pollCount: Int { 1 + clients.count }

    /// Serves what `poll` reported (`revents` in `appendPollDescriptors` order); returns the clients
    /// whose request line is complete, with the parsed command or why it is invalid.
    func service(_ revents: ArraySlice<pollfd>, now: Double) -> [(Client, Result<ControlCommand, ControlCommand.Invalid>)] {
        var requests: [(Client, Result<ControlCommand, ControlCommand.Invalid>)] = []
        let ready = Array(revents)
        for (index, client) in clients.enumerated() where index + 1 < ready.count && ready[index + 1].revents != 0 {
            if client.replied {
                flush(client)
            } else if let line = read(client) {
                let text = String(decoding: line, as: UTF8.self)
                client.wantsJSON = text.split(separator: " ").contains("--json")
                do throws(ControlCommand.Invalid) {
                    let command = try ControlCommand.parse(text)
                    client.command = command
                    client.deadline = nil
                    requests.append((client, .success(command)))
                } catch {
                    requests.append((client, .failure(error)))
                }
            }
        }
        if let listener = ready.first, listener.revents != 0 { acceptAll(now: now) }
        return requests
    }

    /// Reads what the client sent; the request line once it is complete. A client that hangs up,
    /// or sends more than `maxRequest` bytes without a line end, is dropped or refused.
    private func read(_ client: Client) -> [UInt8]? {
        var chunk = [UInt8](repeating: 0, count: 512)
        let n = chunk.withUnsafeMutableBytes { Glibc.read(client.fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) { return nil }
        if n <= 0 {
            drop(client)
            return nil
        }
        guard client.command == nil else { return nil }  // waiting: further bytes mean nothing
        client.input += chunk[0..<n]
        if let end = client.input.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(client.input[..<end])
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            client.input.removeAll()
            return line
        }
        if client.input.count > Self.maxRequest {
            reply(client, ok: false, text: "request longer than \(Self.maxRequest) bytes", json: nil)
        }
        return nil
    }

    private func acceptAll(now: Double) {
        while true {
            let client = arbiter_accept4(fd, nil, nil, arbiter_accept_flags())
            if client < 0 { return }
            guard clients.count < Self.maxClients else {
                Descriptor.close(client)
                continue
            }
            let entry = Client(fd: client, deadline: now + Self.requestTimeout)
            clients.append(entry)
            // SO_PEERCRED: the uid that connected, which no message can fake.
            let me = geteuid()
            guard let peer = UnixSocket.peer(client), peer.uid == me || peer.uid == 0 else {
                let who = UnixSocket.peer(client).map { "uid \($0.uid)" } ?? "an unknown peer"
                reply(entry, ok: false, text: "permission denied: \(who) is neither the master's user (uid \(me)) nor root", json: nil)
                continue
            }
        }
    }

    /// Queues the reply and starts writing it; the connection closes once it is written.
    /// `json` nil: an error reply renders as `{"ok":false,"error":…}` when JSON was asked for.
    func reply(_ client: Client, ok: Bool, text: String, json: JSONValue?) {
        guard !client.replied, client.fd >= 0 else { return }
        var body: String
        if client.command?.json ?? client.wantsJSON {
            body = (json ?? .object([("ok", .bool(ok)), ("error", .string(text))])).rendered
        } else {
            body = text
        }
        if !body.hasSuffix("\n") { body += "\n" }
        client.output = Array(((ok ? "ok\n" : "error\n") + body).utf8)
        client.replied = true
        client.waiting = nil
        client.deadline = Clock.monotonic() + Self.writeTimeout
        flush(client)
    }

    private func flush(_ client: Client) {
        while client.written < client.output.count {
            let n = client.output.withUnsafeBytes { bytes in
                Glibc.write(client.fd, bytes.baseAddress! + client.written, bytes.count - client.written)
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { return }
            if n <= 0 { break }
            client.written += n
        }
        drop(client)
    }

    private func drop(_ client: Client) {
        guard client.fd >= 0 else { return }
        Descriptor.close(client.fd)
        client.fd = -1
        client.deadline = nil
        client.waiting = nil
        clientsClosed = true
    }

    /// Set when a client closed outside `service`; `expire` sweeps them.
    private var clientsClosed = false

    /// The earliest client deadline.
    var nextDeadline: Double? {
        clients.compactMap { client in
            if case .reopenLogs(_, let until)? = client.waiting { return min(until, client.deadline ?? until) }
            return client.deadline
        }.min()
    }

    /// Drops clients past their deadline (request not sent, or reply not read, in time).
    func expire(now: Double) {
        for client in clients where (client.deadline ?? .infinity) <= now {
            if client.replied { drop(client) } else { reply(client, ok: false, text: "no complete request within \(Int(Self.requestTimeout)) s", json: nil) }
        }
        sweep()
    }

    /// Forgets closed clients (their descriptor is -1 after `drop`).
    func sweep() {
        guard clientsClosed else { return }
        clientsClosed = false
        clients.removeAll { $0.fd < 0 }
    }

    /// Clients waiting for `wait`-like changes.
    func waiting(where match: (Wait) -> Bool) -> [Client] {
        clients.filter { client in client.fd >= 0 && !client.replied && client.waiting.map(match) == true }
    }

    /// The master exits: one last write attempt for every pending reply (they are short and the
    /// socket buffer is empty), then the socket is closed and its file removed if still ours.
    func close() {
        for client in clients where client.fd >= 0 {
            if client.replied { flush(client) } else { drop(client) }
        }
        clients.removeAll()
        Descriptor.close(fd)
        var st = stat()
        if stat(path, &st) == 0, UInt64(st.st_dev) == identity.device, UInt64(st.st_ino) == identity.inode { unlink(path) }
    }
}
