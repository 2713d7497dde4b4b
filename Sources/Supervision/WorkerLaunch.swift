/// The contract between the master and the processes it starts (workers, and a successor master on
/// USR2): the variables and descriptors they find at exec.
public enum WorkerLaunch {
    /// The slot number; its presence makes the process a worker.
    public static let slotVariable = "ARBITER_WORKER"
    /// The resolved settings, in config-file form (`ConfigFile.render`).
    public static let settingsVariable = "ARBITER_WORKER_SETTINGS"
    /// How many listeners follow the control socket.
    public static let listenerCountVariable = "ARBITER_WORKER_LISTENERS"
    /// The worker's end of its control socket with the master.
    public static let controlFD: Int32 = 3
    /// The heartbeat page shared with the master (a memfd).
    public static let heartbeatFD: Int32 = 4
    /// Its size in bytes.
    public static let heartbeatSizeVariable = "ARBITER_WORKER_HEARTBEAT"
    /// The scoreboard page shared by all workers (a memfd).
    public static let scoreboardFD: Int32 = 5
    /// This worker's slot on the scoreboard.
    public static let scoreboardIndexVariable = "ARBITER_WORKER_SCORE"
    /// Listeners follow, in bind order.
    public static let firstListenerFD: Int32 = 6
    /// The worker's counters page (a memfd) as `FD:SIZE`; its descriptor follows the listeners.
    public static let countersVariable = "ARBITER_WORKER_COUNTERS"
    /// Set by an upgrading master for its successor: `BIND=FD;…`, listeners to adopt, not bind.
    public static let inheritedListenersVariable = "ARBITER_INHERIT_FDS"
    /// Where an upgrading master puts those listeners in its successor, in order.
    public static let firstInheritedListenerFD: Int32 = 3
}
