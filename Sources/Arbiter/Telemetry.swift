import Glibc
import Platform

/// The master's metrics state: the totals of exited workers, its own counts (log lines), the
/// metrics listener and the statsd sender. Owned by the master's loop thread (its only thread).
final class Telemetry {
    var totals = CounterTotals()
    /// The master's own counts (its log lines), installed for this process at start.
    let own: WorkerCounters
    var server: MetricsServer?
    var statsd: StatsdClient?
    /// When the master started (seconds since the epoch).
    let startTime: Double

    init() {
        own = WorkerCounters.local()
        own.install()
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        startTime = Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    /// Whether anything reads the workers' counters (metrics or statsd); set at start, like them.
    var isCounting: Bool { server != nil || statsd != nil }

    /// The next time the loop must wake for telemetry, if any.
    var nextDeadline: Double? {
        [server?.nextDeadline, statsd?.nextSend].compactMap { $0 }.min()
    }

    /// Closes the metrics listener (its unix socket file stays when a successor master serves it).
    func close(keepingPath: Bool) {
        guard let server else { return }
        if keepingPath {
            Descriptor.close(server.listener.fd)
        } else {
            server.close()
        }
        self.server = nil
    }
}
