"""Counts instructions per request in one worker with callgrind (instructions, not seconds, so the
count repeats on a busy machine). A master re-executes /proc/self/exe, which under valgrind is the
tool, not arbiter: so this starts a worker on its own, with the descriptors a master would give it.

    python3 bench/profile_worker.py [async|sync] [REQUESTS] [counters]  (after `swift build -c release`)

With `counters` the worker also gets a counters page, as with `--metrics-bind`: the difference of
the two counts is what counting costs per request.

Runs the worker twice (REQUESTS/2 and REQUESTS keep-alive requests) and prints the difference per
request, so start-up and shutdown cancel out; leaves callgrind.out.PID in .build/profile for
`callgrind_annotate`. valgrind 3.19 cannot read Swift's DWARF 5, so the binary is copied without
debug info (symbols stay)."""
import os
import shutil
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, ".build", "release")
worker = sys.argv[1] if len(sys.argv) > 1 else "async"
requests = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
counters = "counters" in sys.argv[3:]
# A counters page: a 64-byte header and stripes of 704 counters (shared, loop, one request thread).
COUNTERS_SIZE = 64 + 3 * 704 * 8
work = os.path.join(ROOT, ".build", "profile")
os.makedirs(work, exist_ok=True)
binary = os.path.join(work, "arbiter")
subprocess.run(["objcopy", "--strip-debug", os.path.join(RELEASE, "arbiter"), binary], check=True)
for lib in ("libhello.so", "libhellosync.so"):
    subprocess.run(["objcopy", "--strip-debug", os.path.join(RELEASE, lib), os.path.join(work, lib)], check=True)



def run(requests):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    port = listener.getsockname()[1]
    control_worker, control_master = socket.socketpair()
    heartbeat = os.memfd_create("heartbeat")
    os.ftruncate(heartbeat, 64 + 4 * 256)
    scoreboard = os.memfd_create("scoreboard")
    os.ftruncate(scoreboard, 4096)
    app = "hello:application" if worker == "async" else "hellosync:application"
    settings = f"app = {app}\nworker_class = {worker}\nthreads = 1\nloglevel = warning\nchdir = {work}\n"
    env = dict(os.environ, ARBITER_WORKER="0", ARBITER_WORKER_SETTINGS=settings, ARBITER_WORKER_LISTENERS="1",
               ARBITER_WORKER_HEARTBEAT=str(64 + 4 * 256))
    sources = [control_worker.fileno(), heartbeat, scoreboard, listener.fileno()]
    if counters:
        page = os.memfd_create("counters")
        os.ftruncate(page, COUNTERS_SIZE)
        sources.append(page)
        env["ARBITER_WORKER_COUNTERS"] = f"7:{COUNTERS_SIZE}"
    
    
    def place():
        # Copy each source above the targets first, then onto 3, 4, 5, 6.
        high = [os.dup(fd) for fd in sources]
        moved = [fcntl_dup(fd) for fd in high]
        for target, fd in zip((3, 4, 5, 6, 7), moved):
            os.dup2(fd, target, inheritable=True)
    
    
    def fcntl_dup(fd):
        import fcntl
        return fcntl.fcntl(fd, fcntl.F_DUPFD, 100)
    
    
    process = subprocess.Popen(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + os.path.join(work, "callgrind.out.%p"),
                                binary], cwd=work, env=env, preexec_fn=place, close_fds=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    control_master.settimeout(120)
    try:
        ready = control_master.recv(64)
    except TimeoutError:
        ready = b""
    if not ready.startswith(b"ready"):
        process.kill()
        sys.exit("worker did not report ready: " + process.communicate()[1].decode()[-2000:])
    # Warm up, then measure: total instructions are read from the output, so count both phases.
    conn = socket.create_connection(("127.0.0.1", port))
    request = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
    start = time.time()
    for _ in range(requests):
        conn.sendall(request)
        data = b""
        while not data.endswith(b"Hello, World!"):
            data += conn.recv(4096)
    conn.close()
    control_master.close()  # the worker stops as if its master were gone
    _, err = process.communicate(timeout=120)
    total = None
    for line in err.decode().splitlines():
        if "Collected :" in line:
            total = int(line.split(":")[1].strip())
    return total


half, full = run(requests // 2), run(requests)
print(f"{worker}{' with counters' if counters else ''}: {(full - half) / (requests - requests // 2):.0f} instructions per request "
      f"(whole worker, callgrind; {half} and {full} instructions for {requests // 2} and {requests} requests)")
