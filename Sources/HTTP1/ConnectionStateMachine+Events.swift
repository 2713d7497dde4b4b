/// Events from the transport and the clock.
extension ConnectionStateMachine {
    /// Bytes arrived from the client.
    public mutating func received(_ bytes: UnsafeRawBufferPointer, now: Double) {
        guard !bytes.isEmpty, !peerGone, phase != .closed else { return }
        lastActivity = now
        if case .lingering(let until) = phase {
            // Dropped: nothing after a refusal is parsed. A client that keeps the reads full would
            // keep the driver reading past the linger time: it ends here too, not only at a tick.
            if now >= until { endLinger() }
            return
        }
        if case .closing = phase { return }
        if case .upgraded = phase { return }  // the upgraded protocol's handler reads now
        compactInput()
        input.append(contentsOf: bytes)
    }

    public mutating func received(_ bytes: [UInt8], now: Double) {
        bytes.withUnsafeBytes { received($0, now: now) }
    }

    /// The peer is gone (a reset, a failed read or write): nothing more is read or written.
    public mutating func peerClosed() {
        peerGone = true
    }

    /// The client's input ended (a read found the end of the stream): it sends nothing more, but
    /// may still read, as after a half-close (`shutdown(SHUT_WR)`, RFC 9293 §3.6). The requests
    /// buffered are answered, then the connection closes. The request in flight now is cancelled
    /// (the client may have gone entirely; only a write can tell), but what its application still
    /// sends is written; requests started after the end are not cancelled.
    public mutating func inputEnded() {
        inputClosed = true
        if phase == .request && request.end == .running { request.inputEndedWhileRunning = true }
    }

    /// `count` bytes of `outbound` were written.
    public mutating func wrote(_ count: Int, now: Double) {
        guard count > 0 else { return }
        outputStart += count
        lastActivity = now
        if outputStart == output.count {
            output.removeAll(keepingCapacity: output.capacity <= 262_144)
            outputStart = 0
            if phase != .request { trimBuffers() }  // the response is out: the connection may idle now
        } else if outputStart > 262_144 {
            output.removeSubrange(0..<outputStart)
            outputStart = 0
        }
    }

    /// The room of its buffers a connection keeps right after an exchange: enough for a usual head
    /// and response, so busy keep-alive requests reuse it. Beyond it, the room a large exchange grew
    /// is given back at once; the rest goes once the connection waits (`releaseBuffers`).
    static let keptBufferCapacity = 4096

    /// The connection waits — idle between requests, or for an application still working on one —
    /// and gives back its empty buffers entirely: thousands may wait at once, and a few hundred bytes
    /// each add up. Called at every tick, and by a driver whose application did not answer at once;
    /// a busy connection keeps its buffers between ticks, so keep-alive requests reuse them.
    public mutating func releaseBuffers() {
        if phase == .head || phase == .request { trimBuffers(keeping: 0) }
    }

    /// Gives back the room of empty buffers beyond `keeping` bytes.
    mutating func trimBuffers(keeping: Int = Self.keptBufferCapacity) {
        if inputStart == input.count && input.capacity > keeping {
            input = []
            inputStart = 0
        }
        if outputStart == output.count && output.capacity > keeping {
            output = []
            outputStart = 0
        }
    }

    /// The bytes of room the connection's buffers hold now.
    public var bufferCapacity: Int { input.capacity + output.capacity }

    /// The server stops taking requests on this connection: responses from now on close it, and an
    /// idle connection may still send one request until `drainUntil` (nil: only keep-alive ends),
    /// so a client never races the close.
    public mutating func stopKeepAlive(drainUntil: Double?) {
        serverKeepAlive = false
        if let drainUntil { drainDeadline = min(drainDeadline ?? drainUntil, drainUntil) }
    }

    /// Timeouts: call a few times a second. Returns true when the driver should poll.
    @discardableResult
    public mutating func tick(now: Double) -> Bool {
        releaseBuffers()
        switch phase {
        case .closed, .upgraded:
            return false
        case .lingering(let until):
            guard now >= until || peerGone else { return false }
            endLinger()
            return true
        case .closing:
            // A client that stopped reading the last bytes of a closing connection.
            guard stalledWriting(now) else { return false }
            peerGone = true
            return true
        case .head:
            if let drainDeadline, now >= drainDeadline, bufferedInput == 0 || headStartedAt == nil {
                phase = .closing
                return true
            }
            if let started = headStartedAt {
                guard now - started > configuration.headerTimeout else { return false }
                if bufferedInput > 0 && discard == nil && !proxyOwed {
                    refuse(HTTPError(408, "request head not received within header_timeout (\(configuration.headerTimeout) s)"), now: now)
                } else {
                    phase = .closing
                }
                return true
            }
            if discard != nil {
                guard stalledWriting(now) || now - lastActivity > configuration.headerTimeout else { return false }
                phase = .closing
                return true
            }
            if outboundCount > 0 { return stalledWriting(now) ? markGone() : false }
            guard now - lastActivity > configuration.keepAlive else { return false }
            phase = .closing
            return true
        case .request:
            // Read in place: this runs for every connection at every sweep, and a request is a few
            // hundred bytes.
            guard configuration.bodyTimeout > 0 else { return false }
            let waiting = request.readMax != nil || request.writePending || (request.end != .running && outboundCount > 0)
            guard waiting, let since = request.waitingSince,
                  now - max(since, lastActivity) > configuration.bodyTimeout
            else { return false }
            if request.readMax != nil {
                request.bodyError = HTTPError(408, "request body made no progress within body_timeout")
            } else {
                peerGone = true  // a client that stopped reading its response
            }
            return true
        }
    }

    /// The linger time is over: the connection closes, whatever is still unwritten.
    private mutating func endLinger() {
        phase = .closing
        output.removeAll()
        outputStart = 0
    }

    private mutating func markGone() -> Bool {
        peerGone = true
        return true
    }

    private mutating func stalledWriting(_ now: Double) -> Bool {
        outboundCount > 0 && configuration.bodyTimeout > 0 && now - lastActivity > configuration.bodyTimeout
    }

    /// Drops consumed input when it dominates the buffer.
    mutating func compactInput() {
        if inputStart > 0 && (inputStart == input.count || inputStart > 65_536) {
            input.removeSubrange(0..<inputStart)
            inputStart = 0
        }
    }

    mutating func consumeInput(_ n: Int) {
        inputStart += n
        if inputStart == input.count {
            input.removeAll(keepingCapacity: input.capacity <= 65_536)
            inputStart = 0
        }
    }

    mutating func queue(_ bytes: [UInt8]) {
        output.append(contentsOf: bytes)
    }

    /// Answers a request the server refuses, then lingers: nothing after it is parsed.
    mutating func refuse(_ error: HTTPError, now: Double) {
        input.removeAll()
        inputStart = 0
        discard = nil
        headStartedAt = nil
        if !peerGone {
            queue(ResponseEncoder.errorResponse(error, date: DateCache.shared.current(), server: configuration.server))
        }
        phase = .lingering(until: now + configuration.lingerTime)
        pendingRefusal = error
    }
}
