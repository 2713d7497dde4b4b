import AppProtocol
import ArbiterABI
import Configuration
import Glibc
import HTTP1
import Platform
import Synchronization
import Testing
@testable import AppLoader
@testable import Worker

/// The worker drivers in this process, over a unix socket of the test's own: no master, no exec.
final class DriverHarness: @unchecked Sendable {
    let worker: String
    let directory: String
    let listenerPath: String
    let logPath: String
    let controlPeer: Int32
    let finished = Mutex<Int32?>(nil)

    struct Echo: AsyncApplication {
        func respond(to request: Request) async throws -> Response {
            switch request.path {
            case "/echo": return Response(body: .bytes(try await request.body.collect(upTo: 1 << 20)))
            case "/sleep":
                try await Task.sleep(nanoseconds: 20_000_000)
                return .text("slept")
            case "/stream":
                return Response(body: .stream { writer in
                    for i in 0..<3 { try await writer.write("part \(i)\n") }
                })
            default: return .text("hello \(request.method) \(request.path)")
            }
        }
    }

    struct SyncEcho: Application {
        func respond(to request: Request) throws -> Response {
            request.path == "/echo" ? Response(body: .bytes(try request.body.read(upTo: 1 << 20))) : .text("hello \(request.method) \(request.path)")
        }
    }

    /// The sync worker serves the synchronous application by default, the async worker the async
    /// one: neither then needs this process's cooperative thread pool, which the tests running
    /// alongside may keep busy.
    init(worker: String, synchronousApp: Bool? = nil) throws {
        let synchronousApp = synchronousApp ?? (worker == "sync")
        self.worker = worker
        directory = "/tmp/arbiter-driver-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        mkdir(directory, 0o700)
        let path = directory + "/listener.sock"
        listenerPath = path
        logPath = directory + "/error.log"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        listen(listener, 64)
        var pair: [Int32] = [0, 0]
        socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair)
        controlPeer = pair[1]

        var settings = Settings()
        settings.workerClass = worker == "sync" ? .sync : .async
        settings.threads = 2
        settings.app = "driver:application"
        let table = synchronousApp ? export(SyncEcho()) : export(Echo())
        let app = LoadedApp(table: table.assumingMemoryBound(to: arbiter_app.self), path: "in-process", spec: try AppSpec(parsing: "driver:application"))
        let logger = Logger(sink: try LogSink(path: logPath), level: .debug)
        let (heartbeat, _) = try Heartbeat.create(slots: settings.threads)
        let limits = Limits()
        let context = WorkerContext(
            settings: settings, logger: logger, accessLog: nil, app: app, listeners: [(listener, SocketName.local(listener))],
            control: ControlChannel(fd: pair[0]), limits: limits, heartbeat: heartbeat, forwardedTrust: TrustList.none,
            proxyTrust: TrustList.none, proxyProtocol: .off, scoreboard: nil, requestLimit: nil)
        if worker == "sync" {
            let driver = SyncWorker(context: context, signals: [])
            startThread(name: "driver") { let code = driver.run(); self.finished.withLock { $0 = code } }
        } else {
            let driver = AsyncWorker(context: context, signals: [])
            startThread(name: "driver") { let code = driver.run(); self.finished.withLock { $0 = code } }
        }
        // The worker says `ready` on its control socket when it serves.
        var line = [UInt8](repeating: 0, count: 64)
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(controlPeer, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let n = read(controlPeer, &line, line.count)
        #expect(n > 0 && String(decoding: line[0..<max(0, n)], as: UTF8.self).hasPrefix("ready"), "\(log)")
    }

    /// The worker's error log so far.
    var log: String {
        (try? Files.readString(logPath)) ?? ""
    }

    /// A connected client socket.
    func connect() -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in listenerPath.utf8.enumerated() { raw[i] = byte }
        }
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    /// Sends `raw` and reads until `count` responses' worth of `marker` arrived, or the peer closed.
    func exchange(_ raw: String, until done: (String) -> Bool) -> String {
        let fd = connect()
        defer { close(fd) }
        _ = raw.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        for _ in 0..<1000 {
            let n = read(fd, &buffer, buffer.count)
            if n <= 0 { break }
            received += buffer[0..<n]
            if done(String(decoding: received, as: UTF8.self)) { break }
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Ends the worker the way a departed master does (end-of-file on its control socket) and
    /// waits for it to return.
    func stop() -> Int32? {
        close(controlPeer)
        for _ in 0..<1000 {
            if let code = finished.withLock({ $0 }) {
                unlink(listenerPath)
                unlink(logPath)
                rmdir(directory)
                return code
            }
            usleep(10_000)
        }
        return nil
    }
}

/// One worker at a time: an application's runtime keeps the host it was started by, process-wide.
@Suite(.serialized) struct DriverTests {
    @Test(arguments: ["sync", "async"])
    func aKeepAliveConnectionServesPipelinedRequestsInOrder(worker: String) throws {
        let harness = try DriverHarness(worker: worker)
        let text = harness.exchange(
            "GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbodyGET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        ) { $0.hasSuffix("hello GET /c") }
        #expect(text.contains("hello GET /a"), "\(harness.log)")
        let a = try #require(text.firstRange(of: "hello GET /a")?.lowerBound)
        let body = try #require(text.firstRange(of: "\r\n\r\nbody")?.lowerBound)
        let c = try #require(text.firstRange(of: "hello GET /c")?.lowerBound)
        #expect(a < body && body < c)
        #expect(harness.stop() == 0)
    }

    @Test func anAsyncApplicationStreamsItsResponse() throws {
        let harness = try DriverHarness(worker: "async")
        let text = harness.exchange("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n") { $0.hasSuffix("0\r\n\r\n") }
        #expect(text.contains("Transfer-Encoding: chunked\r\n"))
        #expect(text.contains("7\r\npart 0\n\r\n7\r\npart 1\n\r\n7\r\npart 2\n\r\n0\r\n\r\n"))
        #expect(harness.stop() == 0)
    }

    @Test func sleepingRequestsWakeOnTheLoopsTimers() throws {
        let harness = try DriverHarness(worker: "async")
        defer { _ = harness.stop() }
        let clients = (0..<3).map { _ in harness.connect() }
        defer { for fd in clients { close(fd) } }
        for fd in clients { _ = "GET /sleep HTTP/1.1\r\nHost: x\r\n\r\n".withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }
        for fd in clients {
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 4096)
            for _ in 0..<100 where !String(decoding: received, as: UTF8.self).hasSuffix("slept") {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                received += buffer[0..<n]
            }
            #expect(String(decoding: received, as: UTF8.self).hasSuffix("\r\n\r\nslept"), "\(harness.log)")
        }
    }

    @Test(arguments: ["sync", "async"])
    func aSynchronousApplicationIsServed(worker: String) throws {
        let harness = try DriverHarness(worker: worker, synchronousApp: true)
        defer { _ = harness.stop() }
        let text = harness.exchange("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n") {
            $0.hasSuffix("abc")
        }
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.hasSuffix("\r\n\r\nabc"))
    }

    @Test(arguments: ["sync", "async"])
    func aMalformedRequestIsRefusedAndNothingAfterItParsed(worker: String) throws {
        let harness = try DriverHarness(worker: worker)
        let text = harness.exchange("GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n") { _ in false }
        #expect(text.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!text.contains("smuggled"))
        #expect(harness.stop() == 0)
    }
}
