#!/usr/bin/env bash
# The WebSocket benchmark (see bench/websocket.py): arbiter's async worker against Uvicorn
# (--ws websockets) and Granian (ASGI), one worker each: echo round trips per second, and memory per
# idle WebSocket. Installs a C compiler if missing (Debian) and uvicorn[standard] + granian +
# websockets into bench/.venv (PyPI), builds arbiter in release mode and the load generator
# (bench/wsload.c), then runs bench/websocket.py.
# Usage: bench/websocket.sh [--duration S] [--connections N] [--sizes 32,4096] [--rounds N]
#                           [--sockets N] [--servers arbiter,uvicorn,granian] [--no-build] [--help]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cc >/dev/null; then
    echo "installing gcc (Debian package)…"
    if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq gcc libc6-dev; else sudo apt-get install -y gcc libc6-dev; fi
fi
if [ ! -x bench/.venv/bin/uvicorn ] || [ ! -x bench/.venv/bin/granian ] || ! bench/.venv/bin/python -c 'import websockets' 2>/dev/null; then
    echo "installing uvicorn[standard], granian and websockets into bench/.venv (PyPI)…"
    python3 -m venv bench/.venv
    bench/.venv/bin/pip install -q 'uvicorn[standard]' granian websockets
fi
case " $* " in
    *" --no-build "*) [ -x .build/release/arbiter ] || { echo "no release build: run without --no-build" >&2; exit 1; } ;;
    *) swift build -c release ;;
esac
mkdir -p .build
cc -O2 -Wall -o .build/wsload bench/wsload.c
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
exec bench/.venv/bin/python bench/websocket.py "$@"
