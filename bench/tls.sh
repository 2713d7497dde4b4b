#!/usr/bin/env bash
# TLS benchmark: arbiter against nginx with the same certificate, protocol and cipher, in one run:
# keep-alive hello throughput, new handshakes per second, memory per idle TLS connection.
# Installs wrk, nginx and the openssl command (Debian) if missing, builds arbiter in release mode,
# then runs bench/tls.py. Usage: bench/tls.sh [--duration SECONDS] [--rounds N] [--connections N]
#   --smoke: a one-second run on the debug build, to check that the script works (not a measurement).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v wrk >/dev/null || missing+=(wrk)
[ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]} (Debian packages)…"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo apt-get install -y -qq "${missing[@]}"
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
if [ "${1:-}" = "--smoke" ]; then
    swift build --product arbiter && swift build --product hello
    echo "smoke run on the debug build: checks the script, the numbers are not measurements"
    exec python3 bench/tls.py --duration 1 --rounds 1 --connections 50 --build "$(swift build --show-bin-path)"
fi
swift build -c release
exec python3 bench/tls.py "$@"
