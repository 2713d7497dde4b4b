extension Settings {
    /// Where the error log goes as a `LogSink` path: `-` means stderr, as in Gunicorn (the access
    /// log's `-` is stdout).
    public var errorLogDestination: String? { errorLog == "-" ? nil : errorLog }
}
