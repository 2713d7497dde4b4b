"""Chaos run: wrk drives `arbiter -w 2` while the master gets HUP ×5, TTIN, TTOU, a USR2 upgrade
(USR2, WINCH, QUIT) and a worker gets kill -9. Prints requests and failures per phase.

Target: zero failed requests in every phase but kill -9, where only the killed worker's own
connections may fail. Usage: bench/chaos.sh [sync|async]"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from bench import children  # same directory

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARBITER = os.path.join(ROOT, ".build", "release", "arbiter")
WORKER = sys.argv[1] if len(sys.argv) > 1 else "async"
PORT = 18750
CONNECTIONS = 32


class Log:
    def __init__(self, path):
        self.path = path

    def text(self):
        with open(self.path, errors="replace") as f:
            return f.read()

    def wait_for(self, needle, count=1, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.text().count(needle) >= count:
                return
            time.sleep(0.05)
        raise RuntimeError(f"timed out waiting for {needle!r} ×{count}:\n{self.text()[-3000:]}")


def connections_of(pid):
    """Established connections to PORT held by process `pid` (from ss)."""
    out = subprocess.run(["ss", "-tnpH", "state", "established", f"( sport = :{PORT} )"],
                         capture_output=True, text=True).stdout
    return sum(1 for line in out.splitlines() if f"pid={pid}," in line)


def wrk(seconds):
    return subprocess.Popen(["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "5s",
                             f"http://127.0.0.1:{PORT}/"], stdout=subprocess.PIPE, text=True)


def result(process):
    out = process.communicate()[0]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(int(x) for x in errors.groups()) if errors else 0) + (int(non2xx.group(1)) if non2xx else 0)
    return requests, failed, (errors.group(0) if errors else "")


def main():
    workdir = tempfile.mkdtemp(prefix="arbiter-chaos-")
    pidfile = os.path.join(workdir, "arbiter.pid")
    log = Log(os.path.join(workdir, "arbiter.log"))
    command = [ARBITER, "hello:application", "-k", WORKER, "-w", "2", "--chdir", os.path.join(ROOT, ".build", "release"),
               "-b", f"127.0.0.1:{PORT}", "-p", pidfile, "--graceful-timeout", "10"]
    with open(log.path, "w") as out:
        master = subprocess.Popen(command, stdout=out, stderr=out)
    masters = [master.pid]
    rows = []
    try:
        log.wait_for("Ready:")

        def phase(name, action, seconds=6):
            load = wrk(seconds)
            time.sleep(1)
            action()
            requests, failed, detail = result(load)
            rows.append((name, requests, failed, detail))
            print(f"{name:34} {requests:>9} requests {failed:>6} failed  {detail}", flush=True)

        phase("steady (no signal)", lambda: None, seconds=4)

        def hup_five_times():
            for i in range(1, 6):
                os.kill(masters[-1], signal.SIGHUP)
                log.wait_for(f"Reload complete: generation {i} ")
        phase("HUP ×5", hup_five_times, seconds=12)

        def ttin():
            os.kill(masters[-1], signal.SIGTTIN)
            log.wait_for("Ready", count=1)
            time.sleep(1)
        phase("TTIN", ttin)

        def ttou():
            os.kill(masters[-1], signal.SIGTTOU)
            log.wait_for("Worker retired", count=1 + log.text().count("Worker retired"))
        phase("TTOU", ttou)

        def upgrade():
            old = masters[-1]
            os.kill(old, signal.SIGUSR2)
            log.wait_for("Upgrading: started a new master")
            new = int(re.search(r"started a new master \(pid: (\d+)\)", log.text()).group(1))
            masters.append(new)
            log.wait_for("Ready:", count=2)
            retired = log.text().count("Worker retired")
            os.kill(old, signal.SIGWINCH)
            log.wait_for("Worker retired", count=retired + 2)
            os.kill(old, signal.SIGQUIT)
            master.wait(timeout=30)
        phase("USR2 + WINCH + QUIT (upgrade)", upgrade, seconds=10)

        victim_connections = []

        def kill_worker():
            victim = children(masters[-1])[0]
            victim_connections.append(connections_of(victim))
            os.kill(victim, signal.SIGKILL)
            time.sleep(1)
        phase("kill -9 one worker", kill_worker)
        print(f"(the killed worker held {victim_connections[0]} of the {CONNECTIONS} connections)")

        print()
        print("| phase | requests | failed |")
        print("| --- | --- | --- |")
        for name, requests, failed, _ in rows:
            print(f"| {name} | {requests} | {failed} |")
    finally:
        for pid in masters:
            for child in children(pid):
                try:
                    os.kill(child, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        print(f"\n(log: {log.path})")


if __name__ == "__main__":
    main()
