import Configuration
import CArbiter
import Glibc
import Platform

/// Metrics and health checks, served from the master's loop without asking any worker.
extension Master {
    /// Descriptors the loop polls for the metrics listener and its clients, appended to `fds`.
    ///
    /// Once a new master started by USR2 serves, it alone takes new scrapes and probes on the
    /// shared listener (and sends statsd lines): answered by both, `/readyz` would flap between
    /// them and counters would jump between their totals. Should the new master exit, this one
    /// takes them again.
    func appendMetricsDescriptors(to fds: inout [pollfd]) {
        if let server = telemetry.server { fds += server.pollDescriptors(accepting: !successorServes) }
    }

    /// After poll: answers scrapes and health checks, and sends statsd lines when due.
    func serviceTelemetry(_ fds: ArraySlice<pollfd>) {
        let now = Clock.monotonic()
        telemetry.server?.service(fds, now: now) { _, path in respond(to: path) }
        if let statsd = telemetry.statsd, now >= statsd.nextSend, !successorServes {
            // Gunicorn's backlog: the listeners' queues summed (a unix socket's reads as none).
            let backlog = settings.enableBacklogMetric
                ? listeners.reduce(0) { $0 + Int(ListenQueue.read($1.fd)?.queued ?? 0) } : nil
            statsd.tick(now: now, totals: totalCounters(), workers: workers.count, backlog: backlog)
        }
    }

    func respond(to path: String) -> MetricsServer.Response {
        switch path {
        case "/metrics":
            return .init(status: 200, contentType: Exposition.contentType, body: metricsSnapshot().render())
        case "/livez":
            // Answered by the master's loop itself: that it answers is the check.
            return .init(status: 200, contentType: "text/plain", body: "ok\n")
        case "/readyz":
            return machine.isReady
                ? .init(status: 200, contentType: "text/plain", body: "ready\n")
                : .init(status: 503, contentType: "text/plain", body: "not ready\n")
        default:
            return .init(status: 404, contentType: "text/plain", body: "not found: try /metrics, /livez or /readyz\n")
        }
    }

    /// A counters page for a new worker, when anything reads counters (else the worker counts
    /// nothing: each count is a branch on a null page).
    func makeCounters() throws -> (page: WorkerCounters, fd: Int32)? {
        guard telemetry.isCounting else { return nil }
        let threads = settings.workerClass == .sync ? settings.threads : 0
        let (page, fd) = try WorkerCounters.create(stripes: WorkerCounters.stripes(requestThreads: threads))
        return (page, fd)
    }

    /// A worker exited: its last counts join the totals before its page goes away.
    func foldCounters(of worker: Worker) {
        if let counters = worker.counters { telemetry.totals.fold(counters.read()) }
    }

    /// Every count so far: exited workers, running workers, the master.
    func totalCounters() -> CounterValues {
        telemetry.totals.totals(live: workers.values.compactMap { $0.counters?.read() }, master: telemetry.own.read())
    }

    func metricsSnapshot() -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        var live: [CounterValues] = []
        for (pid, worker) in workers {
            let counters = worker.counters?.read() ?? CounterValues()
            live.append(counters)
            let state = machine.workers[pid]
            snapshot.workers.append(.init(
                slot: state?.slot ?? -1, pid: pid, generation: state?.generation ?? machine.generation, counters: counters,
                pssBytes: Memory.proportionalKiB(pid).map { $0 * 1024 }))
        }
        snapshot.totals = telemetry.totals.totals(live: live, master: telemetry.own.read())
        snapshot.live = live.reduce(CounterValues(), +)
        snapshot.statistics = machine.statistics
        snapshot.workersWanted = machine.config.workers
        snapshot.ready = machine.isReady
        snapshot.generation = machine.generation
        snapshot.listenQueues = listeners.compactMap { listener in
            ListenQueue.read(listener.fd).map { .init(listener: listener.name, queued: $0.queued, limit: $0.limit) }
        }
        snapshot.startTime = telemetry.startTime
        return snapshot
    }
}

/// A TCP listener's accept queue, as the kernel reports it for a listening socket (what Gunicorn
/// reads): `tcpi_unacked` holds the connections waiting, `tcpi_sacked` the queue's limit.
enum ListenQueue {
    static func read(_ fd: Int32) -> (queued: UInt32, limit: UInt32)? {
        var info = tcp_info()
        var length = socklen_t(MemoryLayout<tcp_info>.size)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0 else { return nil }
        return (info.tcpi_unacked, info.tcpi_sacked)
    }
}

extension Master {
    /// Starts serving metrics on `metricsListener` and sending to statsd, as the settings ask.
    func startTelemetry(metricsListener: Listener?) throws {
        if let metricsListener {
            telemetry.server = try MetricsServer(listener: metricsListener)
            logger.info("Serving metrics at: \(metricsListener.name) (GET /metrics, /livez, /readyz)")
        }
        if let host = settings.statsdHost {
            telemetry.statsd = try StatsdClient(host: host, prefix: settings.statsdPrefix, tags: settings.dogstatsdTags, now: Clock.monotonic())
            logger.info("Sending statsd metrics to \(host)")
        }
    }
}

extension ArbiterMain {
    /// The metrics listener `metrics_bind` names: adopted from an upgrading master, or bound.
    static func bindMetrics(_ settings: Settings, inherited: [String: Int32], logger: Logger) throws -> Listener? {
        guard let text = settings.metricsBind else { return nil }
        let address = try BindAddress.parse(text)
        if let fd = inherited[Telemetry.inheritedPrefix + address.description] {
            return try Listener.adopt(fd: fd, as: address)
        }
        return try Listener.bind(address, backlog: 64)
    }
}

extension Telemetry {
    /// Marks the metrics listener among the sockets an upgrading master hands on.
    static let inheritedPrefix = "metrics:"
}
