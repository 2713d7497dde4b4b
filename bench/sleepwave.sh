#!/usr/bin/env bash
# Latency per cycle of 10,000 concurrent one-second sleeps (see bench/sleepwave.py): arbiter's async
# worker and uvicorn, one worker each. Installs a C compiler if missing (Debian) and
# uvicorn[standard] into bench/.venv (PyPI), builds arbiter in release mode and the load client
# (bench/sleepwave.c), then runs bench/sleepwave.py.
# Usage: bench/sleepwave.sh [--connections N] [--duration S] [--servers arbiter,uvicorn]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cc >/dev/null; then
    echo "installing gcc (Debian package)…"
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq gcc libc6-dev; else sudo apt-get install -y gcc libc6-dev; fi
fi
if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)…"
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y wrk; fi
fi
if [ ! -x bench/.venv/bin/uvicorn ]; then
    echo "installing uvicorn[standard] into bench/.venv (PyPI)…"
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -q 'uvicorn[standard]'
fi
swift build -c release
mkdir -p .build
cc -O2 -Wall -o .build/sleepwave bench/sleepwave.c -lpthread
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec bench/.venv/bin/python bench/sleepwave.py "$@"
