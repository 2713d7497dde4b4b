/// What to do next, derived from the state: call until it answers `.none`.
extension ConnectionStateMachine {
    public mutating func poll(now: Double) -> Action {
        if !diagnostics.isEmpty { return .log(diagnostics.removeFirst()) }
        if let refusal = pendingRefusal {
            pendingRefusal = nil
            return .refused(refusal)
        }
        switch phase {
        case .closed:
            return .none
        case .upgraded:
            guard let head = upgradedHead else { return .none }
            upgradedHead = nil
            let buffered = Array(input[inputStart...])
            // The other protocol's handler has the transport now: this machine keeps no buffers.
            input = []
            inputStart = 0
            if outboundCount == 0 {
                output = []
                outputStart = 0
            }
            return .upgrade(head, buffered: buffered)
        case .closing:
            guard outboundCount == 0 || peerGone else { return .none }
            phase = .closed
            return .close
        case .lingering:
            if peerGone {
                phase = .closed
                return .close
            }
            // All the client sent is read: no unread input can reset the connection now.
            if inputClosed {
                phase = .closing
                return poll(now: now)
            }
            if outboundCount == 0 && !writeShutAnnounced {
                writeShutAnnounced = true
                return .shutdownWrite
            }
            // Input is dropped as it arrives; `tick` ends the wait.
            input.removeAll(keepingCapacity: true)
            inputStart = 0
            return .none
        case .request:
            return pollRequest(now: now)
        case .head:
            return pollHead(now: now)
        }
    }

    private mutating func pollRequest(now: Double) -> Action {
        // Read and changed in place: the request (a few hundred bytes) is moved out only where a
        // call needs it whole (`takeRequest`), not copied per poll.
        if !request.announced {
            request.announced = true
            return .startRequest(request.head)
        }
        if request.readMax != nil {
            var reading = takeRequest()
            let result = nextRead(&reading)
            if result != nil {
                reading.readMax = nil
                reading.waitingSince = nil
            }
            request = reading
            if let result { return .readCompleted(result) }
        }
        if request.writePending && (outboundCount <= configuration.highWater || peerGone) {
            request.writePending = false
            request.waitingSince = nil
            return .writeCompleted(peerGone ? .disconnected : .ok)
        }
        if (peerGone || request.inputEndedWhileRunning) && request.end == .running && !request.cancelAnnounced {
            request.cancelAnnounced = true
            return .cancelRequest
        }
        guard request.end != .running, outboundCount == 0 || peerGone else { return .none }
        return complete(takeRequest(), now: now)
    }

    /// Moves the request out, leaving the placeholder.
    private mutating func takeRequest() -> Request {
        var taken = Request.idle
        swap(&taken, &request)
        return taken
    }

    /// The result for an outstanding read, if one can be given now.
    private mutating func nextRead(_ request: inout Request) -> ReadResult? {
        if request.end != .running { return .disconnected }
        if request.bodyError != nil { return .badBody }
        if request.decoder.isComplete { return .end }
        while bufferedInput > 0 {
            let step: BodyDecoder.Step
            do {
                step = try input.withUnsafeBufferPointer { (all) throws(HTTPError) -> BodyDecoder.Step in
                    try request.decoder.decode(UnsafeBufferPointer(rebasing: all[inputStart...]), maxData: request.readMax ?? 65_536)
                }
            } catch {
                request.bodyError = error
                return .badBody
            }
            if let data = step.data, !data.isEmpty {
                let chunk = Array(input[(inputStart + data.lowerBound)..<(inputStart + data.upperBound)])
                consumeInput(step.consumed)
                return .data(chunk)
            }
            consumeInput(step.consumed)
            if request.decoder.isComplete || step.consumed == 0 { break }
        }
        if request.decoder.isComplete { return .end }
        if peerGone || inputClosed { return .disconnected }
        return nil
    }

    /// The request is over: keep the connection for the next one, or close it.
    private mutating func complete(_ request: consuming Request, now: Double) -> Action {
        let finishedWhole = request.end == .finished(complete: true)
        let summary = RequestSummary(
            head: request.head, status: request.status, bodyBytesSent: request.bodyBytesSent,
            complete: finishedWhole && !peerGone, startedAt: request.startedAt,
            responseHeaders: request.plan?.headers ?? [])
        requestsServed += 1
        lastActivity = now
        // The client still waits for `100 Continue` before it sends the body: the body's bytes
        // cannot be told from the next request's, so the connection ends.
        let bodyPending = request.awaitsContinueAfterResponse
        let reusable = !peerGone && finishedWhole && (request.plan?.keepAlive ?? false) && request.bodyError == nil && !bodyPending
        if request.status == 101 && finishedWhole && !peerGone {
            phase = .upgraded
            upgradedHead = request.head
        } else if reusable {
            phase = .head
            headStartedAt = nil
            discard = request.decoder.isComplete ? nil : request.decoder
            trimBuffers()  // the connection may idle now (output still queued is trimmed once written)
        } else {
            close(clientMaySend: !request.decoder.isComplete || request.bodyError != nil || bufferedInput > 0, now: now)
        }
        return .requestCompleted(summary)
    }

    /// The client's input ended with no whole request left in it (none, part of a head, part of an
    /// unread body): the connection closes once its output is written.
    private mutating func closeAtEndOfInput(now: Double) -> Action {
        if bufferedInput > 0 && discard == nil {
            diagnostics.append(Diagnostic(level: .debug, message: "Closing a connection: its input ended inside a request head"))
        }
        phase = .closing
        return poll(now: now)
    }

    /// Ends the connection after a response. While the client may still be sending (a body the
    /// request did not read, requests pipelined behind it), the close lingers: the write side is
    /// shut once the response is out, and input is read and dropped for `lingerTime`. Closing a
    /// socket with unread input resets the connection, which can destroy the response before the
    /// client reads it (RFC 9112 §9.6).
    mutating func close(clientMaySend: Bool, now: Double) {
        phase = clientMaySend && !peerGone && !inputClosed ? .lingering(until: now + configuration.lingerTime) : .closing
    }

    private mutating func pollHead(now: Double) -> Action {
        if peerGone {
            phase = .closed
            return .close
        }
        if var remaining = discard {
            defer { discard = remaining.isComplete ? nil : remaining }
            while bufferedInput > 0 && !remaining.isComplete {
                let step: BodyDecoder.Step
                do {
                    step = try input.withUnsafeBufferPointer { (all) throws(HTTPError) -> BodyDecoder.Step in
                        try remaining.decode(UnsafeBufferPointer(rebasing: all[inputStart...]))
                    }
                } catch {
                    close(clientMaySend: true, now: now)
                    return poll(now: now)
                }
                consumeInput(step.consumed)
                if step.consumed == 0 { break }
            }
            if discardGivesUp(atBodyBytes: remaining.received) {
                diagnostics.append(Diagnostic(level: .debug, message: "Closing a connection: more than \(configuration.discardLimit) bytes of unread request body"))
                close(clientMaySend: true, now: now)
                return poll(now: now)
            }
            if !remaining.isComplete { return inputClosed ? closeAtEndOfInput(now: now) : .none }
            lastActivity = now
        }
        if proxyOwed {
            let result = input.withUnsafeBufferPointer {
                ProxyProtocol.parse(UnsafeBufferPointer(rebasing: $0[inputStart...]), accept: configuration.proxyProtocol)
            }
            switch result {
            case .incomplete:
                return inputClosed ? closeAtEndOfInput(now: now) : .none
            case .failure(let reason):
                diagnostics.append(Diagnostic(level: .debug, message: "Closing a connection: \(reason)"))
                phase = .closing
                return poll(now: now)
            case .header(let host, let port, let consumed):
                consumeInput(consumed)
                proxyOwed = false
                return .proxied(host: host, port: port)
            }
        }
        guard bufferedInput > 0 else { return inputClosed ? closeAtEndOfInput(now: now) : .none }
        if headStartedAt == nil { headStartedAt = now }
        var parser = HeadParser(limits: configuration.limits, progress: headProgress)
        let result = input.withUnsafeBufferPointer { parser.parse(UnsafeBufferPointer(rebasing: $0[inputStart...])) }
        headProgress = parser.progress  // none once a head is complete
        switch result {
        case .incomplete:
            return inputClosed ? closeAtEndOfInput(now: now) : .none
        case .failure(let error):
            refuse(error, now: now)
            return poll(now: now)
        case .complete(let head, let consumed):
            consumeInput(consumed)
            trimBuffers()  // the application may take long to answer
            headStartedAt = nil
            let bodyLimit = configuration.limits.body
            if case .length(let n) = head.framing, bodyLimit > 0, n > bodyLimit {
                refuse(.contentTooLarge("declared body of \(n) bytes exceeds limit_request_body \(bodyLimit)"), now: now)
                return poll(now: now)
            }
            request = Request(head: head, bodyLimit: bodyLimit, now: now)
            phase = .request
            return pollRequest(now: now)
        }
    }
}
