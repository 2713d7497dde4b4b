extension WorkerLaunch {
    /// Which listeners speak plain HTTP although TLS is configured (`insecure_bind`): their
    /// positions among the listeners, comma-separated (`2,3`). Absent: every listener is TLS when
    /// TLS is configured.
    public static let plainListenersVariable = "ARBITER_WORKER_PLAIN_LISTENERS"
    /// How long a TLS worker waits at boot for its session-ticket keys, which the master writes to
    /// the control socket right after starting it.
    public static let ticketKeysWait = 10.0
}
