import Platform

/// The families of `/metrics`, named after OpenTelemetry's HTTP semantic conventions where they
/// have one (`http.server.request.duration`, `http.server.active_requests`), with units in names.
extension MetricsSnapshot {
    typealias Field = WorkerCounters.Field

    func render() -> String {
        var out = Exposition()
        renderRequests(&out)
        renderConnections(&out)
        renderWorkers(&out)
        renderPerWorker(&out)
        renderMaster(&out)
        return out.text
    }

    private func seconds(_ micros: UInt64) -> Double { Double(micros) / 1_000_000 }

    private func renderRequests(_ out: inout Exposition) {
        out.family("http_server_requests_total", .counter, "HTTP requests completed, by method and status class (no class: the client left before a response).")
        for (m, method) in Field.methods.enumerated() {
            for (c, statusClass) in Field.classes.enumerated() {
                let value = totals[Field.methodClass(method: m, statusClass: c)]
                guard value > 0 else { continue }
                var labels = [("http_request_method", method)]
                if !statusClass.isEmpty { labels.append(("http_response_status_class", statusClass)) }
                out.sample("http_server_requests_total", labels, value)
            }
        }
        let counts = (0...Field.bucketBounds.count).map { totals[Field.durationBucket($0)] }
        out.histogram("http_server_request_duration_seconds", "Duration of HTTP requests, from the complete head to the last byte of the response.",
                      bounds: Field.bucketBounds, counts: counts, sum: seconds(totals[Field.durationMicros]))
        out.family("http_server_active_requests", .gauge, "HTTP requests in flight.")
        out.sample("http_server_active_requests", live.requestsInFlight)
        out.counter("arbiter_received_bytes_total", "Bytes read from client connections.", totals[Field.bytesReceived])
        out.counter("arbiter_sent_bytes_total", "Bytes written to client connections.", totals[Field.bytesSent])
    }

    private func renderConnections(_ out: inout Exposition) {
        out.counter("arbiter_connections_accepted_total", "Client connections accepted.", totals[Field.connectionsAccepted])
        out.family("arbiter_connections_open", .gauge, "Client connections open now.")
        out.sample("arbiter_connections_open", live.connectionsOpen)
        out.family("arbiter_listen_queue_connections", .gauge, "Connections waiting in a listener's kernel queue for a worker to accept them (TCP_INFO tcpi_unacked).")
        for queue in listenQueues { out.sample("arbiter_listen_queue_connections", [("listener", queue.listener)], UInt64(queue.queued)) }
        out.family("arbiter_listen_queue_limit_connections", .gauge, "The length limit of a listener's kernel queue (backlog).")
        for queue in listenQueues { out.sample("arbiter_listen_queue_limit_connections", [("listener", queue.listener)], UInt64(queue.limit)) }
        out.counter("arbiter_event_loop_blocks_total", "Jobs that held an async worker's event loop longer than block_threshold.", totals[Field.loopBlocks])
        out.counter("arbiter_event_loop_blocked_seconds_total", "Time those jobs held the event loop.", seconds(totals[Field.loopBlockedMicros]))
        out.counter("arbiter_offload_jobs_total", "Jobs run by the pools for synchronous code (offload_threads).", totals[Field.offloadFinished])
        out.counter("arbiter_offload_wait_seconds_total", "Time jobs waited in the synchronous-code pools for a free thread.", seconds(totals[Field.offloadWaitMicros]))
        out.family("arbiter_offload_busy_threads", .gauge, "Synchronous-code pool threads running a job now.")
        out.sample("arbiter_offload_busy_threads", live.offloadBusy)
        out.family("arbiter_offload_queued_jobs", .gauge, "Jobs waiting for a synchronous-code pool thread now.")
        out.sample("arbiter_offload_queued_jobs", live.offloadQueued)
    }

    private func renderWorkers(_ out: inout Exposition) {
        out.family("arbiter_workers", .gauge, "Worker processes running now (any generation, leaving ones included).")
        out.sample("arbiter_workers", UInt64(workers.count))
        out.family("arbiter_workers_wanted", .gauge, "Workers the configuration asks for.")
        out.sample("arbiter_workers_wanted", UInt64(workersWanted))
        out.gauge("arbiter_generation", "The generation of workers being served (each reload starts a new one).", Double(generation))
        out.family("arbiter_worker_starts_total", .counter, "Workers started, by cause.")
        for cause in MasterStateMachine.Statistics.StartCause.allCases {
            out.sample("arbiter_worker_starts_total", [("cause", cause.rawValue)], UInt64(statistics.starts[cause] ?? 0))
        }
        out.family("arbiter_worker_exits_total", .counter, "Workers that ended, by exit code or signal.")
        let exits = statistics.exits.map { (status, count) -> (key: String, labels: [(String, String)], count: Int) in
            switch status {
            case .code(let code): ("c\(code)", [("code", String(code)), ("signal", "")], count)
            case .signal(let signo): ("s\(signo)", [("code", ""), ("signal", Signal.name(signo))], count)
            }
        }
        for exit in exits.sorted(by: { $0.key < $1.key }) {
            out.sample("arbiter_worker_exits_total", exit.labels, UInt64(exit.count))
        }
        out.family("arbiter_reloads_total", .counter, "Reloads (HUP), by outcome.")
        out.sample("arbiter_reloads_total", [("result", "done")], UInt64(statistics.reloadsDone))
        out.sample("arbiter_reloads_total", [("result", "rolled_back")], UInt64(statistics.reloadsRolledBack))
    }

    private func renderPerWorker(_ out: inout Exposition) {
        let families: [(String, Exposition.Kind, String, (Worker) -> Double?)] = [
            ("arbiter_worker_requests_total", .counter, "Requests a worker completed.", { Double($0.counters[Field.requestsCompleted]) }),
            ("arbiter_worker_active_requests", .gauge, "Requests a worker has in flight.", { Double($0.counters.requestsInFlight) }),
            ("arbiter_worker_connections_open", .gauge, "Connections a worker holds open.", { Double($0.counters.connectionsOpen) }),
            ("arbiter_worker_event_loop_blocks_total", .counter, "Jobs that held the worker's event loop past block_threshold.", { Double($0.counters[Field.loopBlocks]) }),
            ("arbiter_worker_event_loop_blocked_seconds_total", .counter, "Time those jobs held the worker's event loop.", { Double($0.counters[Field.loopBlockedMicros]) / 1_000_000 }),
            ("arbiter_worker_offload_busy_threads", .gauge, "The worker's synchronous-code pool threads running a job.", { Double($0.counters.offloadBusy) }),
            ("arbiter_worker_offload_queued_jobs", .gauge, "Jobs waiting for the worker's synchronous-code pool.", { Double($0.counters.offloadQueued) }),
            ("arbiter_worker_offload_wait_seconds_total", .counter, "Time jobs waited for the worker's synchronous-code pool.", { Double($0.counters[Field.offloadWaitMicros]) / 1_000_000 }),
            ("arbiter_worker_memory_pss_bytes", .gauge, "The worker's proportional set size (shared pages divided among their users).", { $0.pssBytes.map(Double.init) }),
        ]
        let ordered = workers.sorted { ($0.slot, $0.pid) < ($1.slot, $1.pid) }
        for (name, kind, help, value) in families {
            out.family(name, kind, help)
            for worker in ordered {
                guard let v = value(worker) else { continue }
                out.sample(name, [("slot", String(worker.slot)), ("pid", String(worker.pid)), ("generation", String(worker.generation))], v)
            }
        }
    }

    private func renderMaster(_ out: inout Exposition) {
        out.family("arbiter_log_messages_total", .counter, "Log lines by level, from the master and every worker, counted whether or not log_level writes them (as Gunicorn's statsd counts).")
        for level in Field.logLevels {
            out.sample("arbiter_log_messages_total", [("level", level.name.lowercased())], totals[Field.logLines(level)])
        }
        out.gauge("arbiter_ready", "1 while a full generation of workers serves (what /readyz answers).", ready ? 1 : 0)
        out.gauge("process_start_time_seconds", "When the master started, in seconds since the epoch (a USR2 upgrade starts a new master, whose counters start from zero).", startTime)
    }
}
