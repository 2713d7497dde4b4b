import Platform
import TLS

/// Every setting's value, resolved from defaults, the config file, the environment and the command line.
public struct Settings: Sendable, Equatable {
    public enum WorkerClass: String, Sendable, CaseIterable {
        case sync
        case async
    }

    public enum HeaderMap: String, Sendable, CaseIterable {
        case drop, refuse, dangerous
    }

    public enum ProxyProtocolMode: String, Sendable, CaseIterable {
        case off, v1, v2, auto
    }

    public enum Switch: String, Sendable, CaseIterable {
        case on, off
    }

    /// `MODULE:SYMBOL` (or a path to a library before the colon).
    public var app: String?
    public var bind: [String] = ["127.0.0.1:8000"]
    public var backlog = 2048
    public var workers = 1
    public var workerClass = WorkerClass.sync
    public var threads = 1
    public var offloadThreads = 64
    public var workerConnections = 1000
    public var keepalive = 5.0
    public var blockThreshold = 0.1
    public var timeout = 30.0
    public var maxRequests = 0
    public var maxRequestsJitter = 0
    public var maxWorkerMemory = 0
    public var gracefulTimeout = 30.0
    public var limitRequestLine = 4094
    public var limitRequestFields = 100
    public var limitRequestFieldSize = 8190
    public var limitRequestBody = 0
    public var headerMap = HeaderMap.drop
    public var headerTimeout = 10.0
    public var bodyTimeout = 30.0
    public var forwardedAllowIPs = "127.0.0.1,::1"
    public var proxyProtocol = ProxyProtocolMode.off
    public var proxyAllowIPs = "127.0.0.1,::1"
    public var chdir: String?
    public var appPath: [String] = []
    public var preloadApp = false
    public var procName: String?
    public var pidfile: String?
    public var daemon = false
    public var user: String?
    public var group: String?
    public var umask: String?
    public var rawEnv: [String] = []
    public var logLevel = "info"
    public var errorLog: String?
    public var accessLog: String?
    public var logFormat = Logger.Format.text
    public var controlSocket: String?
    public var reload = false
    public var metricsBind: String?
    public var statsdHost: String?
    public var statsdPrefix = ""
    public var dogstatsdTags = ""
    public var enableBacklogMetric = false
    public var shutdownDelay = 0.0
    public var reloadExtraFiles: [String] = []
    public var wsMaxSize = 16 << 20
    public var wsPingInterval = 20.0
    public var wsPingTimeout = 20.0
    public var wsCloseTimeout = 5.0
    public var wsPerMessageDeflate = Switch.on
    public var accessLogFormat = #"%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s""#
    // TLS (Settings+TLS.swift).
    public var certfile: String?
    public var keyfile: String?
    public var caCerts: String?
    public var certReqs = TLSConfiguration.CertificateRequirement.none
    public var ciphers: String?
    public var tlsMinVersion = TLSConfiguration.ProtocolVersion.tls12
    public var doHandshakeOnConnect = false
    public var sniCerts: [String] = []
    public var insecureBind: [String] = []
    public var tlsHandshakeTimeout = 10.0
    public var tlsTicketKeyRotation = 3600.0

    public init() {}

    /// Defaults that come from the environment: `PORT` and `WEB_CONCURRENCY`, as on Heroku-style hosts.
    public static func defaults(environment: [String: String]) -> Settings {
        var settings = Settings()
        if let port = environment["PORT"], !port.isEmpty { settings.bind = ["0.0.0.0:\(port)"] }
        if let n = environment["WEB_CONCURRENCY"].flatMap(Int.init), n > 0 { settings.workers = n }
        if let paths = environment["ARBITER_APP_PATH"], !paths.isEmpty {
            settings.appPath = paths.split(separator: ":").map(String.init)
        }
        return settings
    }

    /// The name processes are titled with: `proc_name`, else the application spec.
    public var displayName: String { procName ?? app ?? "arbiter" }
}
