import Glibc

/// How a response is framed, decided when the application sends its head; the head bytes are
/// written straight from the application's borrowed fields.
struct ResponsePlan: Sendable {
    var head: [UInt8]
    var chunked: Bool
    /// HEAD, 204 and 304 responses carry no body bytes even if the application writes some.
    var suppressBody: Bool
    var contentLength: Int64?
    var keepAlive: Bool
    /// The application's header fields, copied only for an access log that names response headers.
    var headers: [(name: [UInt8], value: [UInt8])]

    struct InvalidHeader: Error {
        let name: String
    }

    /// - Parameters:
    ///   - keepAlive: whether the server would keep the connection open (request, settings, stopping).
    ///   - keepHeaders: copy the fields for `%({name}o)s` in the access log.
    static func make(
        status: Int, fieldCount: Int, field: (Int) -> (name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>),
        contentLength: Int64, request: RequestHead, keepAlive requested: Bool, server: String?, keepHeaders: Bool
    ) throws(InvalidHeader) -> ResponsePlan {
        var keepAlive = requested
        var copies: [(name: [UInt8], value: [UInt8])] = []
        var head: [UInt8] = []
        var size = 200
        for i in 0..<fieldCount {
            let (name, value) = field(i)
            size += name.count + value.count + 4
        }
        head.reserveCapacity(size)
        ResponseEncoder.appendStatusLine(&head, status: status, version: request.version)
        var hasDate = false
        var hasServer = false
        for i in 0..<fieldCount {
            let (name, value) = field(i)
            switch ResponseEncoder.classify(name: name, value: value) {
            case .invalid:
                throw InvalidHeader(name: String(decoding: name, as: UTF8.self))
            case .framing:
                continue
            case .connection:
                if String(decoding: value, as: UTF8.self).lowercased().contains("close") { keepAlive = false }
                continue
            case .date: hasDate = true
            case .server: hasServer = true
            case .other: break
            }
            ResponseEncoder.appendField(&head, name: name, value: value)
            if keepHeaders { copies.append((Array(name), Array(value))) }
        }
        if !hasServer, let server {
            if server == "arbiter" { head.append(contentsOf: Self.serverLine) } else { head.append(contentsOf: "Server: \(server)\r\n".utf8) }
        }
        if !hasDate { DateCache.shared.appendLine(to: &head) }
        if status == 101 {
            // The response ends at its head; the connection then speaks the protocol in `Upgrade`.
            head.append(contentsOf: "Connection: Upgrade\r\n\r\n".utf8)
            return ResponsePlan(head: head, chunked: false, suppressBody: true, contentLength: nil, keepAlive: false, headers: copies)
        }
        let method = request.method
        // RFC 9110 §6.4.1: 204 and 304 have no content; a response to HEAD sends none.
        let bodyless = status == 204 || status == 304
        let suppress = bodyless || method == .head
        var length: Int64? = contentLength >= 0 ? contentLength : nil
        var chunked = false
        if bodyless {
            length = nil  // RFC 9110 §8.6: none in a 204; a 304's would have to match the 200's.
        } else if length == nil && !suppress {
            if request.version == .http11 {
                chunked = true
            } else {
                keepAlive = false  // HTTP/1.0 without a length: the end of the body is the close.
            }
        }
        ResponseEncoder.appendFraming(&head, contentLength: length, chunked: chunked, keepAlive: keepAlive, version: request.version)
        return ResponsePlan(
            head: head, chunked: chunked, suppressBody: suppress, contentLength: length, keepAlive: keepAlive,
            headers: copies)
    }

    static let serverLine = Array("Server: arbiter\r\n".utf8)
}

/// The `Date` header, formatted once per second.
///
/// Shared by every thread that answers requests. Guarded by a pthread mutex rather than
/// `Synchronization.Mutex`, whose futexes ThreadSanitizer cannot see (it would report every use).
public final class DateCache: @unchecked Sendable {
    public static let shared = DateCache()
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    /// Guarded by `mutex`.
    private var cache: (second: Int, value: String, line: [UInt8]) = (0, "", [])

    private init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
    }

    private func withCache<R>(_ body: (inout (second: Int, value: String, line: [UInt8])) -> R) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let now = time(nil)
        if cache.second != now {
            let value = HTTPDate.format(epochSeconds: now)
            cache = (now, value, Array("Date: \(value)\r\n".utf8))
        }
        return body(&cache)
    }

    public func current() -> String {
        withCache { $0.value }
    }

    /// Appends `Date: …\r\n`.
    func appendLine(to out: inout [UInt8]) {
        withCache { out.append(contentsOf: $0.line) }
    }
}
