import Glibc

/// How a response is framed, decided when the application sends its head; the head bytes are
/// written straight from the application's borrowed fields to the connection's output.
struct ResponsePlan: Sendable {
    /// The application's header fields, copied only for an access log that names response headers.
    var headers: [(name: [UInt8], value: [UInt8])]
    var contentLength: Int64?
    var chunked: Bool
    /// HEAD, 204, 205 and 304 responses carry no body bytes even if the application writes some.
    var suppressBody: Bool
    var keepAlive: Bool

    struct InvalidHeader: Error {
        let name: String
    }

    /// - Parameters:
    ///   - keepAlive: whether the server would keep the connection open (request, settings, stopping).
    ///   - keepHeaders: copy the fields for `%({name}o)s` in the access log.
    static func make(
        status: Int, fieldCount: Int, field: (Int) -> (name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>),
        contentLength: Int64, request: RequestHead, keepAlive requested: Bool, serverLine: [UInt8]?, keepHeaders: Bool,
        output: inout [UInt8], writeHead: Bool
    ) throws(InvalidHeader) -> ResponsePlan {
        var keepAlive = requested
        var copies: [(name: [UInt8], value: [UInt8])] = []
        var hasDate = false
        var hasServer = false
        var offersUpgrade = false
        var invalid: String?
        var size = ResponseEncoder.fixedRoom + (serverLine?.count ?? 0)
        // RFC 9110 §6.4.1: 204 and 304 have no content; a response to HEAD sends none. A 205 has
        // none either (§15.3.6), but its framing is not implied (RFC 9112 §6.3): it says `Content-Length: 0`.
        let bodyless = status == 204 || status == 304
        let resetContent = status == 205
        let suppress = bodyless || resetContent || request.isMethod("HEAD")
        var length: Int64? = resetContent ? 0 : contentLength >= 0 ? contentLength : nil
        var chunked = false
        // Each field is classified once, which also says whether the head carries it.
        withUnsafeTemporaryAllocation(of: Bool.self, capacity: fieldCount) { sent in
            for i in 0..<fieldCount {
                let (name, value) = field(i)
                let kind = ResponseEncoder.classify(name: name, value: value)
                sent.initializeElement(at: i, to: kind == .other || kind == .date || kind == .server)
                switch kind {
                case .invalid: invalid = invalid ?? String(decoding: name, as: UTF8.self)
                case .framing: break
                case .connection:
                    if String(decoding: value, as: UTF8.self).lowercased().contains("close") { keepAlive = false }
                case .date: hasDate = true
                case .server: hasServer = true
                case .other:
                    if name.count == 7 && ResponseEncoder.equalsIgnoringCase(name, "upgrade") { offersUpgrade = true }
                }
                if sent[i] {
                    size += name.count + value.count + 4
                    if keepHeaders { copies.append((Array(name), Array(value))) }
                }
            }
            if invalid != nil { return }
            if status == 101 {
                keepAlive = false
            } else if bodyless {
                length = nil  // RFC 9110 §8.6: none in a 204; a 304's would have to match the 200's.
            } else if length == nil && !suppress {
                if request.version == .http11 {
                    chunked = true
                } else {
                    keepAlive = false  // HTTP/1.0 without a length: the end of the body is the close.
                }
            }
            guard writeHead else { return }
            // A connection gives its empty buffers back while it waits (`trimBuffers`): room for the
            // head and a known body (up to 16 KiB) is taken at once, so a whole response is one allocation.
            if output.isEmpty, output.capacity < size {
                let body = suppress || status == 101 ? 0 : Int(Swift.min(length ?? 0, 16_384))
                output.reserveCapacity(size + body)
            }
            ResponseEncoder.append(to: &output, capacity: size) { out in
                out.statusLine(status)
                for i in 0..<fieldCount where sent[i] {
                    let (name, value) = field(i)
                    out.field(name: name, value: value)
                }
                if !hasServer, let serverLine { out.write(serverLine) }
                if !hasDate { DateCache.shared.writeLine(to: &out) }
                if status == 101 {
                    // The response ends at its head; the connection then speaks the protocol in `Upgrade`.
                    out.write("Connection: Upgrade\r\n\r\n")
                } else {
                    out.framing(contentLength: length, chunked: chunked, keepAlive: keepAlive, version: request.version, upgrade: offersUpgrade)
                }
            }
        }
        if let invalid { throw InvalidHeader(name: invalid) }
        if status == 101 {
            return ResponsePlan(headers: copies, contentLength: nil, chunked: false, suppressBody: true, keepAlive: false)
        }
        return ResponsePlan(
            headers: copies, contentLength: length, chunked: chunked, suppressBody: suppress, keepAlive: keepAlive)
    }
}
