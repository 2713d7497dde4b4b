"""TLS: arbiter against nginx with the same certificate, protocol and cipher in the same run.

Measures hello-world throughput on keep-alive TLS connections (wrk), new full handshakes per second
(`openssl s_time -new`, one client process per server worker), and the memory one idle TLS
connection costs an arbiter worker. Prints a table with ratios. Usage (see bench/tls.sh):
    python3 bench/tls.py [--duration SECONDS] [--rounds N] [--build DIR] [--connections N]
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import ROOT, children, cpu_seconds, memory_kib  # noqa: E402


def option(name, default):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


DURATION = int(option("--duration", "10"))
ROUNDS = int(option("--rounds", "3"))
BUILD = option("--build", os.path.join(ROOT, ".build", "release"))
IDLE = int(option("--connections", "1000"))
PORT = 18743
WORK = os.path.join(ROOT, ".build", "bench-tls")
CERT = os.path.join(WORK, "server.crt")
KEY = os.path.join(WORK, "server.key")
# One protocol and cipher for both servers: TLS 1.3 with AES-128-GCM and a P-256 ECDSA certificate
# (TLS 1.2 clients would get ECDHE-ECDSA-AES128-GCM-SHA256 from both).
SUITE = "TLS_AES_128_GCM_SHA256"
CIPHER12 = "ECDHE-ECDSA-AES128-GCM-SHA256"

# nginx with the same certificate and cipher; `processes` and `listen` differ between the throughput
# run (2 workers) and bench/profile_tls.py (one process under callgrind).
NGINX_CONF = """{processes}
daemon off;
error_log stderr error;
pid {dir}/nginx.pid;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {dir};
    proxy_temp_path {dir};
    fastcgi_temp_path {dir};
    uwsgi_temp_path {dir};
    scgi_temp_path {dir};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {cipher12};
    ssl_conf_command Ciphersuites {suite};
    ssl_session_cache off;
    server {{
        listen 127.0.0.1:{port} ssl{listen};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{ default_type text/plain; return 200 "Hello, World!"; }}
    }}
}}
"""


def certificate(key=KEY, cert=CERT):
    """A P-256 ECDSA certificate for localhost, made once."""
    os.makedirs(os.path.dirname(key), exist_ok=True)
    if not os.path.exists(key):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)


def nginx():
    conf = os.path.join(WORK, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(processes="worker_processes 2;", connections=20000, listen=" backlog=16384",
                                  dir=WORK, port=PORT, cert=CERT, key=KEY, suite=SUITE, cipher12=CIPHER12))
    return ["/usr/sbin/nginx", "-c", conf, "-p", WORK]


def arbiter(worker="async", workers=2, app="hello:application"):
    return [os.path.join(BUILD, "arbiter"), app, "-k", worker, "-w", str(workers), "--chdir", BUILD,
            "-b", f"127.0.0.1:{PORT}", "--log-level", "warning", "--certfile", CERT, "--keyfile", KEY,
            "--ciphers", f"{CIPHER12}:{SUITE}", "--worker-connections", "20000"]


def client_context():
    context = ssl.create_default_context(cafile=CERT)
    context.set_alpn_protocols(["http/1.1"])
    return context


class Server(bench.Server):
    """bench.Server, ready when it answers over TLS."""

    def __init__(self, command):
        super().__init__(command, workers=0)

    def ready(self):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1) as raw:
                with client_context().wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    return s.recv(64).startswith(b"HTTP/1.1 200")
        except (OSError, ssl.SSLError):
            return False

    def pids(self):
        return [self.process.pid] + children(self.process.pid)


def keepalive(server):
    """wrk on 64 keep-alive TLS connections; requests per second and CPU µs per request."""
    subprocess.run(["wrk", "-t2", "-c64", "-d1s", f"https://127.0.0.1:{PORT}/"], capture_output=True)  # warm-up
    _, before = cpu_seconds(server.pids())
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{DURATION}s", "--timeout", "10s", f"https://127.0.0.1:{PORT}/"],
                         capture_output=True, text=True).stdout
    _, after = cpu_seconds(server.pids())
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {"rps": rps, "cpu_us": (after - before) * 1e6 / max(requests, 1),
            "errors": sum(int(x) for x in errors.groups()) if errors else 0}


def handshakes():
    """Full handshakes (and one request each) per second: two `openssl s_time -new` clients at once."""
    command = ["openssl", "s_time", "-connect", f"127.0.0.1:{PORT}", "-new", "-time", str(DURATION), "-www", "/",
               "-CAfile", CERT]
    clients = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    total = 0.0
    for client in clients:
        out = client.communicate(timeout=DURATION + 60)[0]
        match = re.search(r"(\d+) connections in (\d+) real seconds", out)
        if not match:
            raise RuntimeError(f"openssl s_time: {out}")
        total += int(match.group(1)) / max(int(match.group(2)), 1)
    return total


def idle_memory(worker):
    """KiB of proportional memory (PSS) one idle TLS connection adds to an arbiter worker, after a
    handshake and one request on it."""
    server = Server(arbiter(worker, 1))
    try:
        pid = children(server.process.pid)[0]
        time.sleep(0.5)
        before = memory_kib(pid, "Pss", "smaps_rollup")
        context = client_context()
        held = []
        for _ in range(IDLE):
            s = context.wrap_socket(socket.create_connection(("127.0.0.1", PORT), timeout=30), server_hostname="localhost")
            s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            s.recv(4096)
            held.append(s)
        time.sleep(1)
        after = memory_kib(pid, "Pss", "smaps_rollup")
        for s in held:
            s.close()
        return (after - before) / IDLE
    finally:
        server.stop()


def measure(name, command):
    server = Server(command)
    try:
        result = keepalive(server)
        result["handshakes"] = handshakes()
    finally:
        server.stop()
    print(f"  {name:8} keep-alive {result['rps']:>9.0f} req/s  CPU/req {result['cpu_us']:>6.1f} µs  errors {result['errors']}  "
          f"new handshakes {result['handshakes']:>7.0f}/s", flush=True)
    return result


def main():
    certificate()
    print(f"TLS hello world, 2 workers each, {SUITE} on P-256, {DURATION} s per measurement, {ROUNDS} round(s) of "
          "nginx then arbiter")
    # Rounds alternate the two servers, and the table takes the median of the rounds' ratios: on a
    # shared VM a slow spell hits one measurement, not every one of a server's.
    keepalive_ratios, handshake_ratios, rounds = [], [], []
    for _ in range(ROUNDS):
        n, a = measure("nginx", nginx()), measure("arbiter", arbiter())
        rounds.append((a, n))
        keepalive_ratios.append(a["rps"] / n["rps"])
        handshake_ratios.append(a["handshakes"] / n["handshakes"])
    memory = {worker: idle_memory(worker) for worker in ("async", "sync")}

    def median(values):
        ordered = sorted(values)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2

    def each(values):
        return ", ".join(f"{v:.2f}" for v in values)

    a_rps, n_rps = median([a["rps"] for a, _ in rounds]), median([n["rps"] for _, n in rounds])
    a_hs, n_hs = median([a["handshakes"] for a, _ in rounds]), median([n["handshakes"] for _, n in rounds])
    print()
    print("| measure | arbiter (median) | nginx (median) | ratio (median of rounds) | each round | target |")
    print("|---|---|---|---|---|---|")
    print(f"| keep-alive TLS req/s, -k async -w 2 vs nginx 2 workers | {a_rps:.0f} | {n_rps:.0f} | "
          f"{median(keepalive_ratios):.2f}× | {each(keepalive_ratios)} | ≥ 0.9× |")
    print(f"| new TLS handshakes/s (full, one request each) | {a_hs:.0f} | {n_hs:.0f} | "
          f"{median(handshake_ratios):.2f}× | {each(handshake_ratios)} | ≥ 0.8× |")
    for worker, kib in memory.items():
        print(f"| memory per idle TLS connection, -k {worker} ({IDLE} connections, PSS) | {kib:.1f} KiB | | | | ≤ 64 KiB |")


if __name__ == "__main__":
    main()
