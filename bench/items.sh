#!/usr/bin/env bash
#
# bench/items.sh - W2: GET /items/N through nginx -> evfcgid, where the demo
# app awaits 100 ms (a timer, not CPU) before answering. This measures how
# well evfcgid overlaps waiting requests: with C connections each waiting
# 100 ms, the ideal is C / 0.1 s requests per second. Reported per
# concurrency as req/s and percentage of that ideal, with p50/p99 (ideal
# p50: 100 ms) and CPU per request.
#
# From the build directory:   bench/items.sh
# Knobs: CONCURRENCY="100 1000", DURATION, WARMUP, WORKERS, UPSTREAM,
# NGINX_KEEPALIVE (upstream idle connections kept, default the largest
# concurrency), ...; see
# bench/lib.sh and bench/README.md.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${CONCURRENCY:=100 1000}"
ITEM_DELAY_S=0.1

# nginx uses two connections per request in flight (client + upstream):
# worker_connections must exceed twice the largest concurrency.
max_c=0
for c in $CONCURRENCY; do ((c > max_c)) && max_c=$c; done
NGINX_WORKER_CONNECTIONS=$((max_c * 2 + 1024))
BENCH_CONNS=$max_c

bench_start_servers
fetch "$BENCH_BASE/items/1"
if [[ $HTTP_STATUS == 404 ]]; then
    log "SKIP: GET /items/1 answers 404: the route is not implemented yet"
    exit 77
fi
bench_preflight "$BENCH_BASE/items/1" 200 '{"item_id":1,"data":"some data"}'

BENCH_NOTE_TITLE='% of ideal (c/0.1s)'
for c in $CONCURRENCY; do
    bench_warmup "$BENCH_BASE/items/0" "$c" -s "$BENCH_DIR/items.lua"
    run_wrk "items c=$c" "$BENCH_BASE/items/0" "$c" -s "$BENCH_DIR/items.lua"
    ideal=$(awk -v c="$c" -v d="$ITEM_DELAY_S" 'BEGIN { printf "%.0f", c / d }')
    pct=$(awk -v r="${B_RPS[items c=$c]}" -v i="$ideal" 'BEGIN { printf "%.1f", 100 * r / i }')
    B_NOTE[items c=$c]="$pct% of $ideal"
done

bench_header items "W2: GET /items/N, 100 ms await in the app"
bench_table
errs=0
for c in $CONCURRENCY; do errs=$((errs + ${B_ERRS["items c=$c"]})); done
if ((errs > 0)); then
    printf '\nWARNING: wrk saw errors (socket errors, timeouts or non-2xx responses); the figures are suspect.\n'
fi

bench_finish
