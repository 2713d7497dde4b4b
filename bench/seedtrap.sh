#!/usr/bin/env bash
# The seed-trap throughput check (see bench/seedtrap.py): builds release, then runs it.
# Usage: bench/seedtrap.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release
exec python3 bench/seedtrap.py "$@"
