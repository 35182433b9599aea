#!/usr/bin/env bash
#
# bench/blocking.sh - W3 beside W2, in one run, through nginx -> evfcgid:
#
#   W3  GET /blocking: a plain (`def`) route, 100 ms of blocking sleep on
#       the thread pool (-T, default 40 threads). Whatever the concurrency,
#       the ideal is threads / 0.1 s = 400 req/s; target >= 95% of it at
#       C=100 and C=1000 (at C=1000, 960 requests wait in the queue, default
#       1024: no 503 may appear, and latency is about C / 400 s).
#   W2  GET /items/N: an `async def` route awaiting 100 ms: ideal C / 0.1 s.
#   /hello latency (wrk -c 10) on an idle daemon, then while W3 saturates
#       the pool: the loop must stay responsive (p50/p99 barely move).
#
# From the build directory:   bench/blocking.sh
# Knobs: CONCURRENCY="100 1000", POOL_THREADS=40, HELLO_CONNECTIONS=10,
# DURATION, WARMUP, WORKERS, UPSTREAM, ...; see bench/lib.sh, bench/README.md.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${CONCURRENCY:=100 1000}"
: "${POOL_THREADS:=40}"
: "${HELLO_CONNECTIONS:=10}"
DELAY_S=0.1
TARGET_PCT=95
# Requests wait up to C / 400 s in the queue (2.5 s at C=1000): more than
# wrk's default 2 s timeout, which would count them as errors.
W3_WRK_ARGS=(--timeout 30s)

max_c=0
for c in $CONCURRENCY; do ((c > max_c)) && max_c=$c; done
# Two nginx connections per request in flight, for W3 (max_c) plus /hello.
NGINX_WORKER_CONNECTIONS=$(((max_c + HELLO_CONNECTIONS) * 2 + 1024))
BENCH_CONNS=$((max_c + HELLO_CONNECTIONS))

bench_start_servers -T "$POOL_THREADS"
bench_preflight "$BENCH_BASE/blocking" 200 '{"slept_ms":100,"where":"pool"}'
bench_preflight "$BENCH_BASE/items/1" 200 '{"item_id":1,"data":"some data"}'
bench_preflight "$BENCH_BASE/hello" 200 '{"message":"hello"}'

declare -A B_FILE=()
# measure LABEL URL CONNS [WRK_ARGS...]: warm-up and run_wrk, remembering
# wrk's output file (for the non-2xx count).
measure() {
    local label=$1 url=$2 conns=$3
    shift 3
    bench_warmup "$url" "$conns" "$@"
    B_FILE[$label]=$tmp/wrk.${#B_LABELS[@]}.txt
    run_wrk "$label" "$url" "$conns" "$@"
}
# non2xx FILE: wrk's "Non-2xx or 3xx responses" count (absent: 0).
non2xx() { awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1"; }
pct() { awk -v r="$1" -v i="$2" 'BEGIN { printf "%.1f", 100 * r / i }'; }
# ok_rps FILE: 2xx responses per second ("N requests in 10.00s", minus the
# non-2xx ones): a 503 is not served work.
ok_rps() {
    awk '/ requests in / { n = $1; t = $4; sub(/s,?$/, "", t) }
         /Non-2xx or 3xx responses:/ { e = $NF }
         END { printf "%.1f", (t > 0) ? (n - e) / t : 0 }' "$1"
}

w3_ideal=$(awk -v t="$POOL_THREADS" -v d="$DELAY_S" 'BEGIN { printf "%.0f", t / d }')
BENCH_NOTE_TITLE='% of ideal; non-2xx'
declare -A W3_PCT=() W3_OK=()

for c in $CONCURRENCY; do
    l="W3 blocking c=$c"
    measure "$l" "$BENCH_BASE/blocking" "$c" "${W3_WRK_ARGS[@]}"
    W3_OK[$c]=$(ok_rps "${B_FILE[$l]}")
    W3_PCT[$c]=$(pct "${W3_OK[$c]}" "$w3_ideal")
    B_NOTE[$l]="${W3_PCT[$c]}% of $w3_ideal (2xx only); non-2xx $(non2xx "${B_FILE[$l]}")"
done

for c in $CONCURRENCY; do
    l="W2 items c=$c"
    ideal=$(awk -v c="$c" -v d="$DELAY_S" 'BEGIN { printf "%.0f", c / d }')
    measure "$l" "$BENCH_BASE/items/0" "$c" -s "$BENCH_DIR/items.lua"
    B_NOTE[$l]="$(pct "${B_RPS[$l]}" "$ideal")% of $ideal; non-2xx $(non2xx "${B_FILE[$l]}")"
done

# /hello at low concurrency: first on its own, then while a second wrk
# keeps max_c /blocking requests in flight (the pool saturated, the queue
# long). The second row's CPU columns would mix both loads: not shown.
l="hello c=$HELLO_CONNECTIONS idle"
measure "$l" "$BENCH_BASE/hello" "$HELLO_CONNECTIONS"
B_NOTE[$l]="non-2xx $(non2xx "${B_FILE[$l]}")"

w3_secs=$((DURATION + WARMUP + 4))
log "background load: wrk -c $max_c -d ${w3_secs}s on /blocking"
spawn_bg other "wrk W3 background" "$tmp/wrk.w3bg.txt" \
    wrk -t 1 -c "$max_c" -d "${w3_secs}s" "${W3_WRK_ARGS[@]}" "$BENCH_BASE/blocking"
w3_pid=$LAST_PID
# Let the queue fill: max_c requests in flight, the pool busy.
sleep $((WARMUP > 2 ? WARMUP : 2))
l="hello c=$HELLO_CONNECTIONS +W3 c=$max_c"
B_FILE[$l]=$tmp/wrk.${#B_LABELS[@]}.txt
run_wrk "$l" "$BENCH_BASE/hello" "$HELLO_CONNECTIONS"
is_alive "$w3_pid" || log "WARNING: the background W3 load ended before the /hello run did"
wait_pid "$w3_pid"
sed 's/^/#   /' "$tmp/wrk.w3bg.txt" >&2
B_EVF_US[$l]=-
B_NGX_US[$l]=-
w3bg_rps=$(awk '/^Requests\/sec:/ { print $2; exit }' "$tmp/wrk.w3bg.txt")
B_NOTE[$l]="non-2xx $(non2xx "${B_FILE[$l]}"); W3 meanwhile $w3bg_rps req/s, non-2xx $(non2xx "$tmp/wrk.w3bg.txt")"

bench_header blocking "W3 GET /blocking (pool of $POOL_THREADS, 100 ms each) vs W2 GET /items/N (100 ms await); /hello under W3"
bench_table
printf '\n'
for c in $CONCURRENCY; do
    verdict "${W3_PCT[$c]}" ge "$TARGET_PCT"
    printf 'W3 c=%-5s %7s 2xx/s = %5s%% of %s   (target >= %s%%: %s)\n' "$c" "${W3_OK[$c]}" "${W3_PCT[$c]}" "$w3_ideal" "$TARGET_PCT" "$VERDICT"
done
li="hello c=$HELLO_CONNECTIONS idle"
printf '/hello p50/p99: %s/%s ms idle, %s/%s ms while W3 c=%s saturates the pool\n' \
    "${B_P50[$li]}" "${B_P99[$li]}" "${B_P50[$l]}" "${B_P99[$l]}" "$max_c"
errs=0
for x in "${B_LABELS[@]}"; do errs=$((errs + ${B_ERRS[$x]})); done
errs=$((errs + $(non2xx "$tmp/wrk.w3bg.txt")))
if ((errs > 0)); then
    printf 'WARNING: wrk saw errors (socket errors, timeouts or non-2xx responses); the figures are suspect.\n'
fi

bench_finish
