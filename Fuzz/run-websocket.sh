#!/usr/bin/env bash
# Fuzzes the WebSocket protocol layer (frame decoder, connection state machine, inflater, UTF-8
# validator) with libFuzzer and AddressSanitizer.
#   Fuzz/run-websocket.sh [SECONDS]      (default 600; findings land in Fuzz/findings/)
# The target is compiled together with Sources/WebSocket by swiftc; the zlib shim is compiled by
# clang. The seed corpus is Fuzz/websocket-corpus/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
mkdir -p .build/fuzz Fuzz/findings
work=.build/fuzz/websocket-corpus
mkdir -p "$work"
cp -n Fuzz/websocket-corpus/* "$work"/ 2>/dev/null || true
if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
    clang -O1 -g -fsanitize=fuzzer-no-link,address -c Sources/CZlib/czlib.c -I Sources/CZlib/include -o .build/fuzz/czlib.o
    swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name WebSocketFuzz -I Sources/CZlib/include \
        Sources/WebSocket/*.swift Fuzz/WebSocketFuzzTarget.swift .build/fuzz/czlib.o -o .build/fuzz/websocket-fuzz
fi
exec .build/fuzz/websocket-fuzz "$work" Fuzz/websocket-corpus -max_total_time="$seconds" -max_len=4096 -timeout=5 \
    -artifact_prefix=Fuzz/findings/ -print_final_stats=1
