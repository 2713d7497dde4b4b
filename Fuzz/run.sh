#!/usr/bin/env bash
# Fuzzes with libFuzzer and AddressSanitizer.
#   Fuzz/run.sh [TARGET] [SECONDS]      SECONDS default 600; findings land in Fuzz/findings/
#   http1       the request parser and body decoder (Fuzz/HTTP1FuzzTarget.swift, seeds Fuzz/corpus/)
#   connection  the HTTP/1 connection machine driven by scripted events (Fuzz/ConnectionFuzzTarget.swift)
#   websocket   the WebSocket frame decoder, connection machine, inflater and UTF-8 validator
#               (Fuzz/WebSocketFuzzTarget.swift; the zlib shim is compiled by clang)
# Seeds for the last two are in Fuzz/corpus-TARGET/. Each target is compiled with its module's sources.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-http1}"
seconds="${2:-600}"
mkdir -p .build/fuzz Fuzz/findings
case "$target" in
    http1 | connection)
        seeds=Fuzz/corpus-$target
        [ "$target" = http1 ] && seeds=Fuzz/corpus
        source=Fuzz/HTTP1FuzzTarget.swift
        [ "$target" = connection ] && source=Fuzz/ConnectionFuzzTarget.swift
        swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name HTTP1Fuzz \
            Sources/HTTP1/*.swift "$source" -o ".build/fuzz/$target-fuzz"
        maxlen=8192 ;;
    websocket)
        seeds=Fuzz/corpus-websocket
        clang -O1 -g -fsanitize=fuzzer-no-link,address -c Sources/CZlib/czlib.c -I Sources/CZlib/include -o .build/fuzz/czlib.o
        swiftc -O -g -sanitize=fuzzer,address -parse-as-library -module-name WebSocketFuzz -I Sources/CZlib/include \
            Sources/WebSocket/*.swift Fuzz/WebSocketFuzzTarget.swift .build/fuzz/czlib.o -o .build/fuzz/websocket-fuzz
        maxlen=4096 ;;
    *) echo "unknown target '$target' (http1, connection or websocket)" >&2; exit 2 ;;
esac
work=.build/fuzz/corpus-$target
mkdir -p "$work"
cp -n "$seeds"/* "$work"/ 2>/dev/null || true
exec ".build/fuzz/$target-fuzz" "$work" "$seeds" -max_total_time="$seconds" -max_len="$maxlen" -timeout=5 \
    -artifact_prefix="Fuzz/findings/$target-" -print_final_stats=1
