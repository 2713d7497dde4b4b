"""Slow clients: 300 connections trickle their request heads (a byte every 0.5 s) while wrk measures
real requests. Prints p99 latency with and without the tricklers, for each worker class.

Target: p99 under 100 ms with the tricklers connected. Usage: python3 bench/slowloris.py
(after `swift build -c release`; bench/run.sh installs wrk)."""
import os
import re
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARBITER = os.path.join(ROOT, ".build", "release", "arbiter")
PORT = 18760
TRICKLERS = 300


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
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"x" * 200
    position = 0
    while not stop.is_set() and position < len(head):
        for s in list(sockets):
            try:
                s.send(head[position:position + 1])
            except OSError:
                sockets.remove(s)
        position += 1
        stop.wait(0.5)


def p99(connections=16, seconds=5):
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{PORT}/"],
                         capture_output=True, text=True).stdout
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    value = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Socket errors: (.*)", out)
    return value, rps, errors.group(1) if errors else "none"


def main():
    print(f"{TRICKLERS} clients trickling request heads; wrk -c16 measures real requests")
    print("| worker | p99 without | p99 with tricklers | req/s with | wrk socket errors |")
    print("| --- | --- | --- | --- | --- |")
    for worker in ("sync", "async"):
        log = f"/tmp/arbiter-slowloris-{worker}.log"
        with open(log, "w") as out:
            server = subprocess.Popen([ARBITER, "hello:application", "-k", worker, "-w", "2", "--threads", "8",
                                       "--chdir", os.path.join(ROOT, ".build", "release"), "-b", f"127.0.0.1:{PORT}",
                                       "--header-timeout", "60"], stdout=out, stderr=out)
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
