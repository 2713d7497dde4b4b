"""The WebSocket benchmark: arbiter's async worker against Uvicorn (`--ws websockets`) and Granian
(ASGI), one worker process each, the same echo application (`hello`'s /ws; bench/peers/asgi_app.py),
one server at a time in the same run, on loopback. Run it with bench/websocket.sh.

1. Echo round trips per second: bench/wsload.c keeps CONNECTIONS connections each sending one small
   text message and waiting for its echo, for DURATION seconds after a warm-up, per message size.
2. Memory per idle WebSocket: SOCKETS WebSockets opened in batches, each idle after its handshake and
   one echo (the application parked waiting for the next message); the worker's RSS and PSS before
   and after, per socket.

With taskset and two CPUs, every server process runs on the first CPU and the load (wsload, and this
script, which holds the idle sockets) on the second, so the client never takes the server's CPU.
Every number comes from this run on this machine; ratios are printed next to the targets."""
import argparse
import importlib.metadata
import importlib.util
import os
import platform
import resource
import selectors
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import bench

ROOT = bench.ROOT
VENV = bench.VENV
PEERS = os.path.join(ROOT, "bench", "peers")
WSLOAD = os.path.join(ROOT, ".build", "wsload")
BASE_PORT = 18710
SERVERS = ("arbiter", "uvicorn", "granian")
# RFC 6455 §1.3's sample key and the accept value a conforming server derives from it.
KEY, ACCEPT = b"dGhlIHNhbXBsZSBub25jZQ==", b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
TARGETS = {"uvicorn": 2.0, "granian": 1.0}  # arbiter's echo rate over the peer's, at least
TARGET_BYTES_PER_SOCKET = 8 * 1024  # arbiter's idle WebSocket, at most


def options():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="measured seconds per echo run (default 10)")
    parser.add_argument("--warmup", type=float, default=2, help="uncounted seconds before each echo run (default 2)")
    parser.add_argument("--connections", type=int, default=50, help="concurrent echo connections (default 50)")
    parser.add_argument("--sizes", default="32,4096", help="message sizes in bytes, comma-separated (default 32,4096)")
    parser.add_argument("--rounds", type=int, default=1, help="echo runs per server and size, interleaved; the median counts (default 1)")
    parser.add_argument("--sockets", type=int, default=10000, help="idle WebSockets for the memory measure (default 10000)")
    parser.add_argument("--batch", type=int, default=500, help="handshakes in flight at once while opening them (default 500)")
    parser.add_argument("--servers", default=",".join(SERVERS), help="which servers, comma-separated (default all three)")
    parser.add_argument("--uvicorn-ws", default="websockets", help="Uvicorn's --ws implementation (default websockets)")
    parser.add_argument("--skip-echo", action="store_true", help="only the memory measure")
    parser.add_argument("--skip-memory", action="store_true", help="only the echo measure")
    parser.add_argument("--no-build", action="store_true", help="(read by bench/websocket.sh) use the existing release build")
    return parser.parse_args()


def commands(args):
    """The three servers, one worker process each, sized for the idle-socket measure."""
    capacity = str(max(11000, args.sockets + 1000))
    return {
        "arbiter": lambda port: [bench.ARBITER, "hello:application", "-k", "async", "-w", "1",
                                 "--chdir", os.path.join(ROOT, ".build", "release"), "-b", f"127.0.0.1:{port}",
                                 "--log-level", "warning", "--worker-connections", capacity, "--backlog", "16384"],
        "uvicorn": lambda port: [os.path.join(VENV, "uvicorn"), "asgi_app:app", "--workers", "1", "--ws", args.uvicorn_ws,
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
                                 "--backlog", "16384", "--app-dir", PEERS],
        "granian": lambda port: [os.path.join(VENV, "granian"), "--interface", "asgi", "--workers", "1",
                                 "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
                                 "--backlog", "16384", "--backpressure", capacity, "--working-dir", PEERS, "asgi_app:app"],
    }


LABELS = {"arbiter": "arbiter -k async -w 1", "uvicorn": "uvicorn --workers 1 --ws {ws}",
          "granian": "granian --interface asgi --workers 1"}


class Server(bench.Server):
    """bench.Server on a port of its own, its error output in a file (a pipe nobody reads could fill
    and stall the server), pinned to one CPU when `pin` is given."""

    def __init__(self, name, command, port, pin):
        self.name, self.port = name, port
        self.log = tempfile.TemporaryFile()
        prefix = ["taskset", "-c", str(pin)] if pin is not None else []  # taskset execs: same pid
        self.process = subprocess.Popen(prefix + command, stdout=subprocess.DEVNULL, stderr=self.log, start_new_session=True)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.errors()}")
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{name} did not become ready: {self.errors()}")

    def ready(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def errors(self):
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-2000:]

    def tree(self):
        """The server's processes (master or main process and all its descendants), for CPU time."""
        pids, queue = [], [self.process.pid]
        while queue:
            pid = queue.pop()
            pids.append(pid)
            queue.extend(bench.children(pid))
        return pids

    def worker(self):
        """The one process that serves: arbiter's and Granian's only child, Uvicorn's main process."""
        workers = self.workers()
        if len(workers) != 1:
            raise RuntimeError(f"{self.name}: expected one worker process, found {workers}")
        return workers[0]


# ----- 1. echo round trips -----

def echo_run(server, size, args, load_pin):
    prefix = ["taskset", "-c", str(load_pin)] if load_pin is not None else []
    command = prefix + [WSLOAD, "127.0.0.1", str(server.port), "/ws", str(args.connections), str(size),
                        str(args.warmup), str(args.duration)]
    load = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pids = server.tree()
    cpu_before = wall_before = None
    result = None
    for line in load.stdout:
        if line.startswith("measuring"):
            cpu_before, wall_before = bench.cpu_seconds(pids)[1], time.monotonic()
        elif line.startswith("result"):
            cpu_after, wall_after = bench.cpu_seconds(pids)[1], time.monotonic()
            result = {k: float(v) for k, v in (field.split("=") for field in line.split()[1:])}
            result["server_cpu_us"] = (cpu_after - cpu_before) * 1e6 / max(result["roundtrips"], 1)
            result["server_cpu_pct"] = 100 * (cpu_after - cpu_before) / (wall_after - wall_before)
    stderr = load.stderr.read()
    if load.wait() != 0 or result is None:
        raise RuntimeError(f"wsload against {server.name} failed: {stderr.strip()} {server.errors()}")
    return result


def echo(args, pins):
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = {}  # (server, size) -> [result]
    print(f"echo: {args.connections} connections, each sending a text message and waiting for its echo; "
          f"{args.warmup:g} s warm-up + {args.duration:g} s measured per run, {args.rounds} round(s)", flush=True)
    for round_ in range(args.rounds):
        for index, name in enumerate(args.servers):
            try:
                server = Server(name, commands(args)[name](BASE_PORT + index), BASE_PORT + index, pins[0])
            except RuntimeError as error:
                print(f"  {name}: {error}", flush=True)
                continue
            try:
                for size in sizes:
                    try:
                        r = echo_run(server, size, args, pins[1])
                    except RuntimeError as error:
                        print(f"  {name}: {error}", flush=True)
                        continue
                    runs.setdefault((name, size), []).append(r)
                    print(f"  {label(name, args):44} {size:>6} B {r['rate']:>9.0f} round trips/s  "
                          f"p50 {r['p50_us']:>7.1f} µs  p99 {r['p99_us']:>8.1f} µs  "
                          f"server CPU {r['server_cpu_us']:>5.1f} µs/rt ({r['server_cpu_pct']:>3.0f} %)  "
                          f"load CPU {r['cpu_pct']:>3.0f} %  errors {r['errors']:.0f}", flush=True)
                    if r["cpu_pct"] > 90:
                        print(f"  ! the load generator was busy {r['cpu_pct']:.0f} % of its CPU: this rate may be its limit", flush=True)
            finally:
                server.stop()
    return {key: statistics.median(r["rate"] for r in results) for key, results in runs.items()}, sizes


# ----- 2. memory per idle WebSocket -----

def masked_text(payload, key=b"\x37\xfa\x21\x3d"):
    """A client text frame (RFC 6455 §5.2, masked as §5.3 requires), payload under 126 bytes."""
    return bytes([0x81, 0x80 | len(payload)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def open_idle(port, count, batch, timeout=60):
    """Opens `count` WebSockets, `batch` handshakes at a time, and leaves each idle after one echo.
    Returns the open sockets and the number that failed."""
    payload = b"idle-socket-echo-0123456789abcde"
    frame, echoed = masked_text(payload), bytes([0x81, len(payload)]) + payload
    request = (b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               b"Sec-WebSocket-Key: " + KEY + b"\r\nSec-WebSocket-Version: 13\r\n\r\n") % port
    selector = selectors.DefaultSelector()
    opened, failed = [], 0
    for start in range(0, count, batch):
        pending = {}
        for _ in range(min(batch, count - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            pending[s] = ["connect", b""]
            selector.register(s, selectors.EVENT_WRITE)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for key, _ in selector.select(1):
                s = key.fileobj
                state = pending[s]
                try:
                    if state[0] == "connect":
                        if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                            raise OSError("connect failed")
                        s.send(request)
                        state[0] = "handshake"
                        selector.modify(s, selectors.EVENT_READ)
                        continue
                    data = s.recv(4096)
                    if not data:
                        raise OSError("closed")
                    state[1] += data
                    if state[0] == "handshake" and b"\r\n\r\n" in state[1]:
                        head, _, rest = state[1].partition(b"\r\n\r\n")
                        if not head.startswith(b"HTTP/1.1 101") or ACCEPT not in head:
                            raise OSError("handshake refused")
                        state[:] = ["echo", rest]
                        s.send(frame)
                    if state[0] == "echo" and len(state[1]) >= len(echoed):
                        if not state[1].startswith(echoed):
                            raise OSError("wrong echo")
                        selector.unregister(s)
                        del pending[s]
                        opened.append(s)
                except OSError:
                    selector.unregister(s)
                    del pending[s]
                    s.close()
                    failed += 1
        for s in pending:
            selector.unregister(s)
            s.close()
            failed += 1
    selector.close()
    return opened, failed


def abort(sockets):
    """Closes with a reset (SO_LINGER 0): no TIME_WAIT left to hold ephemeral ports for the next server."""
    linger = struct.pack("ii", 1, 0)
    for s in sockets:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        except OSError:
            pass
        s.close()


def footprint(pid):
    """RSS (counts shared library pages in full) and PSS (shares them out), KiB."""
    return bench.memory_kib(pid, "VmRSS"), bench.rollup_kib(pid, "Pss")


def memory(args, pins):
    results = {}
    print(f"memory per idle WebSocket: {args.sockets} sockets opened {args.batch} at a time, each idle after "
          "its handshake and one 32-byte echo; worker RSS and PSS before and after", flush=True)
    for index, name in enumerate(args.servers):
        port = BASE_PORT + 10 + index
        try:
            server = Server(name, commands(args)[name](port), port, pins[0])
        except RuntimeError as error:
            print(f"  {name}: {error}", flush=True)
            continue
        try:
            pid = server.worker()
            warm, _ = open_idle(port, 1, 1)  # the code paths of a WebSocket are paged in before "before"
            abort(warm)
            time.sleep(1)
            before = footprint(pid)
            started = time.monotonic()
            sockets, failed = open_idle(port, args.sockets, args.batch)
            opening = time.monotonic() - started
            time.sleep(1)  # let the worker finish whatever the last batch started
            after = footprint(pid)
            alive = server.process.poll() is None
            abort(sockets)
            n = len(sockets)
            if n == 0 or not alive:
                print(f"  {label(name, args):44} no idle socket held (failed {failed}, server "
                      f"{'running' if alive else 'exited'}) {server.errors()}", flush=True)
                continue
            rss, pss = ((a - b) * 1024 / n for a, b in zip(after, before))
            results[name] = {"sockets": n, "failed": failed, "rss": rss, "pss": pss}
            print(f"  {label(name, args):44} {n:>6} open ({failed} failed, {opening:.1f} s to open)  "
                  f"RSS {before[0] / 1024:.1f} → {after[0] / 1024:.1f} MiB  PSS {before[1] / 1024:.1f} → {after[1] / 1024:.1f} MiB  "
                  f"per socket: RSS {rss / 1024:.2f} KiB, PSS {pss / 1024:.2f} KiB", flush=True)
        finally:
            server.stop()
    return results


# ----- report -----

def label(name, args):
    return LABELS[name].format(ws=args.uvicorn_ws)


def versions():
    def version(package):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return "absent"
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    # Both peers pick their event loop by default ("auto"): Uvicorn uvloop if installed, Granian rloop, then uvloop.
    uvicorn_loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    granian_loop = "rloop" if importlib.util.find_spec("rloop") else uvicorn_loop
    return (f"arbiter {commit or '?'} (release), uvicorn {version('uvicorn')} ({uvicorn_loop}), granian {version('granian')} "
            f"({granian_loop}), websockets {version('websockets')}, CPython {platform.python_version()}, "
            f"Linux {platform.release()}, {os.cpu_count()} CPUs")


def pinning():
    """(server CPU, load CPU), or (None, None) when taskset or a second CPU is missing."""
    cpus = sorted(os.sched_getaffinity(0))
    if shutil.which("taskset") and len(cpus) >= 2:
        os.sched_setaffinity(0, {cpus[1]})  # this script holds the idle sockets: it is load too
        print(f"pinned with taskset: server processes on CPU {cpus[0]}, load generator on CPU {cpus[1]}")
        return cpus[0], cpus[1]
    print("not pinned (needs taskset and two CPUs): servers and load share the CPUs")
    return None, None


def ratio_rows(rates, sizes, args):
    rows = []
    for size in sizes:
        a = rates.get(("arbiter", size))
        for peer in ("uvicorn", "granian"):
            p = rates.get((peer, size))
            if peer not in args.servers or "arbiter" not in args.servers:
                continue
            ratio = a / p if a and p else None
            verdict = "" if ratio is None else (" met" if ratio >= TARGETS[peer] else " not met")
            rows.append(f"| echo round trips/s, {size} B, {args.connections} connections: arbiter vs {peer} | "
                        f"{a or 0:.0f} | {p or 0:.0f} | {f'{ratio:.2f}×' if ratio else 'n/a'} | ≥ {TARGETS[peer]:.1f}×{verdict} |")
    return rows


def memory_rows(results, args):
    rows = []
    a = results.get("arbiter")
    if a:
        verdict = "met" if a["rss"] <= TARGET_BYTES_PER_SOCKET else "not met"
        rows.append(f"| idle WebSocket, RSS per socket, arbiter ({a['sockets']} sockets) | {a['rss'] / 1024:.2f} KiB | | | ≤ 8 KiB {verdict} |")
        rows.append(f"| idle WebSocket, PSS per socket, arbiter | {a['pss'] / 1024:.2f} KiB | | | |")
    for peer in ("uvicorn", "granian"):
        p = results.get(peer)
        if a and p:
            rows.append(f"| idle WebSocket, RSS per socket, arbiter vs {peer} ({p['sockets']} sockets) | {a['rss'] / 1024:.2f} KiB | "
                        f"{p['rss'] / 1024:.2f} KiB | {a['rss'] / p['rss']:.2f}× | |")
    return rows


def main():
    args = options()
    args.servers = [s for s in args.servers.split(",") if s]
    unknown = set(args.servers) - set(SERVERS)
    if unknown:
        sys.exit(f"unknown server(s): {', '.join(sorted(unknown))}; choose from {', '.join(SERVERS)}")
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if not args.skip_memory and args.sockets + 100 > hard:
        sys.exit(f"{args.sockets} sockets need a file limit above {args.sockets + 100}; `ulimit -n` is {hard}")
    print(versions())
    pins = pinning()
    print(flush=True)
    rates, sizes = echo(args, pins) if not args.skip_echo else ({}, [])
    if not args.skip_echo and not args.skip_memory:
        print(flush=True)
    idle = memory(args, pins) if not args.skip_memory else {}
    rows = ratio_rows(rates, sizes, args) + memory_rows(idle, args)
    if rows:
        print("\n| measure | arbiter | peer | ratio | target |")
        print("| --- | --- | --- | --- | --- |")
        print("\n".join(rows))


if __name__ == "__main__":
    main()
