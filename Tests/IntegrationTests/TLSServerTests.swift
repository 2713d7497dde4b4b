import Glibc
import Platform
import Testing
import TestSupport

/// The real server over TLS, checked with curl and Python's `ssl`, against certificates made with
/// the `openssl` command (see `Certificates`).
extension Integration {
    @Suite(.enabled(if: Requirement.commands("openssl", "curl", "python3") && Requirement.libssl,
                    "needs openssl, curl, python3 and libssl.so.3 (Debian: openssl, curl, python3, libssl3)"))
    struct TLSServer {
        let pki: Certificates
        init() throws { pki = try Certificates.get() }

        /// `--certfile`/`--keyfile` for the default certificate (alpha.test) and the fixture app.
        var tlsArguments: [String] {
            ["--certfile", pki.path("alpha.crt"), "--keyfile", pki.path("alpha.key"), "fixtures:tls_info"]
        }

        @Test(arguments: ["sync", "async"])
        func servesHTTPSWithKeepAlivePipeliningAndLargeBodies(workerClass: String) throws {
            try withServer(tlsArguments + ["-k", workerClass]) { server in
                let info = try curl(pki, port: server.port, ["https://alpha.test:\(server.port)/info"])
                #expect(info.contains("scheme=https"))
                #expect(info.contains("subject=-"))
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    sock = connect(context())
                    print("alpn", sock.selected_alpn_protocol(), sock.version())
                    # Keep-alive: three requests one after the other on one connection.
                    for _ in range(3):
                        status, headers, body = request(sock)
                        print("keepalive", status, field(body, "scheme"))
                    # Pipelining: three requests in one write, answered in order.
                    sock.sendall(b"".join(b"GET /big?bytes=%d HTTP/1.1\r\nHost: alpha.test\r\n\r\n" % n for n in (10, 70000, 3)))
                    reader = Reader(sock)
                    print("pipelined", [len(reader.response()[2]) for _ in range(3)])
                    # 8 MiB up and back on the same connection, then 8 MiB down.
                    payload = bytes((i * 7 + 3) % 256 for i in range(8 << 20))
                    status, _, body = request(sock, "/echo", "POST", payload)
                    print("echo", status, body == payload)
                    status, _, body = request(sock, "/big?bytes=%d" % (8 << 20))
                    print("download", status, body == bytes((i * 31 + 7) % 256 for i in range(8 << 20)))
                    """#)
                #expect(output.contains("alpn http/1.1"))
                #expect(output.occurrences(of: "keepalive 200 https") == 3)
                #expect(output.contains("pipelined [10, 70000, 3]"))
                #expect(output.contains("echo 200 True"))
                #expect(output.contains("download 200 True"))
            }
        }

        @Test(arguments: ["sync", "async"])
        func handshakesStartOnAcceptWhenAsked(workerClass: String) throws {
            try withServer(tlsArguments + ["-k", workerClass, "--do-handshake-on-connect"]) { server in
                #expect(server.log.contains("TLS (TLSv1.2 and newer) on https://127.0.0.1:\(server.port)"))
                let info = try curl(pki, port: server.port, ["https://alpha.test:\(server.port)/info", "https://alpha.test:\(server.port)/info"])
                #expect(info.occurrences(of: "scheme=https") == 2)
            }
        }

        /// A WebSocket takes over a TLS connection like a plain one (wss://).
        @Test(arguments: ["sync", "async"])
        func webSocketsRunOverTLS(workerClass: String) throws {
            let arguments = ["--certfile", pki.path("alpha.crt"), "--keyfile", pki.path("alpha.key"), "hello:application", "-k", workerClass]
            try withServer(arguments) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    import base64, struct
                    sock = connect(context())
                    key = base64.b64encode(os.urandom(16))
                    sock.sendall(b"GET /ws HTTP/1.1\r\nHost: alpha.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                                 b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
                    file = sock.makefile("rb")
                    print("status", file.readline().split()[1].decode())
                    while file.readline().strip():
                        pass
                    for size in (5, 70000):
                        payload = bytes(i % 251 for i in range(size))
                        mask = os.urandom(4)
                        header = b"\x82" + (bytes([0x80 | size]) if size < 126 else b"\xff" + struct.pack(">Q", size))
                        sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
                        first, second = file.read(2)
                        length = second & 0x7f
                        if length == 126:
                            length = struct.unpack(">H", file.read(2))[0]
                        elif length == 127:
                            length = struct.unpack(">Q", file.read(8))[0]
                        print("echo", size, first == 0x82 and file.read(length) == payload)
                    """#)
                #expect(output.contains("status 101"))
                #expect(output.contains("echo 5 True"))
                #expect(output.contains("echo 70000 True"))
            }
        }

        /// The server's closes are TLS closes: close_notify after `Connection: close` and after a
        /// refused request (the lingering close), so a client can tell them from a truncation.
        @Test(arguments: ["sync", "async"])
        func closesSendCloseNotify(workerClass: String) throws {
            try withServer(tlsArguments + ["-k", workerClass]) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    for name, head in (("close", b"GET /info HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
                                       ("refused", b"GET /info HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")):
                        sock = connect(context(), strict_close=True)
                        sock.sendall(head)
                        status, _, _ = Reader(sock).response()
                        try:
                            rest = sock.recv(100)
                            print(name, status, "close_notify" if rest == b"" else "more data")
                        except ssl.SSLEOFError:
                            print(name, status, "truncated")
                    """#)
                #expect(output.contains("close 200 close_notify"))
                #expect(output.contains("refused 400 close_notify"))
            }
        }

        /// TLS 1.2 and 1.3 by default; `--tls-min-version TLSv1.3` refuses a TLS 1.2 client.
        @Test(arguments: ["TLSv1.2", "TLSv1.3"])
        func theMinimumVersionIsEnforced(minimum: String) throws {
            try withServer(tlsArguments + ["--tls-min-version", minimum]) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
                        ctx = context()
                        ctx.maximum_version = version
                        try:
                            sock = connect(ctx)
                            print(version.name, "speaks", sock.version(), request(sock)[0])
                        except (ssl.SSLError, OSError) as error:
                            print(version.name, "refused")
                    """#)
                #expect(output.contains("TLSv1_3 speaks TLSv1.3 200"))
                #expect(output.contains(minimum == "TLSv1.2" ? "TLSv1_2 speaks TLSv1.2 200" : "TLSv1_2 refused"))
            }
        }

        @Test func plainListenersServeBesideTLS() throws {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let socket = directory.file("health.sock")
            try withServer(tlsArguments + ["--insecure-bind", "unix:\(socket)"]) { server in
                let plain = try ChildProcess(["/usr/bin/curl", "-sS", "--max-time", "30", "--unix-socket", socket, "http://localhost/info"])
                #expect(plain.wait(timeout: 60) == 0)
                #expect(plain.output.contains("scheme=http\n"))
                let secure = try curl(pki, port: server.port, ["https://alpha.test:\(server.port)/info"])
                #expect(secure.contains("scheme=https"))
            }
        }

        @Test func mutualTLSAcceptsAGoodClientCertificateAndRefusesOthers() throws {
            let arguments = tlsArguments + ["--ca-certs", pki.path("ca.crt"), "--cert-reqs", "required"]
            try withServer(arguments) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    sock = connect(context("client"))
                    status, _, body = request(sock)
                    print("good", status, field(body, "subject"), "|", field(body, "issuer"), "|", field(body, "pem"))
                    for name, cert in (("none", None), ("wrong", "intruder")):
                        try:
                            sock = connect(context(cert))
                            status, _, _ = request(sock)
                            print(name, "answered", status)
                        except (ssl.SSLError, OSError, EOFError) as error:
                            print(name, "refused", type(error).__name__)
                    """#)
                #expect(output.contains("good 200 CN=client.test,O=Arbiter Tests | CN=Arbiter Test CA,O=Arbiter Tests | yes"))
                #expect(output.contains("none refused"))
                #expect(output.contains("wrong refused"))
                // Each refused handshake is one log line naming the peer and OpenSSL's reason.
                let log = try server.waitForLog("TLS connection from 127.0.0.1", count: 2)
                #expect(log.contains("certificate"))
            }
        }

        @Test func serverNameIndicationPicksTheCertificate() throws {
            let arguments = tlsArguments + ["--sni-cert", "beta.test,*.beta.test:\(pki.path("beta.crt")):\(pki.path("beta.key"))"]
            try withServer(arguments) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    for name in ("alpha.test", "beta.test", "api.beta.test"):
                        sock = connect(context(), name)
                        status, _, _ = request(sock)
                        print(name, "->", peer_cn(sock), status)
                    """#)
                #expect(output.contains("alpha.test -> alpha.test 200"))
                #expect(output.contains("beta.test -> beta.test 200"))
                #expect(output.contains("api.beta.test -> beta.test 200"))
            }
        }

        /// HUP loads the new certificate in new workers while a connection opened before it keeps
        /// its old worker and certificate until its response is complete.
        @Test func hupSwitchesTheCertificateWithoutDroppingConnections() throws {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            try directory.copy(pki.path("alpha.crt"), to: "server.crt")
            try directory.copy(pki.path("alpha.key"), to: "server.key")
            let arguments = ["--certfile", directory.file("server.crt"), "--keyfile", directory.file("server.key"), "-w", "2", "fixtures:tls_info"]
            try withServer(arguments) { server in
                // The new files are in place; the running workers loaded the old ones at boot.
                try directory.copy(pki.path("alpha-renewed.crt"), to: "server.crt")
                try directory.copy(pki.path("alpha-renewed.key"), to: "server.key")
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    old = connect(context())
                    print("before", peer_cn(old))
                    size = 16 << 20
                    old.sendall(b"GET /big?bytes=%d HTTP/1.1\r\nHost: alpha.test\r\n\r\n" % size)
                    reader = Reader(old)
                    status = reader.file.readline()
                    os.kill(int(sys.argv[3]), signal.SIGHUP)
                    deadline = time.monotonic() + 60
                    while time.monotonic() < deadline:
                        fresh = connect(context())
                        name = peer_cn(fresh)
                        fresh.close()
                        if name != "alpha.test":
                            break
                        time.sleep(0.1)
                    print("after", name)
                    headers = {}
                    while True:
                        line = reader.file.readline().strip()
                        if not line:
                            break
                        key, _, value = line.decode().partition(":")
                        headers[key.lower()] = value.strip()
                    body = reader.file.read(int(headers["content-length"]))
                    print("old connection", status.split()[1].decode(), len(body) == size and body == bytes((i * 31 + 7) % 256 for i in range(size)))
                    """#, arguments: [String(server.pid)])
                #expect(output.contains("before alpha.test\n"))
                #expect(output.contains("after alpha.test renewed"))
                #expect(output.contains("old connection 200 True"))
                try server.waitForLog("Reload complete: generation 1")
            }
        }

        @Test func aBrokenNewKeyRollsTheReloadBack() throws {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            try directory.copy(pki.path("alpha.crt"), to: "server.crt")
            try directory.copy(pki.path("alpha.key"), to: "server.key")
            let arguments = ["--certfile", directory.file("server.crt"), "--keyfile", directory.file("server.key"), "fixtures:tls_info"]
            try withServer(arguments) { server in
                // A renewed certificate deployed with the wrong key.
                try directory.copy(pki.path("alpha-renewed.crt"), to: "server.crt")
                try directory.copy(pki.path("beta.key"), to: "server.key")
                server.signal(SIGHUP)
                let log = try server.waitForLog("Reload failed:")
                #expect(log.contains("does not match certfile"))
                #expect(log.contains("keeping the current configuration"))
                #expect(!server.hasExited)
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    sock = connect(context())
                    print(peer_cn(sock), request(sock)[0])
                    """#)
                #expect(output.contains("alpha.test 200"))
            }
        }

        /// A worker started after the files on disk went bad (a renewal half written, a key a
        /// reload refused) serves with what the master read and checked: restarting a worker never
        /// depends on the disk.
        @Test func aWorkerStartedLaterServesWhatTheMasterChecked() throws {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            try directory.copy(pki.path("alpha.crt"), to: "server.crt")
            try directory.copy(pki.path("alpha.key"), to: "server.key")
            try directory.copy(pki.path("ca.crt"), to: "ca.crt")
            let arguments = ["--certfile", directory.file("server.crt"), "--keyfile", directory.file("server.key"),
                             "--ca-certs", directory.file("ca.crt"), "--cert-reqs", "optional", "-w", "1", "fixtures:tls_info"]
            try withServer(arguments) { server in
                try directory.write("server.crt", "garbage\n")
                try directory.copy(pki.path("beta.key"), to: "server.key")
                unlink(directory.file("ca.crt"))
                // A reload refuses the broken files; then the only worker dies.
                server.signal(SIGHUP)
                try server.waitForLog("Reload failed:")
                let first = try #require(server.workerPids.first)
                kill(first, SIGKILL)
                try server.waitForLog("Booting worker with pid", count: 2)
                try waitUntil(timeout: 30) { server.workerPids.count == 1 && server.workerPids.first != first }
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    sock = connect(context())
                    print(peer_cn(sock), request(sock)[0])
                    """#)
                #expect(output.contains("alpha.test 200"))
                #expect(!server.hasExited)
                #expect(!server.log.contains("Worker cannot serve TLS"))
            }
        }

        /// RFC 7301 §3.2: a client offering only protocols the server does not speak (`h2` alone)
        /// gets the fatal no_application_protocol alert; one that also offers http/1.1 gets it.
        @Test func alpnWithoutACommonProtocolIsRefused() throws {
            try withServer(tlsArguments) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    only_h2 = context()
                    only_h2.set_alpn_protocols(["h2"])
                    try:
                        connect(only_h2)
                        print("h2 only: connected")
                    except ssl.SSLError as error:
                        print("h2 only:", str(error).lower().replace("_", " "))
                    both = context()
                    both.set_alpn_protocols(["h2", "http/1.1"])
                    sock = connect(both)
                    print("both:", sock.selected_alpn_protocol(), request(sock)[0])
                    """#)
                #expect(output.contains("h2 only: ") && output.contains("no application protocol"), "\(output)")
                #expect(output.contains("both: http/1.1 200"))
                #expect(!server.hasExited)
            }
        }

        @Test func sessionsResumeOnAnotherWorker() throws {
            try withServer(tlsArguments + ["-w", "2", "-k", "async"]) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    ctx = context()
                    first = connect(ctx)
                    origin = field(request(first)[2], "pid")
                    session = first.session
                    first.close()
                    for attempt in range(40):
                        sock = connect(ctx, session=session)
                        pid = field(request(sock)[2], "pid")
                        reused = sock.session_reused
                        sock.close()
                        if pid != origin:
                            print("other worker", "resumed" if reused else "full handshake")
                            break
                    else:
                        print("never reached another worker")
                    """#)
                #expect(output.contains("other worker resumed"))
            }
        }

        /// The master rotates the ticket keys in every worker: a ticket issued before a rotation
        /// still resumes after it, and no longer after the next one. The client follows the
        /// rotations in the error log, which the worker writes as it applies each one.
        @Test func ticketKeysRotateInTheWorkers() throws {
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let log = directory.file("error.log")
            let server = try ServerProcess(tlsArguments + [
                "--tls-ticket-key-rotation", "2", "--log-level", "debug", "--error-logfile", log,
            ])
            defer { server.stop() }
            try waitUntil(timeout: 60) { ((try? Files.readString(log)) ?? "").contains("Ready:") }
            let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                LOG = sys.argv[3]
                def rotations():
                    with open(LOG) as f:
                        return f.read().count("Session-ticket keys rotated")
                def wait_for_rotation(after):
                    deadline = time.monotonic() + 30
                    while rotations() <= after and time.monotonic() < deadline:
                        time.sleep(0.02)
                    return rotations()
                ctx = context()
                # Right after a rotation, so that the next one is a whole period away.
                seen = wait_for_rotation(rotations())
                first = connect(ctx)
                request(first)
                ticket = first.session
                first.close()
                seen = wait_for_rotation(seen)
                again = connect(ctx, session=ticket)
                request(again)
                print("after one rotation", "resumed" if again.session_reused else "full")
                again.close()
                wait_for_rotation(seen)
                late = connect(ctx, session=ticket)
                request(late)
                print("after two rotations", "resumed" if late.session_reused else "full")
                """#, arguments: [log])
            #expect(output.contains("after one rotation resumed"))
            #expect(output.contains("after two rotations full"))
        }

        /// 300 clients that open a connection and never finish a handshake (silent, a partial
        /// ClientHello, garbage) take no request thread: a real request is answered meanwhile, and
        /// the handshake timeout closes them.
        @Test func slowAndGarbageHandshakesDoNotHoldUpRequests() throws {
            let arguments = tlsArguments + ["-k", "sync", "--threads", "1", "--tls-handshake-timeout", "3"]
            try withServer(arguments) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    idle = []
                    for i in range(300):
                        sock = socket.create_connection(("127.0.0.1", PORT), timeout=30)
                        if i % 3 == 1:
                            sock.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello cut short
                        elif i % 3 == 2:
                            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # not TLS at all
                        idle.append(sock)
                    real = connect(context(), timeout=30)
                    status, _, body = request(real)
                    print("real request", status, field(body, "scheme"))
                    closed = 0
                    deadline = time.monotonic() + 60
                    for sock in idle:
                        sock.settimeout(max(0.1, deadline - time.monotonic()))
                        try:
                            while sock.recv(4096):
                                pass
                            closed += 1
                        except socket.timeout:
                            pass
                        except OSError:
                            closed += 1
                    print("closed", closed)
                    """#, timeout: 120)
                #expect(output.contains("real request 200 https"))
                #expect(output.contains("closed 300"))
                // Each cut-short handshake is one info line with its peer and reason; the silent
                // connections (port probes) get none.
                try server.waitForLog("handshake not completed within the handshake timeout", count: 100)
                #expect(server.log.occurrences(of: "handshake not completed within the handshake timeout") == 100)
            }
        }

        /// A client that speaks plain HTTP to a TLS port gets a 400 in plain text that says so, in
        /// both worker classes, and the server goes on serving TLS.
        @Test(arguments: ["sync", "async"])
        func plainHTTPOnATLSPortIsAnswered400(workerClass: String) throws {
            try withServer(tlsArguments + ["-k", workerClass]) { server in
                let output = try TLSClient(certificates: pki, port: server.port).run(#"""
                    sock = socket.create_connection(("127.0.0.1", PORT), timeout=30)
                    sock.sendall(b"GET /info HTTP/1.1\r\nHost: alpha.test\r\n\r\n")
                    answer = b""
                    while True:
                        chunk = sock.recv(4096)
                        if not chunk:
                            break
                        answer += chunk
                    print("plain:", answer.split(b"\r\n")[0].decode(), "says https" if b"speaks HTTPS" in answer else "no reason")
                    status, _, body = request(connect(context(), timeout=30))
                    print("then tls", status, field(body, "scheme"))
                    """#, timeout: 60)
                #expect(output.contains("plain: HTTP/1.1 400 Bad Request says https"))
                #expect(output.contains("then tls 200 https"))
                #expect(server.log.contains("Plain HTTP request from 127.0.0.1"))
            }
        }

        /// Under socket activation `--insecure-bind fd://N` names the systemd socket that stays
        /// plain; the others speak TLS (and answer plain HTTP with 400).
        @Test(.enabled(if: Requirement.commands("systemd-socket-activate"), "needs systemd-socket-activate (Debian: systemd)"))
        func insecureBindNamesASystemdSocket() throws {
            let dir = try TemporaryDirectory()
            defer { dir.remove() }
            let secure = dir.file("https.sock")
            let plain = dir.file("health.sock")
            let server = try ServerProcess(
                tlsArguments + ["--insecure-bind", "fd://4"],
                launcher: ["/usr/bin/systemd-socket-activate", "-l", secure, "-l", plain])
            defer { server.stop() }
            try waitUntil { Files.exists(plain) }
            let health = try HTTPConnection(unixPath: plain, timeout: 60).request("GET", "/info")
            try server.waitUntilReady()
            #expect(health.status == 200)
            #expect(health.text.contains("scheme=http\n"))
            let refused = try HTTPConnection(unixPath: secure, timeout: 30).request("GET", "/info")
            #expect(refused.status == 400)
            #expect(refused.text.contains("speaks HTTPS"))
        }

        @Test func aBadKeyStopsTheStartWithExitOne() throws {
            let server = try ServerProcess(["--certfile", pki.path("alpha.crt"), "--keyfile", pki.path("beta.key"), "fixtures:tls_info"])
            defer { server.stop() }
            #expect(server.waitForExit() == 1)
            #expect(server.log.contains("TLS: keyfile \(pki.path("beta.key")) does not match certfile \(pki.path("alpha.crt"))"))
        }

        @Test func aMissingOpenSSLNamesTheLibraryAndThePackage() throws {
            let server = try ServerProcess(tlsArguments, environment: ["ARBITER_TLS_LIBSSL_NAME": "libssl.so.99"])
            defer { server.stop() }
            #expect(server.waitForExit() == 1)
            #expect(server.log.contains("cannot load libssl.so.99"))
            #expect(server.log.contains("install the package libssl3"))
        }
    }
}
