"""Counts instructions per request in one worker with callgrind (instructions, not seconds, so the
count repeats on a busy machine). A master re-executes /proc/self/exe, which under valgrind is the
tool, not arbiter: so this starts a worker on its own, with the descriptors a master would give it.

    python3 bench/profile_worker.py [async|sync] [REQUESTS] [counters] [--connections N]
    (after `swift build -c release`)

With `--connections N` the requests are spread over N connections sending at once (one client
thread each; the sync worker gets 32 request threads), so the count includes what concurrency costs.
With `counters` the worker also gets a counters page, as with `--metrics-bind`: the difference of
the two counts is what counting costs per request.

Runs the worker twice (REQUESTS/2 and REQUESTS keep-alive requests) and prints the difference per
request, so start-up and shutdown cancel out; leaves callgrind.out.PID in .build/profile for
`callgrind_annotate`. valgrind 3.19 cannot read Swift's DWARF 5, so the binary is copied without
debug info (symbols stay).

bench/profile_tls.py uses `Worker` and `self_cost_by_object` to do the same over TLS."""
import fcntl
import os
import re
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")
WORK = os.path.join(ROOT, ".build", "profile")
# A counters page: a 64-byte header and stripes of 704 counters (shared, loop, one request thread).
COUNTERS_SIZE = 64 + 3 * 704 * 8
HEARTBEAT_SIZE = 64 + 4 * 256
# The request wrk sends in bench/run.sh, so that the count covers what the benchmark exercises.
REQUEST = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18700\r\n\r\n"


def prepare():
    """Copies the release binary and the example apps without debug info into WORK."""
    os.makedirs(WORK, exist_ok=True)
    subprocess.run(["objcopy", "--strip-debug", os.path.join(RELEASE, "arbiter"), os.path.join(WORK, "arbiter")], check=True)
    for lib in ("libhello.so", "libhellosync.so"):
        if os.path.exists(os.path.join(RELEASE, lib)):
            subprocess.run(["objcopy", "--strip-debug", os.path.join(RELEASE, lib), os.path.join(WORK, lib)], check=True)


def _high_dup(fd):
    return fcntl.fcntl(fd, fcntl.F_DUPFD, 100)


class Worker:
    """One arbiter worker under callgrind, with a control socket (3), heartbeat page (4),
    scoreboard (5), one listener (6) and optionally a counters page (7), as a master gives them.

    `settings` is added to the worker's settings (config-file form); `control_lines` are written to
    the control socket before the worker is expected to report ready (the TLS ticket keys); `tool`
    replaces the valgrind command line the worker runs under."""

    def __init__(self, worker="async", settings="", counters=False, control_lines=(), tool=None):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        control_worker, self.control = socket.socketpair()
        heartbeat = os.memfd_create("heartbeat")
        os.ftruncate(heartbeat, HEARTBEAT_SIZE)
        scoreboard = os.memfd_create("scoreboard")
        os.ftruncate(scoreboard, 4096)
        app = "hello:application" if worker == "async" else "hellosync:application"
        text = f"app = {app}\nworker_class = {worker}\nthreads = 1\nloglevel = warning\nchdir = {WORK}\n{settings}"
        env = dict(os.environ, ARBITER_WORKER="0", ARBITER_WORKER_SETTINGS=text, ARBITER_WORKER_LISTENERS="1",
                   ARBITER_WORKER_HEARTBEAT=str(HEARTBEAT_SIZE))
        sources = [control_worker.fileno(), heartbeat, scoreboard, self.listener.fileno()]
        if counters:
            page = os.memfd_create("counters")
            os.ftruncate(page, COUNTERS_SIZE)
            sources.append(page)
            env["ARBITER_WORKER_COUNTERS"] = f"7:{COUNTERS_SIZE}"

        def place():
            # Copy each source above the targets first, then onto 3, 4, 5, 6 (7).
            moved = [_high_dup(os.dup(fd)) for fd in sources]
            for target, fd in zip((3, 4, 5, 6, 7), moved):
                os.dup2(fd, target, inheritable=True)

        if tool is None:
            tool = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.path.join(WORK, "callgrind.out.%p")]
        self.process = subprocess.Popen(
            tool + [os.path.join(WORK, "arbiter")], cwd=WORK, env=env, preexec_fn=place, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        control_worker.close()
        for line in control_lines:
            self.control.sendall(line)
        self.control.settimeout(120)
        try:
            ready = self.control.recv(64)
        except TimeoutError:
            ready = b""
        if not ready.startswith(b"ready"):
            self.process.kill()
            sys.exit("worker did not report ready: " + self.process.communicate()[1].decode()[-2000:])

    def stop(self):
        """Stops the worker as if its master were gone; (total instructions, callgrind output file)."""
        self.control.close()
        _, err = self.process.communicate(timeout=300)
        self.listener.close()
        total = None
        for line in err.decode().splitlines():
            if "Collected :" in line:
                total = int(line.split(":")[1].strip())
        return total, os.path.join(WORK, f"callgrind.out.{self.process.pid}")


def self_cost_by_object(path):
    """Instructions executed in each object (executable or shared library) of a callgrind output
    file: self cost only, so a library's count is what its own code ran."""
    totals = {}
    for (obj, _), cost in self_cost_by_function(path).items():
        totals[obj] = totals.get(obj, 0) + cost
    return totals


def self_cost_by_function(path):
    """Self instructions of each (object, function) of a callgrind output file."""
    names = {"ob": {}, "fn": {}}  # callgrind compresses object and function names separately
    totals = {}
    obj = function = None
    skip_next = False

    def resolve(kind, value):
        match = re.match(r"\((\d+)\)(?: (.*))?", value)
        if not match:
            return value
        if match.group(2) is not None:
            names[kind][match.group(1)] = match.group(2)
        return names[kind].get(match.group(1), value)

    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("ob="):
                obj = os.path.basename(resolve("ob", line[3:].strip()))
            elif line.startswith("fn="):
                function = resolve("fn", line[3:].strip())
            elif line.startswith(("cob=", "cfn=")):
                resolve(line[1:3], line[4:].strip())  # defines a name used later
            elif line.startswith("calls="):
                skip_next = True  # the next cost line is the call's inclusive cost
            elif line[:1].isdigit() or line[:1] in "+-*":
                if skip_next:
                    skip_next = False
                    continue
                parts = line.split()
                if len(parts) >= 2 and obj is not None:
                    key = (obj, function)
                    totals[key] = totals.get(key, 0) + int(parts[1])
    return totals


def main():
    worker = sys.argv[1] if len(sys.argv) > 1 else "async"
    requests = int(sys.argv[2]) if len(sys.argv) > 2 and sys.argv[2].isdigit() else 10000
    counters = "counters" in sys.argv[3:]
    connections = int(sys.argv[sys.argv.index("--connections") + 1]) if "--connections" in sys.argv else 1
    prepare()

    def client(port, count):
        conn = socket.create_connection(("127.0.0.1", port))
        for _ in range(count):
            conn.sendall(REQUEST)
            data = b""
            while not data.endswith(b"Hello, World!"):
                data += conn.recv(4096)
        conn.close()

    def run(count):
        w = Worker(worker, settings="threads = 32\n" if connections > 1 else "", counters=counters)
        threads = [threading.Thread(target=client, args=(w.port, count // connections)) for _ in range(connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return w.stop()[0], count // connections * connections

    (half, n_half), (full, n_full) = run(requests // 2), run(requests)
    label = f"{worker}{' with counters' if counters else ''}{f', {connections} connections' if connections > 1 else ''}"
    print(f"{label}: {(full - half) / (n_full - n_half):.0f} instructions per request "
          f"(whole worker, callgrind; {half} and {full} instructions for {n_half} and {n_full} requests)")


if __name__ == "__main__":
    main()
