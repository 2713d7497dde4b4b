/// The application's calls on the request in flight (the C ABI's exchange calls).
extension ConnectionStateMachine {
    /// The application asks for up to `max` body bytes; the answer comes from `poll`
    /// (`.readCompleted`) unless the call is refused at once.
    public mutating func applicationRead(max: Int, now: Double) -> CallStatus {
        // The request is read and changed in place, never moved out and back.
        guard phase == .request, request.end == .running, request.readMax == nil else { return .invalidState }
        // RFC 9110 §10.1.1: the client waits for `100 Continue` before sending the body; send it
        // only when the body is actually read, and never once a final response started.
        if request.head.expectsContinue && !request.continueSent && request.plan == nil && !request.decoder.isComplete && !peerGone {
            request.continueSent = true
            queue(Self.continueLine)
        }
        request.readMax = Swift.max(1, max)
        request.waitingSince = now
        return .ok
    }

    static let continueLine = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// The discard rule, in one place: a body left unread is read and dropped before the next
    /// head only while its bytes in all stay within `discardLimit`; past it the connection ends.
    func discardGivesUp(atBodyBytes total: Int64) -> Bool { total > configuration.discardLimit }

    /// Whether the request's body, if the application leaves it unread, ends the connection by
    /// that rule: known in advance only for a declared length.
    var unreadBodyEndsConnection: Bool {
        guard !request.decoder.isComplete, let remaining = request.decoder.remainingDeclared else { return false }
        return discardGivesUp(atBodyBytes: request.decoder.received + remaining)
    }

    /// The application starts its response. `field(i)` gives the `i`th header field (borrowed);
    /// `contentLength` is -1 when unknown (the server frames the body). `whole`: the response is
    /// given whole (its body and end follow in the same call), so the application reads no more
    /// of the request's body.
    public mutating func applicationSendHead(
        status: Int, fieldCount: Int, field: (Int) -> (name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>),
        contentLength: Int64, whole: Bool = false
    ) -> CallStatus {
        guard phase == .request, request.end == .running, request.plan == nil else { return .invalidState }
        // RFC 9110 §15: a final status is three digits from 200 to 599; 1xx are the server's, but
        // for 101, which switches a request that asked for it to another protocol (§7.8, §15.2.2).
        let switching = status == 101 && request.head.version == .http11 && request.head.field("upgrade") != nil
        // §7.8: the other protocol starts after the whole request; bytes of its body would be read as the other protocol's.
        if switching && !request.decoder.isComplete {
            diagnostics.append(Diagnostic(level: .error, message: "101 from the application for \(request.label) before the request's body was read; refused"))
            return .invalidState
        }
        guard (200...599).contains(status) || switching else {
            diagnostics.append(Diagnostic(level: .error, message: "Invalid response status \(status) from the application for \(request.label)"))
            return .invalidState
        }
        let plan: ResponsePlan
        do {
            plan = try ResponsePlan.make(
                status: status, fieldCount: fieldCount, field: field, contentLength: contentLength, request: request.head,
                keepAlive: serverKeepAlive && configuration.keepAlive > 0 && request.head.keepAlive && !peerGone
                    && !request.awaitsContinueAfterResponse
                    && !(whole && unreadBodyEndsConnection),
                serverLine: shared.serverLine, keepHeaders: configuration.keepResponseHeaders, output: &output, writeHead: !peerGone)
        } catch {
            diagnostics.append(Diagnostic(level: .error, message: "Invalid response header '\(error.name)' from the application for \(request.label)"))
            return .invalidState
        }
        request.plan = plan
        request.status = status
        return .ok
    }

    /// The application writes body bytes; `.writeCompleted` follows from `poll` once the output is
    /// below the high-water mark (backpressure).
    public mutating func applicationWrite(_ bytes: UnsafeRawBufferPointer, now: Double) -> CallStatus {
        guard phase == .request, request.end == .running, !request.writePending, request.plan != nil else { return .invalidState }
        if peerGone { return .disconnected }
        request.writePending = true
        request.waitingSince = now
        guard !request.plan!.suppressBody, !bytes.isEmpty else { return .ok }
        let chunked = request.plan!.chunked
        var count = bytes.count
        if let length = request.plan!.contentLength {
            count = Int(Swift.min(Int64(count), Swift.max(0, length - request.written)))
            if count < bytes.count {
                diagnostics.append(Diagnostic(level: .error, message:
                    "Application wrote more than its Content-Length (\(length)) for \(request.label); extra bytes dropped"))
            }
        }
        guard count > 0 else { return .ok }
        if chunked { output.append(contentsOf: ResponseEncoder.chunkHeader(size: count)) }
        output.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<count]))
        if chunked { output.append(contentsOf: ResponseEncoder.chunkTrailer) }
        request.written += Int64(count)
        request.bodyBytesSent += count
        return .ok
    }

    public mutating func applicationWrite(_ bytes: [UInt8], now: Double) -> CallStatus {
        bytes.withUnsafeBytes { applicationWrite($0, now: now) }
    }

    /// The application ends its response, with trailer fields for a chunked body.
    public mutating func applicationFinish(trailers: [(name: [UInt8], value: [UInt8])], now: Double) {
        guard phase == .request, request.plan != nil else { return applicationAbort(now: now) }
        guard request.end == .running else { return }
        if request.plan!.chunked && !peerGone {
            let valid = trailers.filter { trailer in
                let allowed = ResponseEncoder.isAcceptableResponseHeader(name: trailer.name, value: trailer.value)
                    && trailer.name.withUnsafeBufferPointer { FieldSemantics.isAllowedInTrailers(name: $0) }
                if !allowed {
                    diagnostics.append(Diagnostic(level: .error, message:
                        "Trailer field '\(String(decoding: trailer.name, as: UTF8.self))' from the application for \(request.label) is not allowed in trailers; dropped"))
                }
                return allowed
            }
            queue(ResponseEncoder.lastChunk(trailers: valid))
        }
        var complete = true
        if let length = request.plan!.contentLength, !request.plan!.suppressBody, request.written < length {
            diagnostics.append(Diagnostic(level: .error, message:
                "Application wrote \(request.written) of its Content-Length \(length) for \(request.label); closing the connection"))
            complete = false
        }
        request.end = .finished(complete: complete)
        request.waitingSince = now
    }

    /// The application ends the exchange without completing its response. Before a head, the
    /// server answers for it (the body's error status, else 500); after one, the response is cut
    /// short — no last chunk, no more bytes — and the connection closes, so the client can tell
    /// a failed response from a whole one.
    public mutating func applicationAbort(now: Double) {
        guard phase == .request, request.end == .running else { return }
        // No error answer to a client that is gone, or whose request was cancelled because its
        // input ended (it may be gone too): the connection just closes.
        if request.plan == nil && !peerGone && !request.inputEndedWhileRunning {
            let error = request.bodyError ?? HTTPError(500, "the application failed before responding")
            request.status = error.status
            queue(ResponseEncoder.errorResponse(error, date: DateCache.shared.current(), server: configuration.server))
        }
        request.end = .aborted
        request.waitingSince = now
    }
}
