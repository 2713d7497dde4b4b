import ArbiterABI
import HTTP1
import Platform
import Synchronization

/// How a response is framed, decided when the application sends its head.
struct ResponsePlan {
    var head: [UInt8]
    var chunked: Bool
    /// HEAD, 1xx, 204 and 304 responses carry no body bytes even if the application writes some.
    var suppressBody: Bool
    var contentLength: Int64?
    var keepAlive: Bool
    /// The application's header fields, kept for `%({name}o)s` in the access log.
    var headers: [(name: [UInt8], value: [UInt8])]

    struct InvalidHeader: Error {
        let name: String
    }

    /// - Parameters:
    ///   - keepAlive: whether the server would keep the connection open (request, settings, stopping).
    static func make(
        status: Int, headers views: UnsafeBufferPointer<arbiter_header>, contentLength: Int64,
        request: RequestHead, keepAlive requested: Bool
    ) throws(InvalidHeader) -> ResponsePlan {
        var keepAlive = requested
        var headers: [(name: [UInt8], value: [UInt8])] = []
        headers.reserveCapacity(views.count)
        for view in views {
            let name = view.name.base.map { Array(UnsafeBufferPointer(start: $0, count: view.name.length)) } ?? []
            let value = view.value.base.map { Array(UnsafeBufferPointer(start: $0, count: view.value.length)) } ?? []
            if name.count == 10, String(decoding: name, as: UTF8.self).lowercased() == "connection" {
                if String(decoding: value, as: UTF8.self).lowercased().contains("close") { keepAlive = false }
                continue
            }
            guard ResponseEncoder.isAcceptableResponseHeader(name: name, value: value) else {
                throw InvalidHeader(name: String(decoding: name, as: UTF8.self))
            }
            headers.append((name, value))
        }
        let method = request.method
        let bodyless = (100..<200).contains(status) || status == 204 || status == 304
        let suppress = bodyless || method == .head
        var length: Int64? = contentLength >= 0 ? contentLength : nil
        var chunked = false
        if bodyless {
            length = nil
        } else if length == nil {
            if method == .head {
                chunked = false
            } else if request.version == .http11 {
                chunked = true
            } else {
                keepAlive = false  // HTTP/1.0 without a length: the end of the body is the close.
            }
        }
        let head = ResponseEncoder.head(
            status: status, version: request.version, headers: headers, contentLength: length,
            chunked: chunked, keepAlive: keepAlive, date: DateCache.shared.current(), server: "arbiter")
        return ResponsePlan(
            head: head, chunked: chunked, suppressBody: suppress, contentLength: length, keepAlive: keepAlive,
            headers: headers)
    }
}

/// The `Date` header value, formatted once per second.
final class DateCache: Sendable {
    static let shared = DateCache()
    private let cached = Mutex<(Int, String)>((0, ""))

    func current() -> String {
        let now = Int(Clock.wall())
        return cached.withLock { cache in
            if cache.0 != now { cache = (now, HTTPDate.format(epochSeconds: now)) }
            return cache.1
        }
    }
}
