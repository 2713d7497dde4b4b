import Glibc
import Platform
import Testing

@testable import Arbiter

/// The exposition format, the totals that never go backwards, the metrics listener's parser and
/// statsd lines, without processes.
@Suite struct MetricsFormatTests {
    typealias Field = WorkerCounters.Field

    @Test func labelsAreEscapedAndNumbersReadAsGoFloats() {
        var out = Exposition()
        out.family("x_total", .counter, "A help\\text\nwith a line break.")
        out.sample("x_total", [("listener", "unix:/run/a\"b\\c\nd")], UInt64(3))
        out.sample("y", 0.25)
        out.sample("y", 2.0)
        #expect(out.text == """
            # HELP x_total A help\\\\text\\nwith a line break.
            # TYPE x_total counter
            x_total{listener="unix:/run/a\\"b\\\\c\\nd"} 3
            y 0.25
            y 2

            """)
        #expect(Exposition.format(.infinity) == "+Inf")
        #expect(Exposition.format(1e-6) == "1e-06")
    }

    @Test func histogramBucketsAreCumulative() {
        var out = Exposition()
        out.histogram("d_seconds", "Durations.", bounds: [0.1, 1], counts: [2, 3, 1], sum: 4.5)
        #expect(out.text.hasSuffix("""
            d_seconds_bucket{le="0.1"} 2
            d_seconds_bucket{le="1"} 5
            d_seconds_bucket{le="+Inf"} 6
            d_seconds_sum 4.5
            d_seconds_count 6

            """))
    }

    @Test func exitedWorkersStayInTheTotals() {
        var totals = CounterTotals()
        var a = CounterValues()
        a[Field.requestsCompleted] = 7
        var b = CounterValues()
        b[Field.requestsCompleted] = 5
        let master = CounterValues()
        #expect(totals.totals(live: [a, b], master: master)[Field.requestsCompleted] == 12)
        // Worker a exits with 8 (one more request after the last read): the total only grows.
        a[Field.requestsCompleted] = 8
        totals.fold(a)
        #expect(totals.totals(live: [b], master: master)[Field.requestsCompleted] == 13)
        // Its replacement starts from zero.
        #expect(totals.totals(live: [b, CounterValues()], master: master)[Field.requestsCompleted] == 13)
    }

    @Test func gaugesAreDifferencesThatNeverGoNegative() {
        var v = CounterValues()
        v[Field.requestsStarted] = 3
        v[Field.requestsCompleted] = 4  // read a moment apart
        #expect(v.requestsInFlight == 0)
        v[Field.connectionsAccepted] = 9
        v[Field.connectionsClosed] = 6
        #expect(v.connectionsOpen == 3)
    }

    @Test func aSnapshotRendersEveryFamilyWithItsLabels() {
        var snapshot = MetricsSnapshot()
        snapshot.totals[Field.methodClass(method: 0, statusClass: 2)] = 4
        snapshot.totals[Field.methodClass(method: 9, statusClass: 0)] = 1
        snapshot.totals[Field.durationBucket(0)] = 4
        snapshot.totals[Field.durationBucket(Field.bucketBounds.count)] = 1
        snapshot.totals[Field.durationMicros] = 12_500_000
        snapshot.statistics.exits = [.signal(SIGKILL): 1, .code(0): 2]
        snapshot.workers = [.init(slot: 1, pid: 42, generation: 3, counters: CounterValues(), pssBytes: 4096)]
        snapshot.listenQueues = [.init(listener: "http://127.0.0.1:8000", queued: 2, limit: 128)]
        let text = snapshot.render()
        #expect(text.contains(#"http_server_requests_total{http_request_method="GET",http_response_status_class="2xx"} 4"#))
        #expect(text.contains(#"http_server_requests_total{http_request_method="_OTHER"} 1"#))
        #expect(text.contains(#"http_server_request_duration_seconds_bucket{le="10"} 4"#))
        #expect(text.contains("http_server_request_duration_seconds_count 5"))
        #expect(text.contains("http_server_request_duration_seconds_sum 12.5"))
        #expect(text.contains(#"arbiter_worker_exits_total{code="0",signal=""} 2"#))
        #expect(text.contains(#"arbiter_worker_exits_total{code="",signal="SIGKILL"} 1"#))
        #expect(text.contains(#"arbiter_worker_memory_pss_bytes{slot="1",pid="42",generation="3"} 4096"#))
        #expect(text.contains(#"arbiter_listen_queue_connections{listener="http://127.0.0.1:8000"} 2"#))
        #expect(text.contains("arbiter_ready 0"))
    }

    @Test func theMetricsListenerReadsOnlyARequestLine() {
        #expect(MetricsServer.parse(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n".utf8)) == .incomplete)
        #expect(MetricsServer.parse(Array("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) == .request(method: "GET", path: "/metrics"))
        #expect(MetricsServer.parse(Array("GET /readyz HTTP/1.0\n\n".utf8)) == .request(method: "GET", path: "/readyz"))
        #expect(MetricsServer.parse(Array("GET metrics HTTP/1.1\r\n\r\n".utf8)) == .bad)
        #expect(MetricsServer.parse(Array("GET /metrics SPDY/3\r\n\r\n".utf8)) == .bad)
        let head = MetricsServer.encode(.init(status: 503, contentType: "text/plain", body: "not ready\n"), head: true)
        #expect(String(decoding: head, as: UTF8.self).hasPrefix("HTTP/1.1 503 Service Unavailable\r\n"))
        #expect(String(decoding: head, as: UTF8.self).hasSuffix("Content-Length: 10\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"))
    }

    @Test func statsdLinesAreDeltasUnderGunicornsNames() {
        var before = CounterValues()
        before[Field.requestsCompleted] = 10
        before[Field.statusCode(200)] = 10
        var after = before
        after[Field.requestsCompleted] = 14
        after[Field.statusCode(200)] = 13
        after[Field.statusCode(503)] = 1
        after[Field.durationMicros] = 8000
        after[Field.logLines(.error)] = 2
        let lines = StatsdClient.lines(previous: before, current: after, workers: 3, prefix: "app.", tags: "|#env:prod")
        #expect(lines == [
            "app.gunicorn.requests:4|c|#env:prod",
            "app.gunicorn.request.duration:2|ms|@0.25|#env:prod",
            "app.gunicorn.request.status.200:3|c|#env:prod",
            "app.gunicorn.request.status.503:1|c|#env:prod",
            "app.gunicorn.workers:3|g|#env:prod",
            "app.gunicorn.log.error:2|c|#env:prod",
        ])
        #expect(StatsdClient.lines(previous: after, current: after, workers: 1, prefix: "", tags: "") == ["gunicorn.workers:1|g"])
        // `--enable-backlog-metric`: Gunicorn's histogram of the connections waiting to be accepted.
        #expect(StatsdClient.lines(previous: after, current: after, workers: 1, backlog: 7, prefix: "", tags: "|#a")
            == ["gunicorn.workers:1|g|#a", "gunicorn.backlog:7|h|#a"])
        #expect(StatsdClient.normalizedPrefix("svc..") == "svc.")
        #expect(StatsdClient.normalizedPrefix("svc") == "svc.")
        #expect(StatsdClient.normalizedPrefix("") == "")
        let packed = StatsdClient.pack(Array(repeating: String(repeating: "x", count: 600), count: 5))
        #expect(packed.map(\.count) == [1201, 1201, 600])
    }

    @Test func stripesOfOwnedAndSharedThreadsAddUp() throws {
        let (page, fd) = try WorkerCounters.create(stripes: WorkerCounters.stripes(requestThreads: 1))
        // The page stays mapped: threads of other tests may still count into the installed page.
        defer {
            WorkerCounters.local().install()
            close(fd)
        }
        page.install()
        WorkerCounters.adopt(stripe: 2)
        "GET".utf8CString.withUnsafeBytes { WorkerCounters.requestCompleted(method: UnsafeRawBufferPointer(rebasing: $0.dropLast()), status: 404, seconds: 0.02) }
        "BREW".utf8CString.withUnsafeBytes { WorkerCounters.requestCompleted(method: UnsafeRawBufferPointer(rebasing: $0.dropLast()), status: 200, seconds: 20) }
        WorkerCounters.add(Field.bytesSent, 100)
        let done = Countdown()
        startThread {
            // No stripe of its own: the shared stripe, with atomic adds.
            WorkerCounters.add(Field.bytesSent, 23)
            done.arrive()
        }
        done.wait()
        WorkerCounters.adopt(stripe: 0)
        let values = page.read()
        #expect(values[Field.requestsCompleted] == 2)
        #expect(values[Field.bytesSent] == 123)
        #expect(values[Field.methodClass(method: 0, statusClass: 4)] == 1)
        #expect(values[Field.methodClass(method: 9, statusClass: 2)] == 1)
        #expect(values[Field.statusCode(404)] == 1)
        #expect(values[Field.durationBucket(2)] == 1, "0.02 s is in the 0.025 bucket")
        #expect(values[Field.durationBucket(Field.bucketBounds.count)] == 1, "20 s is past every bound")
        #expect(values[Field.durationMicros] == 20_020_000)
    }
}

/// One thread waits for another.
final class Countdown: @unchecked Sendable {
    private var semaphore = sem_t()
    init() { sem_init(&semaphore, 0, 0) }
    func arrive() { sem_post(&semaphore) }
    func wait() { sem_wait(&semaphore) }
}

func startThread(_ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var thread = pthread_t()
    let context = Unmanaged.passRetained(Box(body)).toOpaque()
    pthread_create(&thread, nil, { raw in
        Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue().body()
        return nil
    }, context)
    pthread_join(thread, nil)
}
