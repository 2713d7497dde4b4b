import Glibc
import Platform
import TestSupport

/// A scrape of `/metrics`: sample lines by name and labels, as written.
struct Scrape {
    let text: String
    let samples: [String: Double]

    init(port: UInt16) throws {
        let response = try httpGet(port: port, "/metrics")
        guard response.status == 200 else { throw TestFailure("/metrics answered \(response.status): \(response.text)") }
        text = response.text
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            samples[String(line[..<space])] = value
        }
        self.samples = samples
    }

    /// A sample by its name and labels as exposed (`name{a="b"}`); 0 when absent.
    subscript(_ key: String) -> Double { samples[key] ?? 0 }

    /// The sum of every sample of a family (any labels).
    func sum(_ name: String) -> Double {
        samples.filter { $0.key == name || $0.key.hasPrefix(name + "{") }.values.reduce(0, +)
    }

    static let getOK = #"http_server_requests_total{http_request_method="GET",http_response_status_class="2xx"}"#
}

/// Runs a command with a bounded wait; returns its exit code and output.
func run(_ arguments: [String], timeout: Double = 60) throws -> (code: Int32, output: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw TestFailure("pipe failed") }
    let pid = try ProcessControl.spawn(path: arguments[0], arguments: arguments, environment: Environment.all(),
                                       descriptors: [(fds[1], 1), (fds[1], 2)])
    close(fds[1])
    var output: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 4096)
    let deadline = Clock.monotonic() + timeout
    var status: Int32 = 0
    _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if n > 0 { output += buffer[0..<n]; continue }
        if waitpid(pid, &status, WNOHANG) == pid { break }
        if Clock.monotonic() > deadline {
            kill(pid, SIGKILL)
            waitpid(pid, &status, 0)
            close(fds[0])
            throw TestFailure("\(arguments.joined(separator: " ")) did not finish in \(timeout) s")
        }
        usleep(10_000)
    }
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
        if n <= 0 { break }
        output += buffer[0..<n]
    }
    close(fds[0])
    let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (code, String(decoding: output, as: UTF8.self))
}

/// Waits (bounded) until a scrape satisfies `condition`, and returns that scrape.
@discardableResult
func waitForScrape(port: UInt16, timeout: Double = 15, _ condition: (Scrape) -> Bool) throws -> Scrape {
    let deadline = Clock.monotonic() + timeout
    var last: Scrape?
    while Clock.monotonic() < deadline {
        let scrape = try Scrape(port: port)
        if condition(scrape) { return scrape }
        last = scrape
        usleep(20_000)
    }
    throw TestFailure("metrics never met the condition in \(timeout) s; last scrape:\n\(last?.text ?? "-")")
}
