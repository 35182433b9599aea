#!/usr/bin/env bash
#
# bench/hello.sh - W1: GET /hello through nginx -> evfcgid, against nginx
# answering the same response itself (the ceiling: what this nginx, on this
# machine, with this client, can do at most).
#
# Reports requests/s, p50 and p99 latency for both, the ratio
# evfcgid/ceiling (target >= 0.2) and evfcgid's CPU time per request
# (target <= 15 us), plus nginx's CPU time per request.
#
# From the build directory:   bench/hello.sh            (table on stdout,
#                                                        progress on stderr)
# Knobs: DURATION, WARMUP, CONNECTIONS (100), WORKERS, UPSTREAM, ...; see
# bench/lib.sh and bench/README.md.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${CONNECTIONS:=100}"
BENCH_CONNS=$CONNECTIONS
TARGET_RATIO=0.2
TARGET_CPU_US=15

bench_start_servers
bench_preflight "$BENCH_BASE/hello" 200 '{"message":"hello"}'
bench_preflight "$BENCH_BASE/ceiling/hello" 200 '{"message":"hello"}'

bench_warmup "$BENCH_BASE/hello" "$CONNECTIONS"
run_wrk "nginx->evfcgid" "$BENCH_BASE/hello" "$CONNECTIONS"
bench_warmup "$BENCH_BASE/ceiling/hello" "$CONNECTIONS"
run_wrk --no-evfcgid "nginx ceiling" "$BENCH_BASE/ceiling/hello" "$CONNECTIONS"

ratio=$(awk -v a="${B_RPS[nginx->evfcgid]}" -v b="${B_RPS[nginx ceiling]}" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
cpu=${B_EVF_US[nginx->evfcgid]}

bench_header hello "W1: GET /hello, nginx -> evfcgid vs nginx return 200"
bench_table
printf '\n'
verdict "$ratio" ge "$TARGET_RATIO"
printf 'ratio evfcgid/ceiling     %6s    (target >= %s: %s)\n' "$ratio" "$TARGET_RATIO" "$VERDICT"
verdict "$cpu" le "$TARGET_CPU_US"
printf 'evfcgid CPU per request   %6s us (target <= %s us: %s)\n' "$cpu" "$TARGET_CPU_US" "$VERDICT"
printf 'nginx CPU per request     %6s us via evfcgid, %s us for the ceiling\n' \
    "${B_NGX_US[nginx->evfcgid]}" "${B_NGX_US[nginx ceiling]}"
if ((${B_ERRS[nginx->evfcgid]} + ${B_ERRS[nginx ceiling]} > 0)); then
    printf 'WARNING: wrk saw errors (socket errors or non-2xx responses); the figures are suspect.\n'
fi

bench_finish
