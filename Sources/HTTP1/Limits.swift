/// Parser limits, named after Gunicorn's settings.
public struct Limits: Sendable, Equatable {
    /// What to do with header names containing `_`, which some stacks treat as `-`.
    public enum UnderscoreHeaders: String, Sendable, CaseIterable {
        /// Drop the field silently (default): it cannot impersonate a dashed field.
        case drop
        /// Reject the request with 400.
        case refuse
        /// Keep it (only behind a proxy that already normalises names).
        case allow
    }

    /// Maximum bytes of the request line (method, target, version); 0 means 65 535.
    public var requestLine: Int
    /// Maximum number of header fields.
    public var fields: Int
    /// Maximum bytes of one header line.
    public var fieldSize: Int
    /// Maximum body bytes (0: unlimited).
    public var body: Int64
    public var underscoreHeaders: UnderscoreHeaders

    public init(requestLine: Int = 4094, fields: Int = 100, fieldSize: Int = 8190, body: Int64 = 0,
                underscoreHeaders: UnderscoreHeaders = .drop) {
        self.requestLine = requestLine
        self.fields = fields
        self.fieldSize = fieldSize
        self.body = body
        self.underscoreHeaders = underscoreHeaders
    }

    var effectiveRequestLine: Int { requestLine <= 0 ? 65_535 : requestLine }
    /// The whole head may not exceed the request line plus every field at its maximum, nor
    /// `headCeiling` (which keeps a head's offsets in 32 bits), however large the limits are set.
    var maxHeadSize: Int {
        let ceiling = Self.headCeiling
        let (fieldBytes, overflow) = max(fields, 0).multipliedReportingOverflow(by: min(max(fieldSize, 0), ceiling) + 2)
        if overflow { return ceiling }
        return min(min(effectiveRequestLine, ceiling) + 2 + min(fieldBytes, ceiling) + 2, ceiling)
    }

    /// The largest head any limits allow: 1 GiB.
    static let headCeiling = 1 << 30
}
