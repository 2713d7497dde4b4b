"""Bytes of heap one sleeping request holds in an async worker, by allocation site, with valgrind's
DHAT (bytes live at the heap's peak, divided by the requests): what to shrink for the 10,000-sleep
memory target.

    python3 bench/memory_per_request.py [REQUESTS] [ROWS]   (after `swift build -c release`)

Starts one worker under DHAT the way bench/profile_worker.py does, opens REQUESTS connections (1000)
that each send `GET /sleep?seconds=8`, waits for every answer, and prints the total and the ROWS (12)
largest sites with the first frames of their stacks."""
import json
import os
import re
import socket
import sys
import time

import profile_worker as pw

OUT = os.path.join(pw.WORK, "dhat.out")


def main():
    requests = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    pw.prepare()
    worker = pw.Worker("async", settings=f"worker_connections = {4 * requests}\n",
                       tool=["valgrind", "--tool=dhat", "--dhat-out-file=" + OUT])
    connections = []
    for _ in range(requests):
        s = socket.create_connection(("127.0.0.1", worker.port))
        s.sendall(b"GET /sleep?seconds=8 HTTP/1.1\r\nHost: a\r\n\r\n")
        connections.append(s)
    answered = 0
    deadline = time.time() + 120
    for s in connections:
        s.settimeout(max(1, deadline - time.time()))
        data = b""
        try:
            while b"slept" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        answered += b"slept" in data
    for s in connections:
        s.close()
    worker.stop()
    if answered < requests:
        sys.exit(f"only {answered} of {requests} requests answered")
    report(OUT, requests, rows)


def report(path, requests, rows):
    with open(path) as f:
        data = json.load(f)
    frames = data["ftbl"]
    sites = sorted(data["pps"], key=lambda p: -p.get("gb", 0))
    total = sum(p.get("gb", 0) for p in sites)
    print(f"{total / requests:.0f} bytes live at the peak per sleeping request ({requests} requests)")
    allocators = ("malloc", "swift_slowAlloc", "swift_allocObject", "posix_memalign", "realloc", "calloc")
    for site in sites[:rows]:
        print(f"{site['gb'] / requests:8.1f} bytes in {site['gbk'] / requests:.2f} blocks per request")
        shown = [frames[i] for i in site["fs"] if not any(a in frames[i] for a in allocators)][:3]
        for frame in shown:
            print("           " + re.sub(r"\(in [^)]*/", "(", frame)[:140])


if __name__ == "__main__":
    main()
