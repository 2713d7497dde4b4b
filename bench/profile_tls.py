"""Counts the instructions TLS costs, with callgrind: per keep-alive request over TLS and per full
handshake (with one request), for one arbiter worker and for one nginx process with the same
certificate and cipher, split into what OpenSSL ran (libssl, libcrypto) and what the server ran
around it (its own code, the C library, the Swift runtime).

    python3 bench/profile_tls.py [async|sync] [REQUESTS] [HANDSHAKES] [--no-nginx]
    (after `swift build -c release`; needs valgrind, nginx and the openssl command)

For each server it prints a plain keep-alive request, a TLS one, their difference ("TLS adds"),
and a full handshake. Each measurement runs the server twice (N/2 and N operations) and prints the
difference per operation, so start-up and shutdown cancel out. Instructions are counted in user
space only: what the kernel does for a system call is not in them (count those with strace -c),
and the call graphs are in .build/profile/callgrind.* for `callgrind_annotate`. The client is
Python's ssl module with TLS 1.3, TLS_AES_128_GCM_SHA256, a P-256 ECDSA certificate and X25519,
without session resumption (every handshake is full); it runs outside valgrind.
"""
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from profile_worker import REQUEST, WORK, Worker, prepare, self_cost_by_object  # noqa: E402
from tls import CIPHER12, NGINX_CONF, SUITE, certificate  # noqa: E402

CERT = os.path.join(WORK, "server.crt")
KEY = os.path.join(WORK, "server.key")
CLOSE_REQUEST = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
NGINX_PORT = 18744


def client_context():
    context = ssl.create_default_context(cafile=CERT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.set_alpn_protocols(["http/1.1"])
    return context


def read_response(conn, until_close=False):
    data = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return data
        data += chunk
        if not until_close and data.endswith(b"Hello, World!"):
            return data


def keepalive(port, count, tls=True):
    """`count` requests on one connection (after the handshake)."""
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with (client_context().wrap_socket(raw, server_hostname="localhost") if tls else raw) as conn:
            for _ in range(count):
                conn.sendall(REQUEST)
                if not read_response(conn).endswith(b"Hello, World!"):
                    sys.exit("bad response")


def plain_keepalive(port, count):
    keepalive(port, count, tls=False)


def handshakes(port, count):
    """`count` new connections, each a full handshake and one request the server closes after."""
    context = client_context()
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as raw:
            with context.wrap_socket(raw, server_hostname="localhost") as conn:
                conn.sendall(CLOSE_REQUEST)
                if not read_response(conn, until_close=True).endswith(b"Hello, World!"):
                    sys.exit("bad response")


def arbiter_run(worker, load, count):
    if load is plain_keepalive:
        w = Worker(worker)
    else:
        settings = f"certfile = {CERT}\nkeyfile = {KEY}\nciphers = {CIPHER12}:{SUITE}\n"
        keys = os.urandom(80).hex().encode()
        w = Worker(worker, settings=settings, control_lines=[b"ticket-keys " + keys + b"\n"])
    load(w.port, count)
    total, path = w.stop()
    return total, self_cost_by_object(path)


def nginx_run(load, count):
    conf = os.path.join(WORK, "nginx.conf")
    with open(conf, "w") as f:
        # One nginx process (no master), under callgrind like the worker.
        text = NGINX_CONF.format(processes="worker_processes 1;\nmaster_process off;", connections=1024, listen="",
                                 dir=WORK, port=NGINX_PORT, cert=CERT, key=KEY, suite=SUITE, cipher12=CIPHER12)
        f.write(text.replace(" ssl;", ";") if load is plain_keepalive else text)
    out = os.path.join(WORK, "callgrind.nginx.%p")
    process = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                "/usr/sbin/nginx", "-c", conf, "-p", WORK],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", NGINX_PORT), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline or process.poll() is not None:
                process.kill()
                sys.exit("nginx did not start: " + process.communicate()[1].decode()[-2000:])
            time.sleep(0.2)
    # The readiness probe cost a connection without a handshake in both runs: it cancels out.
    load(NGINX_PORT, count)
    # Graceful stop (the client has closed its connections). Under valgrind a signal that arrives
    # while nginx runs its own code may never be delivered: send it again until nginx exits.
    for _ in range(100):
        process.send_signal(signal.SIGQUIT)
        try:
            _, err = process.communicate(timeout=3)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        process.kill()
        sys.exit("nginx did not stop")
    total = None
    for line in err.decode().splitlines():
        if "Collected :" in line:
            total = int(line.split(":")[1].strip())
    return total, self_cost_by_object(os.path.join(WORK, f"callgrind.nginx.{process.pid}"))


def group(objects):
    """OpenSSL's objects, and everything else the server ran."""
    openssl = sum(v for k, v in objects.items() if k.startswith(("libssl", "libcrypto")))
    return openssl, sum(objects.values()) - openssl


def per_operation(run, load, count):
    half_total, half_objects = run(load, count // 2)
    full_total, full_objects = run(load, count)
    n = count - count // 2
    names = set(half_objects) | set(full_objects)
    difference = {k: (full_objects.get(k, 0) - half_objects.get(k, 0)) / n for k in names}
    return (full_total - half_total) / n, difference


def report(name, what, total, objects):
    openssl, rest = group(objects)
    top = sorted(((v, k) for k, v in objects.items() if abs(v) >= 50), reverse=True)
    detail = ", ".join(f"{k} {v:,.0f}" for v, k in top[:5])
    print(f"  {name:17} {what:27} {total:>11,.0f}  OpenSSL {openssl:>10,.0f}  rest {rest:>9,.0f}   ({detail})",
          flush=True)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    worker = args[0] if args else "async"
    requests = int(args[1]) if len(args) > 1 else 4000
    count = int(args[2]) if len(args) > 2 else 200
    prepare()
    certificate(KEY, CERT)
    print(f"instructions per operation (callgrind, user space), {SUITE} on P-256 with X25519, TLS 1.3")
    servers = [(f"arbiter -k {worker}", lambda l, c: arbiter_run(worker, l, c))]
    if "--no-nginx" not in sys.argv:
        servers.append(("nginx", nginx_run))
    for name, run in servers:
        plain, _ = per_operation(run, plain_keepalive, requests)
        print(f"  {name:17} {'plain keep-alive request':27} {plain:>11,.0f}", flush=True)
        total, objects = per_operation(run, keepalive, requests)
        report(name, "TLS keep-alive request", total, objects)
        print(f"  {name:17} {'  TLS adds':27} {total - plain:>11,.0f}", flush=True)
        total, objects = per_operation(run, handshakes, count)
        report(name, "full handshake + 1 request", total, objects)


if __name__ == "__main__":
    main()
