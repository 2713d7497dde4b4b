import Configuration
import HTTP1
import Platform

/// What a connection's buffered bytes amount to, when no request is being served on it.
enum HeadStep {
    /// More bytes are needed.
    case wait
    case head(RequestHead)
    /// Answer with this status and close: nothing after a bad head is parsed.
    case reject(HTTPError)
    /// Close without answering (a malformed PROXY protocol header: not an HTTP client).
    case drop
}

/// What to do with a connection that is between requests.
enum IdleVerdict {
    case keep
    case close
    /// The head did not complete within `header_timeout`: answer 408 and close.
    case headTimeout
}

extension Connection {
    /// The next step for the bytes buffered on this connection (the shared part of both workers'
    /// read paths): the PROXY protocol header if owed, then the request head, with its limits.
    func nextHead(context: WorkerContext) -> HeadStep {
        switch consumeProxyHeader(context.proxyProtocol) {
        case nil: return .wait
        case false?: return .drop
        case true?: break
        }
        guard pending > 0 else { return .wait }
        if headStartedAt == nil { headStartedAt = Clock.monotonic() }
        let result = buffer.withUnsafeBufferPointer { all in parser.parse(UnsafeBufferPointer(rebasing: all[start...])) }
        switch result {
        case .incomplete:
            return .wait
        case .failure(let error):
            return .reject(error)
        case .complete(let head, let consumed):
            consume(consumed)
            parser.reset()
            headStartedAt = nil
            if case .length(let n) = head.framing, context.limits.body > 0, n > context.limits.body {
                return .reject(.contentTooLarge("declared body of \(n) bytes exceeds limit_request_body \(context.limits.body)"))
            }
            return .head(head)
        }
    }

    /// A response ended and the connection may serve another request.
    func becameIdle() {
        requestsServed += 1
        lastActivity = Clock.monotonic()
        headStartedAt = nil
    }

    /// Timeouts between requests: `header_timeout` for a head being received (or a new connection
    /// that sent nothing yet), `keepalive` for an idle connection.
    func idleVerdict(now: Double, settings: Settings) -> IdleVerdict {
        if let started = headStartedAt {
            guard now - started > settings.headerTimeout else { return .keep }
            return pending > 0 ? .headTimeout : .close
        }
        return now - lastActivity > settings.keepalive ? .close : .keep
    }
}

/// The 408 a slow head gets.
func headTimeoutError(_ settings: Settings) -> HTTPError {
    HTTPError(408, "request head not received within header_timeout (\(settings.headerTimeout) s)")
}
