"""Where the p99 of many concurrent slow requests comes from: one async worker (and uvicorn, one
worker) under CONNECTIONS connections that each send GET /sleep?seconds=1 again as soon as the
answer arrives, opened all at once as wrk opens them. bench/sleepwave.c prints latency percentiles
per cycle (cycle k: the k-th answer of every connection), where wrk prints one table for the run.

The first cycle is one burst: every connection's first request arrives within a few milliseconds,
and one worker starts them one after another, so they come due a second later as a burst again.
A server that reads the next requests only after answering a whole burst starts those bunched up
tighter still, and each cycle waits longer than the one before; one that interleaves answering
with reading spreads the burst out over the next cycles. Run it with bench/sleepwave.sh."""
import argparse
import os
import subprocess

import bench


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--duration", type=float, default=10, help="seconds of load per server")
    parser.add_argument("--servers", default="arbiter,uvicorn", help="comma-separated: arbiter, uvicorn")
    args = parser.parse_args()
    client = os.path.join(bench.ROOT, ".build", "sleepwave")
    n = args.connections
    commands = bench.sleep_servers(n)
    for name in args.servers.split(","):
        server = bench.Server(commands[name], 1)
        try:
            bench.wrk(64, "/sleep?seconds=1", duration=2)  # warm-up, as bench.py does
            out = subprocess.run([client, str(bench.PORT), str(n), str(args.duration), "/sleep?seconds=1"],
                                 capture_output=True, text=True, timeout=args.duration + 60)
            print(f"{name}, one worker: {n} connections, GET /sleep?seconds=1, {args.duration:g} s")
            for line in (out.stdout + out.stderr).splitlines():
                print("  " + line, flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
