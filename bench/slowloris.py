"""Slow clients: 300 connections trickle their request heads (a byte every 0.5 s) while wrk measures
real requests. Prints p99 latency with and without the tricklers, for each worker class.

With `--tls` the server speaks TLS (the certificate bench/tls.py makes) and the 300 clients never
finish a handshake: a third send nothing, a third trickle a ClientHello a byte every 0.5 s, a
third send bytes that are not TLS; wrk measures real requests over https.

Target: p99 under 100 ms with the tricklers connected. Usage: python3 bench/slowloris.py [--tls]
(after `swift build -c release`; bench/run.sh installs wrk)."""
import os
import re
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARBITER = os.path.join(ROOT, ".build", "release", "arbiter")
PORT = 18760
TRICKLERS = 300
TLS = "--tls" in sys.argv
# The start of a TLS 1.2/1.3 ClientHello record (its length says 512 bytes follow): trickled, it
# never completes.
CLIENT_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200


def wait_ready(process, log):
    deadline = time.time() + 60
    while time.time() < deadline:
        with open(log) as f:
            if "Ready:" in f.read():
                return
        if process.poll() is not None:
            raise RuntimeError("arbiter exited")
        time.sleep(0.05)
    raise RuntimeError("arbiter did not become ready")


def trickle(stop, sockets):
    if TLS:
        # Silent, a ClientHello a byte at a time, and not TLS at all, a third each.
        plans = [(s, b"" if i % 3 == 0 else CLIENT_HELLO if i % 3 == 1 else b"GET / HTTP/1.1\r\n" + b"x" * 200)
                 for i, s in enumerate(sockets)]
    else:
        plans = [(s, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"x" * 200) for s in sockets]
    position = 0
    while not stop.is_set() and any(position < len(head) for _, head in plans):
        for plan in list(plans):
            s, head = plan
            if position >= len(head):
                continue
            try:
                s.send(head[position:position + 1])
            except OSError:
                plans.remove(plan)
        position += 1
        stop.wait(0.5)


def p99(connections=16, seconds=5):
    scheme = "https" if TLS else "http"
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", f"{scheme}://127.0.0.1:{PORT}/"],
                         capture_output=True, text=True).stdout
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    value = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    return value, rps, errors.group(1) if errors else "none"


def main():
    tls_arguments = []
    if TLS:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import tls  # bench/tls.py: its certificate
        tls.certificate()
        # Handshakes left unfinished are closed after 60 s, beyond the measurement.
        tls_arguments = ["--certfile", tls.CERT, "--keyfile", tls.KEY, "--tls-handshake-timeout", "60"]
        print(f"{TRICKLERS} clients that never finish a TLS handshake; wrk -c16 measures real requests over https")
    else:
        print(f"{TRICKLERS} clients trickling request heads; wrk -c16 measures real requests")
    print("| worker | p99 without | p99 with tricklers | req/s with | wrk socket errors |")
    print("| --- | --- | --- | --- | --- |")
    for worker in ("sync", "async"):
        log = f"/tmp/arbiter-slowloris-{worker}.log"
        with open(log, "w") as out:
            server = subprocess.Popen([ARBITER, "hello:application", "-k", worker, "-w", "2", "--threads", "8",
                                       "--chdir", os.path.join(ROOT, ".build", "release"), "-b", f"127.0.0.1:{PORT}",
                                       "--header-timeout", "60", *tls_arguments], stdout=out, stderr=out)
        try:
            wait_ready(server, log)
            baseline, _, _ = p99()
            sockets = [socket.create_connection(("127.0.0.1", PORT)) for _ in range(TRICKLERS)]
            stop = threading.Event()
            thread = threading.Thread(target=trickle, args=(stop, sockets), daemon=True)
            thread.start()
            time.sleep(1)
            loaded, rps, errors = p99()
            stop.set()
            for s in sockets:
                s.close()
            print(f"| {worker} | {baseline:.2f} ms | {loaded:.2f} ms | {rps:.0f} | {errors} |", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
