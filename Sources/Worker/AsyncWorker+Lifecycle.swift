import Glibc
import HTTP1
import Platform

/// Accepting (turns taken through the scoreboard), graceful stop and timeouts of the async worker.
extension AsyncWorker {
    /// How many connections more than the least loaded worker this one may hold and still accept.
    static let acceptSlack = 1
    /// How long a worker that is ahead leaves new connections to the others before it takes them
    /// anyway (the others may be busy).
    static let deferral = 0.005

    /// Taking connections at all (not stopping or recycling).
    var eligible: Bool { listenersOpen && !stopping && !recycling }

    /// Whether this worker is ahead of the least loaded worker (by the scoreboard) by more than the
    /// slack. All workers on the listeners are woken for a new connection; the ones behind take it.
    var isAhead: Bool {
        guard let board = context.scoreboard, let least = board.page.leastLoaded(excluding: board.index) else { return false }
        return connections.count > least + Self.acceptSlack
    }

    func updateAccepting() {
        if let until = deferredUntil, Clock.monotonic() >= until { deferredUntil = nil }
        if eligible && connections.count < context.settings.workerConnections && deferredUntil == nil {
            startAccepting()
        } else {
            stopAccepting()
        }
        context.scoreboard?.page.publish(context.scoreboard!.index, connections: connections.count, accepting: eligible)
    }

    func startAccepting() { registration.start(epoll, context.listeners) }

    func stopAccepting() { registration.stop(epoll, context.listeners) }

    func acceptConnections(_ listenerFD: Int32) {
        // A bounded batch per wake-up; the scoreboard check below spreads a burst over the workers.
        for _ in 0..<64 {
            if connections.count >= context.settings.workerConnections { return updateAccepting() }
            if isAhead {
                // Leave this one to the others for a moment.
                deferredUntil = Clock.monotonic() + Self.deferral
                return updateAccepting()
            }
            guard let io = context.accept(from: listenerFD) else { return }
            let connection = AsyncConnection(io: io, worker: self)
            let fd = io.fd
            connections[fd] = connection
            connection.interest = Events.readable | Events.peerClosed
            do {
                try epoll.add(fd, events: connection.interest, token: Token.make(Token.connection, fd))
            } catch {
                close(connection)
            }
        }
    }

    /// Stops accepting and lets requests in flight finish; idle connections get a short drain time
    /// for one more request (answered with `Connection: close`), then are closed.
    func beginGracefulStop(reason: String) {
        guard !stopping else { return }
        stopping = true
        context.logger.debug("Worker stopping gracefully (\(reason)): \(active) request(s) in flight")
        stopAccepting()
        listenersOpen = false
        drainDeadline = context.closeListeners()
    }

    /// Closes idle keep-alive connections and stalled heads (at most four times a second).
    func sweep() {
        let now = Clock.monotonic()
        guard now - lastSweep >= 0.25 else { return }
        lastSweep = now
        if let drainDeadline, now >= drainDeadline {
            for connection in Array(connections.values) where connection.exchange == nil { close(connection) }
            return
        }
        for connection in Array(connections.values) {
            if connection.io.lingerUntil != nil {
                if connection.io.lingerDone(now: now) { close(connection) }
                continue
            }
            if let exchange = connection.exchange {
                // A request body that stopped arriving, or a client that stopped reading.
                if context.settings.bodyTimeout > 0, exchange.stalled(now: now, limit: context.settings.bodyTimeout) {
                    if exchange.wantsBody { exchange.bodyStalled() } else { peerGone(connection) }
                }
                continue
            }
            switch connection.io.idleVerdict(now: now, settings: context.settings) {
            case .keep: break
            case .close: close(connection)
            case .headTimeout: reject(connection, headTimeoutError(context.settings))
            }
        }
    }
}
