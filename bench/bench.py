"""Runs arbiter and its peers with the same worker counts and equivalent apps, one at a time, and
prints a table with ratios. Every number comes from this run on this machine (wrk shares the CPU)."""
import os
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "bench", ".venv", "bin")
ARBITER = os.path.join(ROOT, ".build", "release", "arbiter")
QUICK = "--quick" in sys.argv
DURATION = 5 if QUICK else 10
# The hello comparison of arbiter with nginx and uvicorn runs in alternating rounds: on a shared VM
# the speed of the whole machine drifts over minutes, and servers measured next to each other in
# time compare more steadily than servers measured a minute apart. The table gives the median of
# the rounds.
ROUNDS = 1 if QUICK else 5
ROUND_DURATION = 5
PORT = 18700


def arbiter(app, worker, workers, *extra):
    return [ARBITER, app, "-k", worker, "-w", str(workers), "--chdir", os.path.join(ROOT, ".build", "release"),
            "-b", f"127.0.0.1:{PORT}", "--log-level", "warning", *extra]


def sleep_servers(connections):
    """The one-worker servers of the concurrent-sleep case (bench.py and bench/sleepwave.py), with
    room for `connections` connections and a backlog for all of them arriving at once."""
    return {
        "arbiter": arbiter("hello:application", "async", 1, "--worker-connections", str(2 * connections), "--backlog", "16384"),
        "uvicorn": uvicorn(1, "--backlog", "16384"),
    }


def gunicorn(worker, workers, threads=1, *extra):
    return [os.path.join(VENV, "gunicorn"), "wsgi_app:application", "-k", worker, "-w", str(workers),
            "--threads", str(threads), "-b", f"127.0.0.1:{PORT}", "--log-level", "warning",
            "--chdir", os.path.join(ROOT, "bench", "peers"), *extra]


def uvicorn(workers, *extra):
    return [os.path.join(VENV, "uvicorn"), "asgi_app:app", "--workers", str(workers), "--port", str(PORT),
            "--host", "127.0.0.1", "--log-level", "warning", "--no-access-log",
            "--app-dir", os.path.join(ROOT, "bench", "peers"), *extra]


NGINX_CONF = """worker_processes 2;
daemon off;
error_log stderr error;
pid {dir}/nginx.pid;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path {dir};
    proxy_temp_path {dir};
    fastcgi_temp_path {dir};
    uwsgi_temp_path {dir};
    scgi_temp_path {dir};
    server {{
        listen 127.0.0.1:{port} backlog=16384;
        location / {{ default_type text/plain; return 200 "Hello, World!"; }}
    }}
}}
"""


def nginx(workers=2):
    """nginx answering `return 200` with 2 workers: the floor for an HTTP/1.1 server on this machine."""
    directory = os.path.join(ROOT, ".build", "bench-nginx")
    os.makedirs(directory, exist_ok=True)
    conf = os.path.join(directory, "nginx.conf")
    with open(conf, "w") as f:
        f.write(NGINX_CONF.format(dir=directory, port=PORT).replace("worker_processes 2", f"worker_processes {workers}"))
    return ["/usr/sbin/nginx", "-c", conf, "-p", directory]


def cpu_seconds(pids):
    """(user, user + system) seconds of processes, from /proc/PID/stat (fields 14 and 15, counted
    after the closing parenthesis of the name: arbiter's process titles contain spaces)."""
    ticks = os.sysconf("SC_CLK_TCK")
    user = system = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])
            system += int(fields[12])
        except OSError:
            pass
    return user / ticks, (user + system) / ticks


def children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(entry))
            except OSError:
                pass
    return out


def memory_kib(pid, key, source="status"):
    """A `Key: N kB` line of /proc/PID/status (or of another /proc/PID file)."""
    try:
        with open(f"/proc/{pid}/{source}") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Server:
    def __init__(self, command, workers):
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.expected = workers
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited: {self.process.stderr.read().decode()}")
            if self.ready():
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{command} did not become ready")

    def ready(self):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                return s.recv(64).startswith(b"HTTP/1.1 200")
        except OSError:
            return False

    def workers(self):
        kids = children(self.process.pid)
        # uvicorn with one worker serves from its main process.
        return kids if kids else [self.process.pid]

    def stop(self):
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        time.sleep(0.5)


def wrk(connections, path, duration=DURATION, timeout="10s"):
    threads = 2
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", timeout, "--latency",
                          f"http://127.0.0.1:{PORT}{path}"], capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[p99.group(2)] if p99 else 0
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(int(x) for x in errors.groups()) if errors else 0) + (int(non2xx.group(1)) if non2xx else 0)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"rps": rps, "p99_ms": float(p99.group(1)) * scale if p99 else 0, "errors": failed, "requests": requests}


def measure(name, command, workers, connections, path, ideal=None, duration=None):
    server = Server(command, workers)
    try:
        wrk(min(connections, 64), path, duration=2)  # warm-up
        for pid in server.workers():  # peak RSS of this run only
            try:
                with open(f"/proc/{pid}/clear_refs", "w") as f:
                    f.write("5")
            except OSError:
                pass
        pids = [server.process.pid] + server.workers()
        user_before, cpu_before = cpu_seconds(pids)
        result = wrk(connections, path, duration or DURATION)
        user_after, cpu_after = cpu_seconds(pids)
        result["cpu_us"] = (cpu_after - cpu_before) * 1e6 / max(result["requests"], 1)
        result["user_us"] = (user_after - user_before) * 1e6 / max(result["requests"], 1)
        result["peak_rss_mib"] = max(memory_kib(pid, "VmHWM") for pid in server.workers()) / 1024
        result["name"] = name
        if ideal:
            result["ideal_pct"] = 100 * result["rps"] / ideal
        print(f"  {name:40} {result['rps']:>10.0f} req/s  p99 {result['p99_ms']:>8.2f} ms  "
              f"CPU/req {result['cpu_us']:>5.1f} µs (user {result['user_us']:>4.1f})  "
              f"errors {result['errors']:>5}  peak RSS {result['peak_rss_mib']:.1f} MiB", flush=True)
        return result
    finally:
        server.stop()


def rollup_kib(pid, key):
    return memory_kib(pid, key, "smaps_rollup")


def idle_rss(name, command):
    """RSS counts shared library pages in full; PSS shares them out; private is the worker's own."""
    server = Server(command, 1)
    try:
        time.sleep(1)
        pids = server.workers()
        rss = sum(memory_kib(pid, "VmRSS") for pid in pids) / 1024
        pss = sum(rollup_kib(pid, "Pss") for pid in pids) / 1024
        private = sum(rollup_kib(pid, "Private_Clean") + rollup_kib(pid, "Private_Dirty") for pid in pids) / 1024
        print(f"  {name:40} idle worker RSS {rss:.1f} MiB, PSS {pss:.1f} MiB, private {private:.1f} MiB", flush=True)
        return rss, pss, private
    finally:
        server.stop()


def main():
    results = {}
    print(f"hello world, 2 workers, 64 connections: nginx, arbiter and uvicorn in alternating rounds ({ROUNDS} × {ROUND_DURATION} s)")
    core = {
        "nginx": ("nginx return 200, 2 workers", nginx(2)),
        "async": ("arbiter -k async -w 2", arbiter("hello:application", "async", 2)),
        "sync32": ("arbiter -k sync -w 2 --threads 32", arbiter("hellosync:application", "sync", 2, "--threads", "32")),
        "uvicorn": ("uvicorn --workers 2", uvicorn(2)),
    }
    rounds = {key: [] for key in core}
    for _ in range(ROUNDS):
        for key, (name, command) in core.items():
            rounds[key].append(measure(name, command, 2, 64, "/", duration=ROUND_DURATION))
    for key in core:
        # The round with the median throughput stands for the server in the table.
        results[key] = sorted(rounds[key], key=lambda r: r["rps"])[len(rounds[key]) // 2]

    def median_ratio(a, b, field):
        ratios = sorted(x[field] / max(y[field], 1e-9) for x, y in zip(rounds[a], rounds[b]))
        return ratios[len(ratios) // 2], ", ".join(f"{r:.2f}" for r in (x[field] / max(y[field], 1e-9) for x, y in zip(rounds[a], rounds[b])))

    print(f"hello world, 2 workers, 64 connections, {DURATION} s each")
    results["sync8"] = measure("arbiter -k sync -w 2 --threads 8", arbiter("hellosync:application", "sync", 2, "--threads", "8"), 2, 64, "/")
    results["gthread8"] = measure("gunicorn -k gthread -w 2 --threads 8", gunicorn("gthread", 2, 8), 2, 64, "/")
    results["gsync"] = measure("gunicorn -k sync -w 2", gunicorn("sync", 2), 2, 64, "/")

    # A blocking handler that holds its thread 0.3 ms (a quick database call): the sync worker must
    # spread such requests over its threads, not run them one after another.
    print("2 workers, 64 connections, GET /sleep?seconds=0.0003 (a blocking 0.3 ms call)")
    blocking = {
        "sync32": measure("arbiter -k sync -w 2 --threads 32", arbiter("hellosync:application", "sync", 2, "--threads", "32"), 2, 64, "/sleep?seconds=0.0003"),
        "gthread32": measure("gunicorn -k gthread -w 2 --threads 32", gunicorn("gthread", 2, 32), 2, 64, "/sleep?seconds=0.0003"),
    }

    sleeps = {}
    for n in (1000, 10000):
        print(f"one worker, {n} concurrent GET /sleep?seconds=1")
        servers = sleep_servers(n)
        # Ideal: every connection completes one request per second. A connection's k-th response
        # arrives just after k seconds, so a run of d seconds can count at most floor(d) - 1… d of
        # them; the ideal is n × (d - 1) / d requests per second (n for an infinitely long run).
        ideal = n * (DURATION - 1) / DURATION
        sleeps[("arbiter", n)] = measure(f"arbiter -k async -w 1", servers["arbiter"], 1, n, "/sleep?seconds=1", ideal=ideal)
        sleeps[("uvicorn", n)] = measure(f"uvicorn --workers 1", servers["uvicorn"], 1, n, "/sleep?seconds=1", ideal=ideal)

    print("idle memory, one worker")
    idle = {
        "arbiter async": idle_rss("arbiter -k async", arbiter("hello:application", "async", 1)),
        "arbiter sync": idle_rss("arbiter -k sync", arbiter("hellosync:application", "sync", 1)),
        "uvicorn": idle_rss("uvicorn", uvicorn(1)),
        "gunicorn sync": idle_rss("gunicorn sync", gunicorn("sync", 1)),
    }

    r = results
    print("\n| measure | arbiter | peer | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    # Ratios: the median of the rounds' ratios (each round's in brackets), medians of the rounds' values.
    for label, a, b, field, digits, target in (
        ("hello req/s, async -w 2 vs nginx 2 workers", "async", "nginx", "rps", 0, "≥ 1.0×"),
        ("hello CPU µs per request (all server processes), async vs nginx", "async", "nginx", "cpu_us", 1, "≤ 1.2×"),
        ("hello user-time µs per request, async vs nginx", "async", "nginx", "user_us", 1, ""),
        ("hello req/s, sync --threads 32 vs async", "sync32", "async", "rps", 0, "≥ 0.9×"),
        ("hello req/s, async -w 2 vs uvicorn --workers 2", "async", "uvicorn", "rps", 0, "≥ 2×"),
    ):
        ratio, each = median_ratio(a, b, field)
        va = sorted(x[field] for x in rounds[a])[ROUNDS // 2]
        vb = sorted(x[field] for x in rounds[b])[ROUNDS // 2]
        print(f"| {label} | {va:.{digits}f} | {vb:.{digits}f} | {ratio:.3f}× ({each}) | {target} |")
    print(f"| hello p99 ms, async vs uvicorn | {r['async']['p99_ms']:.2f} | {r['uvicorn']['p99_ms']:.2f} | "
          f"{r['async']['p99_ms'] / max(r['uvicorn']['p99_ms'], 1e-9):.2f}× | |")
    print(f"| hello req/s, sync --threads 8 vs gunicorn gthread --threads 8 | {r['sync8']['rps']:.0f} | {r['gthread8']['rps']:.0f} | "
          f"{r['sync8']['rps'] / r['gthread8']['rps']:.2f}× | ≥ 4× |")
    print(f"| hello req/s, sync --threads 8 vs gunicorn sync | {r['sync8']['rps']:.0f} | {r['gsync']['rps']:.0f} | "
          f"{r['sync8']['rps'] / r['gsync']['rps']:.2f}× | |")
    b, g = blocking["sync32"], blocking["gthread32"]
    print(f"| blocking 0.3 ms handler req/s, sync --threads 32 vs gunicorn gthread --threads 32 | {b['rps']:.0f} | {g['rps']:.0f} | "
          f"{b['rps'] / g['rps']:.2f}× | |")
    for n in (1000, 10000):
        a, u = sleeps[("arbiter", n)], sleeps[("uvicorn", n)]
        print(f"| {n} sleeps: % of ideal req/s | {a['ideal_pct']:.1f} % | {u['ideal_pct']:.1f} % | "
              f"{a['rps'] / u['rps']:.2f}× | {'≥ 95 %' if n == 10000 else ''} |")
        print(f"| {n} sleeps: p99 | {a['p99_ms'] / 1000:.3f} s | {u['p99_ms'] / 1000:.3f} s | | {'≤ 1.1 s' if n == 10000 else ''} |")
        print(f"| {n} sleeps: peak worker RSS | {a['peak_rss_mib']:.1f} MiB | {u['peak_rss_mib']:.1f} MiB | "
              f"{a['peak_rss_mib'] / max(u['peak_rss_mib'], 1e-9):.2f}× | {'≤ 48 MiB' if n == 10000 else ''} |")
        print(f"| {n} sleeps: errors | {a['errors']} | {u['errors']} | | |")
    for label, index in (("RSS", 0), ("PSS", 1), ("private", 2)):
        a, u = idle["arbiter async"][index], idle["uvicorn"][index]
        print(f"| idle worker {label}, async vs uvicorn | {a:.1f} MiB | {u:.1f} MiB | {a / u:.2f}× | {'≤ 8 MB' if index == 0 else ''} |")
    for label, index in (("RSS", 0), ("private", 2)):
        a, g = idle["arbiter sync"][index], idle["gunicorn sync"][index]
        print(f"| idle worker {label}, sync vs gunicorn sync | {a:.1f} MiB | {g:.1f} MiB | {a / g:.2f}× | |")


if __name__ == "__main__":
    main()
