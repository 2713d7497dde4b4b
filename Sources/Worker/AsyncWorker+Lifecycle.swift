import Glibc
import HTTP1
import Platform

/// Accepting, graceful stop and timeouts of the async worker.
extension AsyncWorker {
    /// Taking connections at all (booted, not stopping or recycling).
    var eligible: Bool { booted && !stopping && !recycling }

    func updateAccepting() {
        let now = Clock.turn()
        let wanted = eligible && connections.count < context.settings.workerConnections
        accepting.update(wanted: wanted, now: now, epoll: epoll, listeners: context.listeners)
        context.scoreboard?.page.publish(context.scoreboard!.index, connections: connections.count, accepting: eligible)
    }

    func acceptConnections(_ listenerFD: Int32) {
        // A bounded batch per wake-up; the scoreboard check spreads a burst over the workers.
        for _ in 0..<64 {
            guard connections.count < context.settings.workerConnections,
                  accepting.mayTakeAnother(connections: connections.count, context: context)
            else { return updateAccepting() }
            switch context.acceptOne(from: listenerFD, policy: &accepting) {
            case .none:
                return updateAccepting()
            case .accepted(let fd, let remote, let local, let remoteBytes):
                guard let transport = context.makeTransport(fd: fd, listener: listenerFD, remote: remote) else { continue }
                let connection = ServerConnection(
                    transport: transport, remote: remote, local: local, remoteHostBytes: remoteBytes,
                    configuration: context.connectionConfiguration(for: remote),
                    server: self, owner: loop, now: Clock.turn())
                connections[fd] = connection
                connection.edgeTriggered = !transport.isSecure
                connection.interest = Events.readable | Events.peerClosed | registration(connection)
                do {
                    try epoll.add(fd, events: connection.interest, token: Token.make(Token.connection, fd))
                } catch {
                    connection.interest = 0
                    close(connection)
                    continue
                }
                if context.startsHandshakeOnAccept(transport) { connectionEvent(fd, Events.readable) }
            }
        }
    }

    /// Stops accepting and lets requests in flight finish; idle connections get a short drain time
    /// for one more request (answered with `Connection: close`), then are closed.
    func beginGracefulStop(reason: String) {
        guard !stopping else { return }
        stopping = true
        context.logger.debug("Worker stopping gracefully (\(reason)): \(active) request(s) in flight")
        accepting.close(epoll: epoll, listeners: context.listeners)
        let drainUntil = context.closeListeners()
        for connection in connections.values {
            connection.stopKeepAlive(drainUntil: drainUntil)
            connection.tick(now: Clock.monotonic())
            service(connection)
        }
    }

    /// Timeouts of every connection (at most four times a second).
    func sweep() {
        let now = Clock.turn()
        guard now - lastSweep >= 0.25 else { return }
        lastSweep = now
        // In place, not over a copy of every connection: this runs four times a second however
        // many connections are open.
        for fd in 0..<connections.end {
            guard let connection = connections[fd] else { continue }
            if connection.transport.expired(now: now) {
                close(connection)
            } else if connection.tick(now: now) {
                service(connection)
            }
        }
    }
}
