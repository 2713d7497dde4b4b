#!/usr/bin/env bash
# Fuzzes with libFuzzer and AddressSanitizer.
#   Fuzz/run.sh [TARGET] [SECONDS]      TARGET: http1 (default) or connection; SECONDS default 600
#   http1       the request parser and body decoder (Fuzz/HTTP1FuzzTarget.swift, seeds Fuzz/corpus/)
#   connection  the connection machine driven by scripted events (Fuzz/ConnectionFuzzTarget.swift,
#               seeds Fuzz/corpus-connection/)
# Each target is compiled together with Sources/HTTP1 by swiftc; findings land in Fuzz/findings/.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-http1}"
seconds="${2:-600}"
case "$target" in
    http1) source=Fuzz/HTTP1FuzzTarget.swift; seeds=Fuzz/corpus; maxlen=4096 ;;
    connection) source=Fuzz/ConnectionFuzzTarget.swift; seeds=Fuzz/corpus-connection; maxlen=8192 ;;
    *) echo "unknown target '$target' (http1 or connection)" >&2; exit 2 ;;
esac
mkdir -p .build/fuzz Fuzz/findings
work=.build/fuzz/corpus-$target
mkdir -p "$work"
cp -n "$seeds"/* "$work"/ 2>/dev/null || true
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name HTTP1Fuzz \
    Sources/HTTP1/*.swift "$source" -o ".build/fuzz/$target-fuzz"
exec ".build/fuzz/$target-fuzz" "$work" "$seeds" -max_total_time="$seconds" -max_len="$maxlen" -timeout=5 \
    -artifact_prefix="Fuzz/findings/$target-" -print_final_stats=1
