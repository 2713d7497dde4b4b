import TLS

/// The TLS session-ticket keys the master hands to every worker, and when they rotate next.
///
/// Drawn from the kernel's random source and kept in memory only (the master's, and each
/// worker's after it receives them over its control socket): never written to disk, so a restart
/// forgets them and old tickets simply fall back to full handshakes.
struct TicketKeySchedule {
    private(set) var keys: TicketKeys
    /// Seconds between rotations (`tls_ticket_key_rotation`).
    var interval: Double
    /// When the next rotation is due (monotonic seconds).
    private(set) var deadline: Double

    init(interval: Double, now: Double) throws(TLSError) {
        keys = try TicketKeys.generate()
        self.interval = interval
        deadline = now + interval
    }

    /// A new current key; the old current one stays valid for decryption until the next rotation.
    mutating func rotate(now: Double) throws(TLSError) {
        keys = try keys.rotated()
        deadline = now + interval
    }

    /// A new interval takes effect from now.
    mutating func reschedule(interval: Double, now: Double) {
        guard interval != self.interval else { return }
        self.interval = interval
        deadline = min(deadline, now + interval)
    }
}
