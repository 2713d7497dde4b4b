import Glibc
import Platform
import Testing
import TestSupport

extension Integration {
    /// `--metrics-bind`: the master's Prometheus exposition, summed over workers.
    @Suite struct Metrics {
        @Test(.enabled(if: Requirement.commands("promtool"), "needs promtool (Debian: prometheus)"), arguments: ["sync", "async"])
        func theExpositionPassesPromtool(worker: String) throws {
            let server = try ServerProcess(["hello:application", "-k", worker, "-w", "2", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let metrics = server.extraListeners[0].port
            #expect(try httpGet(port: server.port, "/").status == 200)
            #expect(try httpGet(port: server.port, "/nowhere").status == 404)
            #expect(try HTTPConnection(port: server.port).request("POST", "/echo", body: "hi").status < 500)
            let scrape = try waitForScrape(port: metrics) { $0.sum("http_server_requests_total") >= 3 }
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            try dir.write("metrics.txt", scrape.text)
            let check = try run(["/bin/sh", "-c", "promtool check metrics < \(dir.file("metrics.txt"))"])
            #expect(check.code == 0, "promtool: \(check.output)")
            #expect(check.output.isEmpty, "promtool has remarks: \(check.output)")
            // The families the issue lists are all there.
            for family in ["http_server_request_duration_seconds_bucket", "http_server_active_requests", "arbiter_connections_open",
                           "arbiter_connections_accepted_total", "arbiter_received_bytes_total", "arbiter_sent_bytes_total",
                           "arbiter_worker_requests_total", "arbiter_worker_starts_total", "arbiter_reloads_total",
                           "arbiter_listen_queue_connections", "arbiter_worker_memory_pss_bytes", "arbiter_event_loop_blocks_total",
                           "arbiter_offload_busy_threads", "arbiter_offload_queued_jobs", "arbiter_offload_wait_seconds_total"] {
                #expect(scrape.text.contains("\n\(family)"), "no \(family)")
            }
            #expect(scrape[#"http_server_requests_total{http_request_method="GET",http_response_status_class="4xx"}"#] == 1)
            #expect(scrape[#"arbiter_worker_starts_total{cause="boot"}"#] == 2)
            #expect(scrape["arbiter_workers"] == 2)
            #expect(scrape["arbiter_ready"] == 1)
        }

        @Test(arguments: ["sync", "async"])
        func aCounterIsExactAcrossTwoWorkers(worker: String) throws {
            let server = try ServerProcess(["hello:application", "-k", worker, "-w", "2", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let requests = 60
            let results = concurrently(requests) { _ in try httpGet(port: server.port, "/") }
            #expect(results.allSatisfy { $0.response?.status == 200 })
            // The last increments may land just after the client read its response.
            let scrape = try waitForScrape(port: server.extraListeners[0].port) { $0[Scrape.getOK] >= Double(requests) }
            #expect(scrape[Scrape.getOK] == Double(requests))
            #expect(scrape.sum("arbiter_worker_requests_total") == Double(requests))
            #expect(scrape["http_server_request_duration_seconds_count"] == Double(requests))
            #expect(scrape["arbiter_connections_accepted_total"] == Double(requests))
            #expect(scrape.samples.keys.filter { $0.hasPrefix("arbiter_worker_requests_total{") }.count == 2)
            try waitForScrape(port: server.extraListeners[0].port) { $0["arbiter_connections_open"] == 0 && $0["http_server_active_requests"] == 0 }
        }

        @Test(arguments: ["sync", "async"])
        func countersNeverGoBackAcrossKillHupAndRecycling(worker: String) throws {
            let server = try ServerProcess(
                ["hello:application", "-k", worker, "-w", "2", "--max-requests", "40", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let metrics = server.extraListeners[0].port
            var sent = 0
            func serve(_ n: Int) throws {
                for _ in 0..<n { #expect(try httpGet(port: server.port, "/").status == 200) }
                sent += n
            }
            try serve(10)
            try waitForScrape(port: metrics) { $0[Scrape.getOK] == 10 }
            // kill -9 of a worker: its counts stay.
            let victim = server.workerPids[0]
            kill(victim, SIGKILL)
            try server.waitForLog("Worker (pid: \(victim)")
            try server.waitForLog("Booting worker with pid", count: 3)
            var scrape = try Scrape(port: metrics)
            #expect(scrape[Scrape.getOK] == 10)
            #expect(scrape[#"arbiter_worker_exits_total{code="",signal="SIGKILL"}"#] == 1)
            #expect(scrape[#"arbiter_worker_starts_total{cause="crash"}"#] == 1)
            try serve(5)
            try waitForScrape(port: metrics) { $0[Scrape.getOK] == Double(sent) }
            // HUP: a new generation; the old one's counts stay.
            server.signal(SIGHUP)
            try server.waitForLog("Reload complete")
            try waitUntil { server.workerPids.count == 2 }
            scrape = try Scrape(port: metrics)
            #expect(scrape[Scrape.getOK] == Double(sent))
            #expect(scrape[#"arbiter_reloads_total{result="done"}"#] == 1)
            #expect(scrape[#"arbiter_worker_starts_total{cause="reload"}"#] == 2)
            // max_requests: each worker leaves after 40 requests; its counts stay.
            var previous = scrape[Scrape.getOK]
            for _ in 0..<6 {
                try serve(20)
                scrape = try waitForScrape(port: metrics) { $0[Scrape.getOK] == Double(sent) }
                #expect(scrape[Scrape.getOK] >= previous)
                previous = scrape[Scrape.getOK]
            }
            // Two retired by the reload, then at least one recycled.
            try server.waitForLog("Worker retired", count: 3)
            scrape = try waitForScrape(port: metrics) { $0[#"arbiter_worker_starts_total{cause="max_requests"}"#] >= 1 }
            #expect(scrape[Scrape.getOK] == Double(sent))
            #expect(scrape["http_server_request_duration_seconds_count"] == Double(sent))
        }

        @Test func aBlockedWorkerDoesNotStallAScrape() throws {
            let server = try ServerProcess(["hello:application", "-k", "async", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let port = server.port
            let finished = Countdown(1)
            TestSupport.Thread.start {
                _ = try? httpGet(port: port, "/block?seconds=3")
                finished.arrive()
            }
            // The worker's only thread is blocked; the master answers from the shared page.
            let scrape = try waitForScrape(port: server.extraListeners[0].port) { $0["http_server_active_requests"] == 1 }
            #expect(scrape[#"arbiter_worker_active_requests{slot="0",pid="\#(server.workerPids[0])",generation="0"}"#] == 1)
            finished.wait(timeout: 30)
            try waitForScrape(port: server.extraListeners[0].port) { $0["arbiter_event_loop_blocks_total"] == 1 && $0["arbiter_event_loop_blocked_seconds_total"] >= 3 }
        }

        @Test func silentAndOddClientsDoNotHoldUpTheMetricsListener() throws {
            let server = try ServerProcess(["hello:application", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let metrics = server.extraListeners[0].port
            // Connected and silent, or stopped halfway through a head: the loop goes on.
            // More of them than the listener has places: the oldest make room for a liveness probe,
            // which is answered within the shipped Deployment's probe timeout (2 s), not after theirs.
            let silent = try (0..<100).map { _ in try HTTPConnection(port: metrics) }
            for connection in silent { try connection.send("GET /metrics HTTP/1.1\r\nHost: x") }
            #expect(try httpGet(port: metrics, "/livez", timeout: 2).status == 200)
            let post = try HTTPConnection(port: metrics).request("POST", "/metrics", body: "x")
            #expect(post.status == 405)
            #expect(post.header("allow") == "GET, HEAD")
            let head = try HTTPConnection(port: metrics).request("HEAD", "/metrics")
            #expect(head.status == 200 && head.body.isEmpty)
            #expect(head.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
            let huge = try HTTPConnection(port: metrics)
            try huge.send("GET /metrics HTTP/1.1\r\nX: " + String(repeating: "a", count: 9000))
            #expect(try huge.readResponse().status == 431)
            #expect(try httpGet(port: server.port, "/").status == 200)
            for connection in silent { connection.close() }
        }

        @Test func theSynchronousCodePoolShowsBusyQueuedAndWaiting() throws {
            let server = try ServerProcess(
                ["hellosync:application", "-k", "async", "--offload-threads", "1", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let port = server.port
            let finished = Countdown(3)
            for _ in 0..<3 {
                TestSupport.Thread.start {
                    _ = try? httpGet(port: port, "/sleep?seconds=2")
                    finished.arrive()
                }
            }
            // One pool thread: one request runs, two wait for it.
            let metrics = server.extraListeners[0].port
            try waitForScrape(port: metrics) { $0["arbiter_offload_busy_threads"] == 1 && $0["arbiter_offload_queued_jobs"] == 2 }
            finished.wait(timeout: 30)
            let scrape = try waitForScrape(port: metrics) { $0["arbiter_offload_jobs_total"] >= 3 && $0["arbiter_offload_busy_threads"] == 0 }
            #expect(scrape["arbiter_offload_queued_jobs"] == 0)
            #expect(scrape["arbiter_offload_wait_seconds_total"] >= 2, "the second and third request waited at least one sleep each")
        }

        @Test func connectionsNoWorkerAcceptsShowInTheListenQueue() throws {
            let server = try ServerProcess(["hello:application", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let metrics = server.extraListeners[0].port
            let queue = #"arbiter_listen_queue_connections{listener="http://127.0.0.1:\#(server.port)"}"#
            #expect(try Scrape(port: metrics).samples[queue] == 0)
            // WINCH stops every worker; the master keeps the listener, so connections queue in the kernel.
            server.signal(SIGWINCH)
            try server.waitForLog("Worker retired")
            let waiting = try (0..<3).map { _ in try HTTPConnection(port: server.port) }
            let scrape = try waitForScrape(port: metrics) { $0[queue] == 3 }
            #expect(scrape["arbiter_ready"] == 0)
            #expect(try httpGet(port: metrics, "/readyz").status == 503)
            for connection in waiting { connection.close() }
        }

        @Test func aUsr2UpgradeHandsTheMetricsSocketToTheNewMaster() throws {
            let server = try ServerProcess(["hello:application", "-w", "2", "--metrics-bind", "fd://4"], extraListeners: 1)
            defer { server.stop() }
            try server.waitUntilReady()
            let metrics = server.extraListeners[0].port
            let before = try Scrape(port: metrics)["process_start_time_seconds"]
            server.signal(SIGUSR2)
            let log = try server.waitForLog("Upgrading: started a new master (pid: ")
            let successor = try #require(Int32(log.between("Upgrading: started a new master (pid: ", ")") ?? ""))
            defer { killTree(successor) }
            try server.waitForLog("Ready:", count: 2)
            #expect(server.log.occurrences(of: "Serving metrics at: ") == 2)
            server.signal(SIGWINCH)
            try server.waitForLog("Worker retired", count: 2)
            // The old master, without workers now, leaves the shared listener to the new one:
            // probes do not flap between the two.
            for _ in 0..<10 { #expect(try httpGet(port: metrics, "/readyz").status == 200) }
            server.signal(SIGQUIT)
            #expect(server.waitForExit() == 0)
            // Only the new master answers now: a new start time, its own two workers, ready.
            let scrape = try Scrape(port: metrics)
            #expect(scrape["process_start_time_seconds"] > before)
            #expect(scrape["arbiter_workers"] == 2)
            #expect(try httpGet(port: metrics, "/readyz").status == 200)
        }

        @Test func statsdLinesReachAUDPSocket() throws {
            let socket = try UDPReceiver()
            let server = try ServerProcess(["hello:application", "-k", "async", "--statsd-host", "127.0.0.1:\(socket.port)",
                                            "--statsd-prefix", "shop", "--dogstatsd-tags", "env:test,team:web"])
            defer { server.stop() }
            try server.waitUntilReady()
            for _ in 0..<3 { #expect(try httpGet(port: server.port, "/").status == 200) }
            #expect(try httpGet(port: server.port, "/nowhere").status == 404)
            var lines: [String] = []
            var requests = 0
            let deadline = Clock.monotonic() + 15
            while requests < 4, Clock.monotonic() < deadline {
                for line in socket.receive(timeout: 1).split(separator: "\n").map(String.init) {
                    lines.append(line)
                    if line.hasPrefix("shop.gunicorn.requests:"), let n = Int(line.dropFirst(23).prefix { $0.isNumber }) { requests += n }
                }
            }
            #expect(requests == 4, "statsd lines: \(lines)")
            #expect(lines.contains("shop.gunicorn.workers:1|g|#env:test,team:web"))
            #expect(lines.contains { $0.hasPrefix("shop.gunicorn.request.status.404:1|c|#env:test,team:web") })
            #expect(lines.contains { $0.hasPrefix("shop.gunicorn.request.status.200:") && $0.hasSuffix("|c|#env:test,team:web") })
            #expect(lines.contains { $0.hasPrefix("shop.gunicorn.request.duration:") && $0.contains("|ms") && $0.hasSuffix("|#env:test,team:web") })
            #expect(!lines.contains { $0.contains("gunicorn.backlog") }, "only with --enable-backlog-metric")
        }

        @Test func statsdSendsTheBacklogWhenAsked() throws {
            let socket = try UDPReceiver()
            let server = try ServerProcess(["hello:application", "--statsd-host", "127.0.0.1:\(socket.port)", "--enable-backlog-metric"])
            defer { server.stop() }
            try server.waitUntilReady()
            // WINCH stops every worker; the master keeps the listener, so connections queue in the kernel.
            server.signal(SIGWINCH)
            try server.waitForLog("Worker retired")
            let waiting = try (0..<3).map { _ in try HTTPConnection(port: server.port) }
            defer { for connection in waiting { connection.close() } }
            var lines: [String] = []
            let deadline = Clock.monotonic() + 15
            while !lines.contains("gunicorn.backlog:3|h"), Clock.monotonic() < deadline {
                lines += socket.receive(timeout: 1).split(separator: "\n").map(String.init)
            }
            #expect(lines.contains("gunicorn.backlog:3|h"), "statsd lines: \(lines)")
        }
    }
}

/// A UDP socket on an ephemeral loopback port (a statsd server stand-in).
final class UDPReceiver {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket failed") }
        self.fd = fd
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0, let name = SocketName.local(fd) else { throw TestFailure("bind failed") }
        port = name.port
    }

    deinit { close(fd) }

    /// One datagram, or "" when none came within `timeout` seconds.
    func receive(timeout: Double) -> String {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&entry, 1, Int32(timeout * 1000)) == 1 else { return "" }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }
}
