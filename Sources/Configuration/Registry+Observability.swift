import Platform

extension Registry {
    static let observability: [Setting] = [
        .string("metrics_bind", ["--metrics-bind"], section: "Metrics and health",
                help: "Where the master serves metrics and health checks (off by default): `HOST:PORT`, `unix:PATH` or `fd://N`. `GET /metrics` is the Prometheus text format, summed over all workers from pages they share with the master (a stuck worker cannot stall a scrape; counters of workers that exited are kept, so they never go backwards); `GET /livez` answers 200 while the master's loop runs; `GET /readyz` answers 200 only while a full generation of workers serves (503 while booting, after a reload rolled back until its slots are filled again, and while stopping, including the shutdown delay). Keep it off the public network.",
                \.metricsBind).validated(metricsBindProblem),
        .string("statsd_host", ["--statsd-host"], section: "Metrics and health",
                help: "Send metrics to a statsd server at `HOST:PORT` (UDP), once a second, from the master, under Gunicorn's names after `statsd_prefix`: `gunicorn.requests`, `gunicorn.request.duration`, `gunicorn.request.status.<code>`, `gunicorn.workers`, `gunicorn.log.critical`, `gunicorn.log.error`, `gunicorn.log.warning` (and `gunicorn.backlog` with `enable_backlog_metric`).",
                \.statsdHost).validated(statsdHostProblem),
        .text("statsd_prefix", ["--statsd-prefix"], section: "Metrics and health",
              help: "A prefix for statsd metric names (`shop` gives `shop.gunicorn.requests`; trailing dots become one).",
              \.statsdPrefix),
        .text("dogstatsd_tags", ["--dogstatsd-tags"], section: "Metrics and health",
              help: "DogStatsD tags added to every statsd line: comma-separated `key:value` (or `key`) items, e.g. `env:prod,service:shop`.",
              \.dogstatsdTags).validated(dogstatsdTagsProblem),
        .boolean("enable_backlog_metric", ["--enable-backlog-metric"], section: "Metrics and health",
                 help: "With `statsd_host`, also send `gunicorn.backlog` once a second (a histogram, as Gunicorn does): the connections waiting in the TCP listeners' kernel queues for a worker to accept them, summed over the listeners. Prometheus has it per listener as `arbiter_listen_queue_connections` either way.",
                 \.enableBacklogMetric),
        .seconds("shutdown_delay", ["--shutdown-delay"], section: "Metrics and health",
                 help: "On TERM, first report not-ready (`/readyz` 503) and keep serving for this many seconds, then stop gracefully: load balancers and Kubernetes stop sending new requests before the listeners close. 0 (the default) stops at once. Give the orchestrator a grace period of at least this plus `graceful_timeout`.",
                 \.shutdownDelay),
    ]
}

@Sendable func metricsBindProblem(_ text: String) -> String? {
    do {
        _ = try BindAddress.parse(text)
        return nil
    } catch {
        return "\(error)"
    }
}

@Sendable func statsdHostProblem(_ text: String) -> String? {
    guard case .tcp = try? BindAddress.parse(text) else { return "expected HOST:PORT (a UDP address)" }
    return nil
}

/// Tags are sent as they are, so they may not carry the line's own separators.
@Sendable func dogstatsdTagsProblem(_ text: String) -> String? {
    text.contains(where: { $0 == "|" || $0 == "\n" || $0 == "#" || $0 == " " })
        ? "tags may not contain '|', '#', spaces or line breaks" : nil
}
