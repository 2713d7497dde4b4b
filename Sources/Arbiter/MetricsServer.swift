import CArbiter
import Glibc
import Platform

/// The master's metrics listener (`--metrics-bind`): a small HTTP/1.1 server run from the master's
/// poll loop. Never blocks: non-blocking sockets, at most `maxClients` at a time, a request head of
/// at most `maxHead` bytes, `timeout` seconds per client, one request per connection.
///
/// A connection waiting when all places are taken evicts the oldest client still sending its
/// head, so idle or trickling connections (a scanner, a stuck scraper) cannot keep a liveness
/// probe out for their timeout.
final class MetricsServer {
    struct Response: Equatable {
        let status: Int
        let contentType: String
        let body: String
    }

    /// One scrape in progress. Owned by the master's loop thread, like everything here.
    private struct Client {
        var input: [UInt8] = []
        var output: [UInt8] = []
        var written = 0
        let deadline: Double
        /// Accept order: the oldest is evicted first (deadlines tie within one batch).
        let order: UInt64
    }

    static let maxClients = 64
    static let maxHead = 8192
    static let timeout = 5.0

    let listener: Listener
    private var clients: [Int32: Client] = [:]
    private var accepted: UInt64 = 0

    init(listener: Listener) throws {
        self.listener = listener
        try Descriptor.setNonBlocking(listener.fd)
    }

    /// What to poll: the listener (when `accepting` and there is room, or a client to evict),
    /// each client for input or output.
    func pollDescriptors(accepting: Bool = true) -> [pollfd] {
        var fds: [pollfd] = []
        if accepting && (clients.count < Self.maxClients || clients.values.contains(where: \.output.isEmpty)) {
            fds.append(pollfd(fd: listener.fd, events: Int16(POLLIN), revents: 0))
        }
        for (fd, client) in clients {
            fds.append(pollfd(fd: fd, events: Int16(client.output.isEmpty ? POLLIN : POLLOUT), revents: 0))
        }
        return fds
    }

    /// When the oldest client times out.
    var nextDeadline: Double? { clients.values.map(\.deadline).min() }

    /// Acts on what poll reported, answering complete requests with `respond(method, path)`.
    func service(_ fds: ArraySlice<pollfd>, now: Double, respond: (String, String) -> Response) {
        for entry in fds where entry.revents != 0 {
            if entry.fd == listener.fd {
                accept(now: now)
            } else {
                exchange(entry.fd, respond: respond)
            }
        }
        for (fd, client) in clients where client.deadline <= now { drop(fd) }
    }

    func close() {
        for fd in Array(clients.keys) { drop(fd) }
        Descriptor.close(listener.fd)
        if case .unix(let path) = listener.address, listener.ownsPath { unlink(path) }
    }

    private func accept(now: Double) {
        while true {
            let fd = arbiter_accept4(listener.fd, nil, nil, arbiter_accept_flags())
            if fd < 0 { return }
            accepted += 1
            clients[fd] = Client(deadline: now + Self.timeout, order: accepted)
            guard clients.count > Self.maxClients else { continue }
            // Over the limit: the oldest other client still sending its head makes room; with
            // none, the new one waits no longer than its turn would have lasted.
            guard let oldest = clients.filter({ $0.key != fd && $0.value.output.isEmpty }).min(by: { $0.value.order < $1.value.order }) else {
                drop(fd)
                return
            }
            drop(oldest.key)
        }
    }

    private func exchange(_ fd: Int32, respond: (String, String) -> Response) {
        guard var client = clients[fd] else { return }
        if client.output.isEmpty {
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EAGAIN || errno == EINTR) { return }
            guard n > 0 else { return drop(fd) }
            client.input += chunk[0..<n]
            switch Self.parse(client.input) {
            case .incomplete:
                guard client.input.count <= Self.maxHead else {
                    client.output = Self.encode(Response(status: 431, contentType: "text/plain", body: "request head too large\n"), head: false)
                    break
                }
                clients[fd] = client
                return
            case .bad:
                client.output = Self.encode(Response(status: 400, contentType: "text/plain", body: "bad request\n"), head: false)
            case .request(let method, let path):
                let response = method == "GET" || method == "HEAD"
                    ? respond(method, path)
                    : Response(status: 405, contentType: "text/plain", body: "only GET and HEAD\n")
                client.output = Self.encode(response, head: method == "HEAD")
            }
        }
        let n = client.output[client.written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if n < 0 && (errno == EAGAIN || errno == EINTR) {
            clients[fd] = client
            return
        }
        guard n > 0 else { return drop(fd) }
        client.written += n
        if client.written >= client.output.count { return drop(fd) }
        clients[fd] = client
    }

    private func drop(_ fd: Int32) {
        clients[fd] = nil
        Descriptor.close(fd)
    }

    enum Parsed: Equatable {
        case incomplete
        case bad
        case request(method: String, path: String)
    }

    /// Reads the request line once the head is complete (RFC 9112 §3); the query is dropped.
    static func parse(_ input: [UInt8]) -> Parsed {
        guard let end = headEnd(input) else { return .incomplete }
        guard let lineEnd = input[..<end].firstIndex(of: UInt8(ascii: "\n")) else { return .bad }
        var line = input[..<lineEnd]
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        let parts = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)), !parts[0].isEmpty,
              parts[1].first == UInt8(ascii: "/")
        else { return .bad }
        let target = String(decoding: parts[1], as: UTF8.self)
        let path = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? target
        return .request(method: String(decoding: parts[0], as: UTF8.self), path: path)
    }

    /// Where the head ends (after its empty line), if it did.
    private static func headEnd(_ input: [UInt8]) -> Int? {
        var i = 0
        while i < input.count {
            if input[i] == UInt8(ascii: "\n") {
                if i + 1 < input.count, input[i + 1] == UInt8(ascii: "\n") { return i + 2 }
                if i + 2 < input.count, input[i + 1] == UInt8(ascii: "\r"), input[i + 2] == UInt8(ascii: "\n") { return i + 3 }
            }
            i += 1
        }
        return nil
    }

    static func encode(_ response: Response, head: Bool) -> [UInt8] {
        let reason = switch response.status {
        case 200: "OK"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 431: "Request Header Fields Too Large"
        case 503: "Service Unavailable"
        default: "Status"
        }
        let body = Array(response.body.utf8)
        var text = "HTTP/1.1 \(response.status) \(reason)\r\nContent-Type: \(response.contentType)\r\n"
        // RFC 9110 §15.5.6: a 405 names the methods the target allows.
        if response.status == 405 { text += "Allow: GET, HEAD\r\n" }
        text += "Content-Length: \(body.count)\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
        return Array(text.utf8) + (head ? [] : body)
    }
}
