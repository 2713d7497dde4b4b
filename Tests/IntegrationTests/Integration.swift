import Glibc
import Testing
import TestSupport

/// Integration tests start the real `arbiter` binary on a listener the test bound, one server at a
/// time (the suite is serialized: the CI machine has two cores).
@Suite(.serialized) struct Integration {}

/// Runs `body` with a ready server and always kills it afterwards.
func withServer<T>(
    _ arguments: [String], environment: [String: String] = [:], _ body: (ServerProcess) throws -> T
) throws -> T {
    let server = try ServerProcess(arguments, environment: environment)
    defer { server.stop() }
    try server.waitUntilReady()
    do {
        return try body(server)
    } catch let failure as TestFailure {
        throw failure
    } catch {
        throw TestFailure("\(error)\nserver log:\n\(server.log)")
    }
}

/// Runs requests on threads at once and returns their responses in order.
func concurrently(_ count: Int, _ request: @escaping @Sendable (Int) throws -> HTTPResponse) -> [Result<HTTPResponse, Error>] {
    let results = ResultsBox(count)
    let done = Countdown(count)
    for i in 0..<count {
        TestSupport.Thread.start {
            let result = Result { try request(i) }
            results.set(i, result)
            done.arrive()
        }
    }
    done.wait(timeout: 60)
    return results.all
}

final class ResultsBox: @unchecked Sendable {
    private var values: [Result<HTTPResponse, Error>?]
    private var lock = pthread_mutex_t()

    init(_ count: Int) {
        values = Array(repeating: nil, count: count)
        pthread_mutex_init(&lock, nil)
    }

    func set(_ i: Int, _ value: Result<HTTPResponse, Error>) {
        pthread_mutex_lock(&lock)
        values[i] = value
        pthread_mutex_unlock(&lock)
    }

    var all: [Result<HTTPResponse, Error>] {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return values.map { $0 ?? .failure(TestFailure("request did not finish in time")) }
    }
}

final class Countdown: @unchecked Sendable {
    private var remaining: Int
    private var lock = pthread_mutex_t()

    init(_ count: Int) {
        remaining = count
        pthread_mutex_init(&lock, nil)
    }

    func arrive() {
        pthread_mutex_lock(&lock)
        remaining -= 1
        pthread_mutex_unlock(&lock)
    }

    /// Waits until every thread arrived, polling, at most `timeout` seconds.
    func wait(timeout: Double) {
        for _ in 0..<Int(timeout * 100) {
            pthread_mutex_lock(&lock)
            let left = remaining
            pthread_mutex_unlock(&lock)
            if left <= 0 { return }
            usleep(10_000)
        }
    }
}

extension Result where Success == HTTPResponse {
    var response: HTTPResponse? { try? get() }
}

/// Starts `GET /sleep?seconds=1`, sends the master TERM once the worker has it (the server must run
/// with `--log-level debug`), and returns the response the client got.
func responseToARequestInFlightDuringTerm(_ server: ServerProcess, whileWaiting: () -> Void = {}) throws -> HTTPResponse? {
    let port = server.port
    let results = ResultsBox(1)
    let done = Countdown(1)
    TestSupport.Thread.start {
        results.set(0, Result { try httpGet(port: port, "/sleep?seconds=1") })
        done.arrive()
    }
    try server.waitForLog("Request started: GET /sleep")
    server.signal(SIGTERM)
    whileWaiting()
    done.wait(timeout: 30)
    return results.all[0].response
}
