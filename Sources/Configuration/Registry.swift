import HTTP1
import Platform

/// The one list of settings: it drives the command line, the config file, `ARBITER_CMD_ARGS`,
/// `--print-config` and the generated reference (docs/settings.md).
public enum Registry {
    public static let all: [Setting] = application + socket + tls + workers + recycling + limits + webSockets + proxies + mechanics + logging + observability + development

    public static let sections = ["Application", "Server socket", "TLS", "Workers", "Recycling", "Request limits", "WebSockets", "Proxies", "Server mechanics", "Logging", "Metrics and health", "Development"]

    public static func setting(named name: String) -> Setting? {
        let key = name.replacingDashes
        return all.first { $0.name == key }
    }

    public static func setting(flag: String) -> Setting? {
        all.first { $0.flags.contains(flag) }
    }
}

extension String {
    var replacingDashes: String { String(map { $0 == "-" ? "_" : $0 }) }
}

extension Registry {
    static let application: [Setting] = [
        .string("app", [], section: "Application",
                help: "The application, `MODULE:SYMBOL`: `hello:application` loads `libhello.so` and calls its exported entry point `application` (the default symbol). Usually given as the positional argument.",
                \.app),
        .string("chdir", ["--chdir"], section: "Application",
                help: "Change to this directory before loading the application; `.build/release` and `.build/debug` below it are searched for the library.",
                \.chdir),
        .list("app_path", ["--app-path"], section: "Application", env: ["ARBITER_APP_PATH"],
              help: "A directory to search for the application library (repeatable). `ARBITER_APP_PATH` (colon-separated) sets the default.",
              \.appPath),
        .boolean("preload_app", ["--preload"], section: "Application",
                 help: "Load and validate the application in the master before starting workers, so a broken application fails fast.",
                 \.preloadApp),
        .string("proc_name", ["-n", "--name"], section: "Application",
                help: "The name in process titles (`arbiter: master [NAME]`); defaults to the application spec.",
                \.procName),
    ]

    static let socket: [Setting] = [
        .list("bind", ["-b", "--bind"], section: "Server socket", env: ["PORT"],
              help: "Where to listen (repeatable): `HOST:PORT`, `[V6]:PORT`, `unix:PATH` or `fd://N` (an inherited listening socket). Default `127.0.0.1:8000`, or `0.0.0.0:$PORT` when `PORT` is set.",
              validate: { text in
                  do { _ = try BindAddress.parse(text); return nil } catch { return "\(error)" }
              },
              \.bind),
        .integer("backlog", ["--backlog"], section: "Server socket", min: 1,
                 help: "The listen queue length: connections the kernel holds while every worker is busy.",
                 \.backlog),
    ]

    static let workers: [Setting] = [
        .integer("workers", ["-w", "--workers"], section: "Workers", min: 1, env: ["WEB_CONCURRENCY"],
                 help: "How many worker processes serve requests. `WEB_CONCURRENCY` sets the default.",
                 \.workers),
        .choice("worker_class", ["-k", "--worker-class"], section: "Workers",
                help: "The worker type: `sync` (request threads; Gunicorn's `gthread` is `-k sync --threads N`) or `async` (one event loop per worker, for `AsyncApplication`s). `sync` serves each request on one of `--threads` request threads, while a poller holds idle keep-alive connections. `async` serves every request on one event loop: async applications run as tasks on it; synchronous code runs on a pool of `--offload-threads` threads, which the worker reports at boot.",
                \.workerClass).validated(gunicornWorkerClassHint),
        .integer("threads", ["--threads"], section: "Workers", min: 1,
                 help: "Request threads per `sync` worker: how many requests one worker serves at once (Gunicorn's `gthread` is `-k sync --threads N`). An `async` worker does not use it.",
                 \.threads),
        .integer("offload_threads", ["--offload-threads"], section: "Workers", min: 1,
                 help: "The most threads per worker that run synchronous code adapted into asynchronous code: a synchronous `Middleware` in an asynchronous chain or router group, a synchronous `Application` in an `async` worker. Each request through such code holds one while it runs, so this bounds how many run at once; threads start only when needed. The worker names the adapted code at boot.",
                 \.offloadThreads),
        .integer("worker_connections", ["--worker-connections"], section: "Workers", min: 1,
                 help: "Open connections per worker; past it the worker stops accepting and the rest wait in the kernel backlog.",
                 \.workerConnections),
        .seconds("keepalive", ["--keep-alive"], section: "Workers",
                 help: "Seconds an idle keep-alive connection stays open (0 closes after each response). Behind a load balancer, keep it above the balancer's idle timeout, so that the balancer closes idle connections first.",
                 \.keepalive),
        .seconds("block_threshold", ["--block-threshold"], section: "Workers",
                 help: "In an `async` worker, a job that holds the event loop longer than this many seconds is reported with the request it belongs to (every other request of the worker waited meanwhile).",
                 \.blockThreshold),
        .seconds("timeout", ["-t", "--timeout"], section: "Workers",
                 help: "Seconds a worker may be stuck before the master kills it (SIGKILL, so the stuck request gets no response) and replaces it, naming the request it was stuck in. Stuck means: an `async` worker's event loop silent (a job blocking it), or a `sync` request thread making no progress (no body read or response write) on one request. Long streaming responses that keep writing are not stuck, nor is a request waiting on its client (`body_timeout` judges that). A worker not ready this long after it started (its application's `startup()` included) is killed too. 0 disables.",
                 \.timeout),
        .seconds("graceful_timeout", ["--graceful-timeout"], section: "Workers",
                 help: "On a graceful stop (TERM), seconds workers get to finish in-flight requests before they are killed; also how long a worker retired by a reload (HUP), TTOU, WINCH or recycling may keep serving its requests.",
                 \.gracefulTimeout),
    ]

    static let recycling: [Setting] = [
        .integer("max_requests", ["--max-requests"], section: "Recycling",
                 help: "Recycle a worker after it served this many requests (0: never): it stops taking new ones and a replacement starts; it leaves once the replacement is ready, never two workers at once. Limits the damage of leaks.",
                 \.maxRequests),
        .integer("max_requests_jitter", ["--max-requests-jitter"], section: "Recycling",
                 help: "Adds a random 0…N to each worker's `max_requests`, so workers do not all recycle together.",
                 \.maxRequestsJitter),
        .integer("max_worker_memory", ["--max-worker-memory"], section: "Recycling",
                 help: "Recycle a worker whose proportional memory (PSS, from /proc: shared pages counted once) exceeds this many MiB, after its current requests (0: never). Checked every 5 seconds.",
                 \.maxWorkerMemory),
    ]

    static let proxies: [Setting] = [
        .text("forwarded_allow_ips", ["--forwarded-allow-ips"], section: "Proxies",
              help: "Peers whose `X-Forwarded-For`, `X-Forwarded-Proto` and RFC 7239 `Forwarded` headers set the request's client address and scheme: comma-separated IPs and CIDR networks, or `*` for any peer (only behind a proxy that overwrites these headers). From anyone else they are ignored. The client is the first untrusted address from the right.",
              \.forwardedAllowIPs).validated(trustListProblem),
        .choice("proxy_protocol", ["--proxy-protocol"], section: "Proxies",
                help: "Expect a PROXY protocol header (`v1`, `v2`, or `auto` for either) at the start of each connection from `proxy_allow_ips`, as TCP load balancers send; the client address comes from it. `off` by default.",
                \.proxyProtocol),
        .text("proxy_allow_ips", ["--proxy-allow-from"], section: "Proxies",
              help: "Peers that must send the PROXY protocol header when `proxy_protocol` is on (IPs, CIDR networks, `*`). Others connect as plain HTTP clients.",
              \.proxyAllowIPs).validated(trustListProblem),
    ]

    static let mechanics: [Setting] = [
        .string("pidfile", ["-p", "--pid"], section: "Server mechanics",
                help: "Write the master's pid to this file (atomically). Refuses to start when the file names a live process; removed on exit if it is still ours. During a USR2 upgrade the old master's file becomes `FILE.oldbin`.",
                \.pidfile),
        .string("control_socket", ["--control-socket"], section: "Server mechanics",
                help: "Serve `arbiter ctl` on this unix socket (off by default): status, workers and their in-flight requests, reload, upgrade, scale, reopen-logs, stop and the effective config. Created with mode 0600; only the master's user and root may use it (checked with SO_PEERCRED).",
                \.controlSocket),
        .boolean("daemon", ["-D", "--daemon"], section: "Server mechanics",
                 help: "Detach from the terminal and run in the background (not under systemd, which wants the foreground).",
                 \.daemon),
        .string("user", ["-u", "--user"], section: "Server mechanics",
                help: "Run workers as this user (name or uid); the master keeps its user to bind privileged ports.",
                \.user),
        .string("group", ["-g", "--group"], section: "Server mechanics",
                help: "Run workers as this group (name or gid).",
                \.group),
        .string("umask", ["-m", "--umask"], section: "Server mechanics",
                help: "The file mode creation mask of the master and workers, in octal (e.g. `027`).",
                \.umask).validated { Settings.parseMask($0) == nil ? "not an octal file mode mask (e.g. 027)" : nil },
        .list("raw_env", ["-e", "--env"], section: "Server mechanics",
              help: "Set an environment variable for the master and workers, `KEY=VALUE` (repeatable).",
              validate: { text in text.contains("=") && !text.hasPrefix("=") ? nil : "expected KEY=VALUE" },
              \.rawEnv),
    ]

    static let limits: [Setting] = [
        .integer("limit_request_line", ["--limit-request-line"], section: "Request limits",
                 help: "Maximum bytes of the request line; longer gets 414. 0 means 65535.",
                 \.limitRequestLine),
        .integer("limit_request_fields", ["--limit-request-fields"], section: "Request limits", min: 1,
                 help: "Maximum number of header fields in a request; more gets 431.",
                 \.limitRequestFields),
        .integer("limit_request_field_size", ["--limit-request-field-size"], section: "Request limits", min: 1,
                 help: "Maximum bytes of one header line; longer gets 431.",
                 \.limitRequestFieldSize),
        .integer("limit_request_body", ["--limit-request-body"], section: "Request limits",
                 help: "Maximum bytes of a request body, declared or chunked; more gets 413. 0 means no limit.",
                 \.limitRequestBody),
        .seconds("header_timeout", ["--header-timeout"], section: "Request limits",
                 help: "Seconds a client has to send a complete request head, counted from the connection or from its first byte after an idle keep-alive; a slow or silent client gets 408 and is closed, so trickling headers ties up nothing for long.",
                 \.headerTimeout),
        .seconds("body_timeout", ["--body-timeout"], section: "Request limits",
                 help: "Seconds a request body may make no progress while the application waits for it (answered 408), and a response may wait for a client that reads nothing (closed).",
                 \.bodyTimeout),
        .choice("header_map", ["--header-map"], section: "Request limits",
                help: "Header names containing `_`: `drop` them (default, so they cannot impersonate dashed names), `refuse` the request with 400, or keep them (`dangerous`).",
                \.headerMap),
    ]

    static let webSockets: [Setting] = [
        .integer("ws_max_size", ["--ws-max-size"], section: "WebSockets", min: 1,
                 help: "Largest WebSocket message accepted, in bytes after decompression; a larger one closes the connection with 1009 (RFC 6455 §7.4.1). As Uvicorn's `--ws-max-size`.",
                 \.wsMaxSize),
        .seconds("ws_ping_interval", ["--ws-ping-interval"], section: "WebSockets",
                 help: "Seconds between keep-alive pings on an open WebSocket (0: none), so dead peers and idle-killing middleboxes are noticed.",
                 \.wsPingInterval),
        .seconds("ws_ping_timeout", ["--ws-ping-timeout"], section: "WebSockets",
                 help: "Seconds a peer has to answer a keep-alive ping before the connection is dropped.",
                 \.wsPingTimeout),
        .seconds("ws_close_timeout", ["--ws-close-timeout"], section: "WebSockets",
                 help: "Seconds to wait for the peer's answer to a close frame, including the 1001 (going away) every WebSocket gets when its worker retires on HUP, TERM, TTOU, USR2 or `--max-requests`; then the connection is dropped, so a reload ends in bounded time.",
                 \.wsCloseTimeout),
        .choice("ws_per_message_deflate", ["--ws-per-message-deflate"], section: "WebSockets",
                help: "`on`: agree to permessage-deflate compression (RFC 7692) when a client offers it, with zlib loaded from the system at run time (without it, connections are uncompressed); `off`: never compress.",
                \.wsPerMessageDeflate),
    ]

    static let logging: [Setting] = [
        .text("loglevel", ["--log-level"], section: "Logging",
              help: "The error log's level: debug, info, warning, error or critical.",
              \.logLevel).validated { Logger.Level(name: $0) == nil ? "must be debug, info, warning, error or critical" : nil },
        .string("errorlog", ["--error-logfile", "--log-file"], section: "Logging",
                help: "Where the error log goes: a file path, or `-` for stderr (the default, as in Gunicorn).",
                \.errorLog),
        .string("accesslog", ["--access-logfile"], section: "Logging",
                help: "Where the access log goes: a file path, or `-` for stdout. Off by default.",
                \.accessLog),
        .text("access_log_format", ["--access-logformat"], section: "Logging",
              help: "The access log line, with Gunicorn's atoms (an unknown atom prints `-`, and arbiter warns about it at start): `h` remote address, `l` `-`, `u` the user of `Authorization: Basic`, `t` time, `r` request line, `m` method, `U` path, `q` query, `H` protocol, `s` status, `B` body bytes, `b` body bytes or `-`, `f` referer, `a` user agent, `T` seconds, `M` milliseconds, `D` microseconds, `L` decimal seconds, `p` pid, `{name}i` request header, `{name}o` response header, `{NAME}e` the request's WSGI-style environ variable (`HTTP_USER_AGENT`, `REQUEST_METHOD`, `PATH_INFO`, `QUERY_STRING`, `SERVER_PROTOCOL`, `REMOTE_ADDR`; never the process environment). `%%` is a percent sign.",
              \.accessLogFormat),
        .choice("log_format", ["--log-format"], section: "Logging",
                help: "`text` (Gunicorn's lines) or `json`: the error log and the access log write one JSON object per line, every value escaped (a header with quotes or line breaks cannot forge a field or a line). Error log fields: `time`, `level`, `pid`, `message`. Access log fields: every atom of the text format under a name (`remote_addr`, `time`, `request`, `method`, `path`, `query`, `protocol`, `status`, `bytes`, `referer`, `user_agent`, `pid`), the headers `access_log_format` names (`request_headers`, `response_headers`), plus `duration` (seconds) and `worker_slot`.",
                \.logFormat),
    ]
}

extension Registry {
    static let development: [Setting] = [
        .boolean("reload", ["--reload"], section: "Development",
                 help: "Development only, not for production: watch the application library (every place it is searched for) and each `--reload-extra-file`, and when one is rebuilt, reload as on HUP (new workers with the new code; old ones retire once the new ones are ready). With it, `swift build` in another terminal is the whole edit-build-serve loop.",
                 \.reload),
        .list("reload_extra_files", ["--reload-extra-file"], section: "Development",
              help: "Another file that `--reload` watches (repeatable), e.g. a config file or a template.",
              \.reloadExtraFiles),
    ]
}

/// Gunicorn's worker classes, answered with their equivalent here (other values get the list of choices).
@Sendable func gunicornWorkerClassHint(_ text: String) -> String? {
    switch text.lowercased() {
    case "gthread": "gthread is `-k sync --threads N` here (a sync worker with N request threads)"
    case "gevent", "eventlet", "tornado", "uvicorn.workers.uvicornworker":
        "\(text) is `-k async` here (one event loop per worker; write the application as an AsyncApplication)"
    default: nil
    }
}

/// The problem with a trust list (IPs, CIDRs, `*`), or nil.
@Sendable func trustListProblem(_ text: String) -> String? {
    do {
        _ = try TrustList(parsing: text)
        return nil
    } catch {
        return error.description
    }
}

extension Setting {
    /// The same setting with an extra check on the value.
    func validated(_ check: @escaping @Sendable (String) -> String?) -> Setting {
        let assign = self.assign
        return Setting(
            name: name, flags: flags, section: section, kind: kind, help: help, environment: environment,
            assign: { (settings, text) throws(Invalid) in
                if let problem = check(text.trimmingSpaces) { throw Invalid(reason: problem) }
                try assign(&settings, text.trimmingSpaces)
            },
            read: read, reset: reset)
    }
}
