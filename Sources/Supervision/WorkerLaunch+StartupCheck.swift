extension WorkerLaunch {
    /// Set (with `settingsVariable`) for a process that only loads the application, runs its
    /// `startup()` and `shutdown()` once and exits: `arbiter --check-startup`. Exit codes are the
    /// worker's: 0, 3 (a hook failed) or 4 (the application did not load).
    public static let startupCheckVariable = "ARBITER_STARTUP_CHECK"
}
