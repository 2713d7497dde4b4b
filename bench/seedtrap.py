"""The seed-trap check: an async application behind one synchronous logging middleware
(`fixtures:logged_sleeper`), one `-k async` worker, default settings, 10 users each repeating a
1-second request. Target: at least 9.5 req/s (the ideal is 10; served one at a time it is 1).

Usage: bench/seedtrap.sh [SECONDS]   (builds release first; exits 1 below the target)"""
import http.client
import os
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# SEEDTRAP_BUILD=debug runs the debug products instead (the check is about waiting, not speed).
BUILD = os.environ.get("SEEDTRAP_BUILD", "release")
ARBITER = os.path.join(ROOT, ".build", BUILD, "arbiter")
PORT = 18760
USERS = 10
TARGET = 9.5


def wait_ready(log_path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(log_path, errors="replace") as f:
            text = f.read()
        if "Ready:" in text:
            return text
        time.sleep(0.05)
    raise RuntimeError("arbiter did not become ready:\n" + text[-3000:])


def user(deadline, counts, index):
    connection = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    while time.time() < deadline:
        connection.request("GET", "/sleep?seconds=1")
        response = connection.getresponse()
        response.read()
        if response.status == 200 and time.time() <= deadline + 0.5:
            counts[index] += 1
    connection.close()


def main():
    duration = float(sys.argv[1]) if len(sys.argv) > 1 else 10.0
    log_path = os.path.join(ROOT, ".build", "seedtrap.log")
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [ARBITER, "fixtures:logged_sleeper", "-k", "async", "-b", f"127.0.0.1:{PORT}"],
            cwd=os.path.join(ROOT, ".build", BUILD), stdout=log, stderr=log)
    try:
        boot = wait_ready(log_path)
        notice = [line for line in boot.splitlines() if "Synchronous" in line]
        counts = [0] * USERS
        start = time.time()
        deadline = start + duration
        threads = [threading.Thread(target=user, args=(deadline, counts, i)) for i in range(USERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - start
        rate = sum(counts) / elapsed
        print(f"boot notice: {notice[0] if notice else '(none)'}")
        print(f"{sum(counts)} requests in {elapsed:.1f} s by {USERS} users: {rate:.2f} req/s (target ≥ {TARGET})")
        return 0 if rate >= TARGET else 1
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
