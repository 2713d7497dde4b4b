"""The cost of metrics: hello world served with and without `--metrics-bind` in the same run, each
server scraped once a second as Prometheus would, in alternating rounds (off, on, off, on, …) so
that drift of a shared machine hits both sides alike. Prints req/s and CPU per request of each side
and their ratio (target: metrics on within 3 % of off). Reuses bench.py's server and wrk helpers.

Usage: python3 bench/metrics.py [--duration SECONDS] [--rounds N] [--build release|debug]"""
import argparse
import os
import threading
import time
import urllib.request

import bench

METRICS_PORT = bench.PORT + 1


def command(build, worker, metrics):
    directory = os.path.join(bench.ROOT, ".build", build)
    app = "hello:application" if worker == "async" else "hellosync:application"
    extra = ["--threads", "8"] if worker == "sync" else []
    cmd = [os.path.join(directory, "arbiter"), app, "-k", worker, "-w", "2", "--chdir", directory,
           "-b", f"127.0.0.1:{bench.PORT}", "--log-level", "warning", *extra]
    return cmd + (["--metrics-bind", f"127.0.0.1:{METRICS_PORT}"] if metrics else [])


class Scraper(threading.Thread):
    """GET /metrics once a second until stopped; counts the scrapes."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stopped = threading.Event()
        self.scrapes = 0

    def run(self):
        while not self.stopped.wait(1.0):
            with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as response:
                response.read()
            self.scrapes += 1


def once(build, worker, metrics, duration):
    server = bench.Server(command(build, worker, metrics), 2)
    scraper = Scraper() if metrics else None
    try:
        bench.wrk(64, "/", duration=max(1, duration // 3))  # warm-up
        if scraper:
            scraper.start()
        pids = [server.process.pid] + server.workers()
        _, cpu_before = bench.cpu_seconds(pids)
        result = bench.wrk(64, "/", duration=duration)
        _, cpu_after = bench.cpu_seconds(pids)
        result["cpu_us"] = (cpu_after - cpu_before) * 1e6 / max(result["requests"], 1)
        result["scrapes"] = scraper.scrapes if scraper else 0
        return result
    finally:
        if scraper:
            scraper.stopped.set()
        server.stop()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build", default="release")
    args = parser.parse_args()
    print(f"hello world, 2 workers, 64 connections, {args.rounds} round(s) of {args.duration} s per side, {args.build} build")
    print("| worker | metrics off req/s | metrics on req/s | on/off | CPU µs/req off | on | errors | scrapes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for worker in ("async", "sync"):
        sides = {False: [], True: []}
        for _ in range(args.rounds):
            for metrics in (False, True):
                sides[metrics].append(once(args.build, worker, metrics, args.duration))
        off, on = sides[False], sides[True]

        def mean(runs, key):
            return sum(r[key] for r in runs) / len(runs)

        print(f"| {worker} | {mean(off, 'rps'):.0f} | {mean(on, 'rps'):.0f} | {mean(on, 'rps') / mean(off, 'rps'):.3f} | "
              f"{mean(off, 'cpu_us'):.1f} | {mean(on, 'cpu_us'):.1f} | {sum(r['errors'] for r in off + on)} | "
              f"{sum(r['scrapes'] for r in on)} |", flush=True)


if __name__ == "__main__":
    main()
