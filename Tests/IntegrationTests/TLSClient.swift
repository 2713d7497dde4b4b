import Glibc
import TestSupport

/// Runs a Python client (its `ssl` module: sessions, SNI, client certificates, raw sockets) against
/// a server, with helpers every TLS test shares. The script prints what the test checks.
struct TLSClient {
    let certificates: Certificates
    let port: UInt16

    /// Helpers in front of every script: `PORT`, `CA`, `PKI` (the certificate directory),
    /// `context()`, `connect()`, `request()`, `peer_cn()`.
    static let prelude = #"""
        import os, signal, socket, ssl, sys, time
        PORT = int(sys.argv[1]); PKI = sys.argv[2]; CA = PKI + "/ca.crt"

        def context(cert=None, ca=CA):
            c = ssl.create_default_context(cafile=ca)
            c.set_alpn_protocols(["http/1.1"])
            if cert:
                c.load_cert_chain(PKI + "/" + cert + ".crt", PKI + "/" + cert + ".key")
            return c

        def connect(ctx, name="alpha.test", session=None, timeout=30, strict_close=False):
            """strict_close: an end of stream without close_notify raises SSLEOFError."""
            raw = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
            return ctx.wrap_socket(raw, server_hostname=name, session=session, suppress_ragged_eofs=not strict_close)

        class Reader:
            def __init__(self, sock):
                self.file = sock.makefile("rb")
            def response(self):
                status = self.file.readline()
                if not status:
                    raise EOFError("connection closed before a response")
                headers = {}
                while True:
                    line = self.file.readline().strip()
                    if not line:
                        break
                    name, _, value = line.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = self.file.read(int(headers.get("content-length", "0")))
                return int(status.split()[1]), headers, body

        def request(sock, path="/info", method="GET", body=b""):
            head = "%s %s HTTP/1.1\r\nHost: alpha.test\r\nContent-Length: %d\r\n\r\n" % (method, path, len(body))
            sock.sendall(head.encode() + body)
            return Reader(sock).response()

        def field(body, name):
            for line in body.decode().splitlines():
                if line.startswith(name + "="):
                    return line[len(name) + 1:]
            return None

        def peer_cn(sock):
            return dict(item[0] for item in sock.getpeercert()["subject"])["commonName"]

        """#

    /// Runs `script` after the prelude (`arguments` follow `PORT` and `PKI` in `sys.argv`); its
    /// output, or a failure with the output when it exits non-zero.
    func run(_ script: String, arguments: [String] = [], timeout: Double = 60) throws -> String {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try directory.write("client.py", Self.prelude + script)
        let process = try ChildProcess(["/usr/bin/env", "python3", directory.file("client.py"), String(port), certificates.directory] + arguments)
        let code = process.wait(timeout: timeout)
        guard code == 0 else {
            throw TestFailure("the Python TLS client exited with \(code.map(String.init) ?? "a timeout"):\n\(process.output)")
        }
        return process.output
    }
}

/// `curl` over TLS, trusting the test CA and resolving the test names to the server.
func curl(_ certificates: Certificates, port: UInt16, _ arguments: [String], name: String = "alpha.test") throws -> String {
    let process = try ChildProcess(
        ["/usr/bin/curl", "-sS", "--max-time", "60", "--cacert", certificates.path("ca.crt"),
         "--resolve", "\(name):\(port):127.0.0.1"] + arguments)
    let code = process.wait(timeout: 90)
    guard code == 0 else { throw TestFailure("curl \(arguments) exited with \(code.map(String.init) ?? "a timeout"):\n\(process.output)") }
    return process.output
}
