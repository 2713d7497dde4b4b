/// The contract between the master and the worker processes it starts: the variables and
/// descriptors a worker finds at exec.
public enum WorkerLaunch {
    /// The slot number; its presence makes the process a worker.
    public static let slotVariable = "ARBITER_WORKER"
    /// The resolved settings, in config-file form (`ConfigFile.render`).
    public static let settingsVariable = "ARBITER_WORKER_SETTINGS"
    /// How many listeners follow the control socket.
    public static let listenerCountVariable = "ARBITER_WORKER_LISTENERS"
    /// The worker's end of its control socket with the master.
    public static let controlFD: Int32 = 3
    /// Listeners follow, in bind order.
    public static let firstListenerFD: Int32 = 4
}
