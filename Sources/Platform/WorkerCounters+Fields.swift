import CArbiter
import Glibc

extension WorkerCounters {
    /// Where each counter lives in a stripe (`arbiter_counters.h` is the one list), and the buckets
    /// and labels the indexes stand for.
    public enum Field {
        public static let stripeFields = Int(ARBITER_COUNTER_STRIPE_FIELDS)
        public static let requestsStarted = Int32(ARBITER_COUNTER_REQUESTS_STARTED)
        public static let requestsCompleted = Int32(ARBITER_COUNTER_REQUESTS_COMPLETED)
        public static let durationMicros = Int32(ARBITER_COUNTER_DURATION_MICROS)
        public static let bytesReceived = Int32(ARBITER_COUNTER_BYTES_RECEIVED)
        public static let bytesSent = Int32(ARBITER_COUNTER_BYTES_SENT)
        public static let connectionsAccepted = Int32(ARBITER_COUNTER_CONNECTIONS_ACCEPTED)
        public static let connectionsClosed = Int32(ARBITER_COUNTER_CONNECTIONS_CLOSED)
        public static let loopBlocks = Int32(ARBITER_COUNTER_LOOP_BLOCKS)
        public static let loopBlockedMicros = Int32(ARBITER_COUNTER_LOOP_BLOCKED_MICROS)
        public static let offloadSubmitted = Int32(ARBITER_COUNTER_OFFLOAD_SUBMITTED)
        public static let offloadStarted = Int32(ARBITER_COUNTER_OFFLOAD_STARTED)
        public static let offloadFinished = Int32(ARBITER_COUNTER_OFFLOAD_FINISHED)
        public static let offloadWaitMicros = Int32(ARBITER_COUNTER_OFFLOAD_WAIT_MICROS)

        /// Log lines of a level.
        public static func logLines(_ level: Logger.Level) -> Int32 {
            Int32(ARBITER_COUNTER_LOG_LINES) + Int32(logLevels.firstIndex(of: level) ?? 0)
        }
        public static let logLevels: [Logger.Level] = [.critical, .error, .warning, .info, .debug]

        /// Upper bounds of the request-duration buckets, in seconds (OpenTelemetry's defaults for
        /// `http.server.request.duration`); one more bucket takes the rest.
        public static let bucketBounds: [Double] = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]
        static let bucketMicros: [UInt64] = bucketBounds.map { UInt64($0 * 1_000_000) }
        public static func durationBucket(_ index: Int) -> Int { Int(ARBITER_COUNTER_DURATION_BUCKETS) + index }

        /// The bucket a duration falls in (`le` semantics: a bound includes itself).
        @inline(__always)
        static func bucket(micros: UInt64) -> Int {
            var i = 0
            while i < bucketMicros.count && micros > bucketMicros[i] { i += 1 }
            return i
        }

        /// Method labels, as OpenTelemetry names them (`_OTHER` for any other method).
        public static let methods = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER"]
        /// Status-class labels; index 0 is a request that got no response.
        public static let classes = ["", "1xx", "2xx", "3xx", "4xx", "5xx"]
        public static func methodClass(method: Int, statusClass: Int) -> Int {
            Int(ARBITER_COUNTER_METHOD_CLASS) + method * Int(ARBITER_COUNTER_CLASSES) + statusClass
        }
        public static func statusCode(_ code: Int) -> Int { Int(ARBITER_COUNTER_STATUS_CODES) + code }
        public static let statusCodes = Int(ARBITER_COUNTER_STATUS_CODE_COUNT)

        /// The index of a method in `methods`, from its bytes (case-sensitive, RFC 9110 §9.1).
        @inline(__always)
        static func methodIndex(_ m: UnsafeRawBufferPointer) -> Int {
            func matches(_ name: StaticString) -> Bool {
                name.utf8CodeUnitCount == m.count && memcmp(name.utf8Start, m.baseAddress!, m.count) == 0
            }
            guard m.count >= 3, let first = m.first else { return 9 }
            switch first {
            case UInt8(ascii: "G"): return matches("GET") ? 0 : 9
            case UInt8(ascii: "H"): return matches("HEAD") ? 1 : 9
            case UInt8(ascii: "P"): return matches("POST") ? 2 : matches("PUT") ? 3 : matches("PATCH") ? 8 : 9
            case UInt8(ascii: "D"): return matches("DELETE") ? 4 : 9
            case UInt8(ascii: "C"): return matches("CONNECT") ? 5 : 9
            case UInt8(ascii: "O"): return matches("OPTIONS") ? 6 : 9
            case UInt8(ascii: "T"): return matches("TRACE") ? 7 : 9
            default: return 9
            }
        }
    }
}
