#!/usr/bin/env bash
# Fuzzes the HTTP/1.1 parser with libFuzzer and AddressSanitizer.
#   Fuzz/run.sh [SECONDS]      (default 600; findings land in Fuzz/findings/)
# The target is compiled together with Sources/HTTP1 by swiftc; the seed corpus is Fuzz/corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
mkdir -p .build/fuzz Fuzz/findings
work=.build/fuzz/corpus
mkdir -p "$work"
cp -n Fuzz/corpus/* "$work"/ 2>/dev/null || true
swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name HTTP1Fuzz \
    Sources/HTTP1/*.swift Fuzz/HTTP1FuzzTarget.swift -o .build/fuzz/http1-fuzz
exec .build/fuzz/http1-fuzz "$work" Fuzz/corpus -max_total_time="$seconds" -max_len=4096 -timeout=5 \
    -artifact_prefix=Fuzz/findings/ -print_final_stats=1
