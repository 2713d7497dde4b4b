#!/usr/bin/env bash
# The chaos run (see bench/chaos.py): installs wrk if missing, builds release, runs it.
# Usage: bench/chaos.sh [sync|async]
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq wrk; else sudo apt-get install -y wrk; fi
fi
swift build -c release
exec python3 bench/chaos.py "$@"
