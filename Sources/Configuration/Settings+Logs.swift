extension Settings {
    /// Where the error log goes as a `LogSink` path: `-` means stderr, as in Gunicorn (the access
    /// log's `-` is stdout).
    public var errorLogDestination: String? { errorLog == "-" ? nil : errorLog }

    /// The log files a worker opens itself (not stderr or stdout).
    public var workerLogFiles: [String] {
        [errorLogDestination, accessLog == "-" ? nil : accessLog].compactMap { $0 }
    }
}
