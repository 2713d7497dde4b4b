#!/usr/bin/env bash
# The cost of metrics (bench/metrics.py): hello with and without --metrics-bind in the same run.
# Installs wrk (Debian) if missing, builds release, then runs it.
# Usage: bench/metrics.sh [--duration SECONDS] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
    echo "installing wrk (Debian package)…"
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y wrk; fi
fi
if [[ " $* " != *" --build debug "* ]]; then swift build -c release; fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec python3 bench/metrics.py "$@"
