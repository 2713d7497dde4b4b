#!/usr/bin/env bash
# Benchmarks arbiter against nginx, Gunicorn and Uvicorn side by side on loopback.
# Installs wrk and nginx (Debian) if missing and gunicorn + uvicorn[standard] into bench/.venv (PyPI),
# builds arbiter in release mode, then runs bench/bench.py. Usage: bench/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)…"
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y wrk; fi
fi
if [ ! -x /usr/sbin/nginx ]; then
    echo "installing nginx (Debian package)…"
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq nginx-light || apt-get install -y -qq nginx; else sudo apt-get install -y nginx; fi
fi
if [ ! -x bench/.venv/bin/gunicorn ] || [ ! -x bench/.venv/bin/uvicorn ]; then
    echo "installing gunicorn and uvicorn[standard] into bench/.venv (PyPI)…"
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -q gunicorn 'uvicorn[standard]'
fi
swift build -c release
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec bench/.venv/bin/python bench/bench.py "$@"
