import CArbiter
import Glibc
import Platform

/// Sends metrics to a statsd server over UDP (`--statsd-host`), once a second, from the master:
/// what changed since the last send, under Gunicorn's names. With DogStatsD tags every line ends in
/// `|#tag,…`. A send that fails is dropped (statsd is lossy by design; the master never waits).
/// Owned by the master's loop thread.
final class StatsdClient {
    let fd: Int32
    let prefix: String
    let tags: String
    static let interval = 1.0
    /// Fits one Ethernet frame after the IP and UDP headers.
    static let maxDatagram = 1432
    private var last = CounterValues()
    private(set) var nextSend = 0.0

    init(host: String, prefix: String, tags: String, now: Double) throws {
        guard case .tcp(let name, let port) = try BindAddress.parse(host) else {
            throw SystemError("statsd_host '\(host)': expected HOST:PORT", errno: EINVAL)
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, String(port), &hints, &list)
        guard rc == 0, let info = list else {
            throw SystemError("statsd_host \(host): \(String(cString: gai_strerror(rc)))", errno: EINVAL)
        }
        defer { freeaddrinfo(list) }
        let fd = try syscall("socket(statsd)") {
            socket(info.pointee.ai_family, Int32(SOCK_DGRAM.rawValue) | arbiter_accept_flags(), 0)
        }
        do {
            try syscall("connect(statsd \(host))") { connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) }
        } catch {
            Descriptor.close(fd)
            throw error
        }
        self.fd = fd
        self.prefix = Self.normalizedPrefix(prefix)
        self.tags = tags.isEmpty ? "" : "|#" + tags
        nextSend = now + Self.interval
    }

    deinit { Descriptor.close(fd) }

    /// Sends what changed since the last call when the interval is over.
    func tick(now: Double, totals: CounterValues, workers: Int, backlog: Int? = nil) {
        guard now >= nextSend else { return }
        nextSend = now + Self.interval
        let lines = Self.lines(previous: last, current: totals, workers: workers, backlog: backlog, prefix: prefix, tags: tags)
        last = totals
        for datagram in Self.pack(lines) {
            datagram.withUnsafeBytes { _ = send(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
        }
    }

    typealias Field = WorkerCounters.Field

    /// `statsd_prefix` as Gunicorn applies it: trailing dots become one (`svc..` → `svc.`).
    static func normalizedPrefix(_ prefix: String) -> String {
        var trimmed = Substring(prefix)
        while trimmed.hasSuffix(".") { trimmed = trimmed.dropLast() }
        return trimmed.isEmpty ? "" : trimmed + "."
    }

    /// The statsd lines for what changed between two reads of the totals, under Gunicorn's names
    /// (so its dashboards and the Datadog integration read them): `gunicorn.requests` (counter),
    /// `gunicorn.request.status.<code>` (counters), `gunicorn.request.duration` (the interval's mean
    /// in ms, as a timer sampled at 1/requests so statsd counts every request), `gunicorn.workers`
    /// (gauge), `gunicorn.log.critical|error|warning` (counters), and with `--enable-backlog-metric`
    /// `gunicorn.backlog` (a histogram: the connections waiting in the listeners' queues now).
    static func lines(previous: CounterValues, current: CounterValues, workers: Int, backlog: Int? = nil,
                      prefix: String, tags: String) -> [String] {
        func delta(_ index: Int) -> UInt64 { current[index] >= previous[index] ? current[index] - previous[index] : 0 }
        let prefix = prefix + "gunicorn."
        var out: [String] = []
        let requests = delta(Int(Field.requestsCompleted))
        if requests > 0 {
            out.append("\(prefix)requests:\(requests)|c\(tags)")
            let micros = delta(Int(Field.durationMicros))
            let mean = Double(micros) / Double(requests) / 1000
            let rate = 1 / Double(requests)
            out.append("\(prefix)request.duration:\(Exposition.format((mean * 1000).rounded() / 1000))|ms" + (requests > 1 ? "|@\(rate)" : "") + tags)
            for code in 0..<Field.statusCodes {
                let n = delta(Field.statusCode(code))
                if n > 0, code > 0 { out.append("\(prefix)request.status.\(code):\(n)|c\(tags)") }
            }
        }
        out.append("\(prefix)workers:\(workers)|g\(tags)")
        for level in [Logger.Level.critical, .error, .warning] {
            let n = delta(Int(Field.logLines(level)))
            if n > 0 { out.append("\(prefix)log.\(level.name.lowercased()):\(n)|c\(tags)") }
        }
        if let backlog { out.append("\(prefix)backlog:\(backlog)|h\(tags)") }
        return out
    }

    /// Lines joined by newlines into datagrams of at most `maxDatagram` bytes.
    static func pack(_ lines: [String]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var current: [UInt8] = []
        for line in lines {
            let bytes = Array(line.utf8)
            if !current.isEmpty, current.count + 1 + bytes.count > maxDatagram {
                out.append(current)
                current = []
            }
            if !current.isEmpty { current.append(UInt8(ascii: "\n")) }
            current += bytes
        }
        if !current.isEmpty { out.append(current) }
        return out
    }
}
