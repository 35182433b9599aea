#!/usr/bin/env bash
#
# bench/external.sh - the seed's dependency example under load:
# GET /external-data through nginx -> evfcgid, whose dependency fetches
# JSON from an upstream with the async HTTP client.  The upstream answers
# after 100 ms (nginx in front of a second evfcgid's /sleep?ms=100), so
# with C connections the ideal is C / 0.1 s requests per second (target:
# >= 80 % at C=1000).  Also reported: how many connections the app holds
# to the upstream (curl's pool, sampled mid-run) and the app worker's RSS
# per pending request.
#
# From the build directory:   bench/external.sh
# Knobs: CONCURRENCY (default 1000), DURATION, WARMUP; see bench/lib.sh.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${CONCURRENCY:=1000}"
need ss
# Both nginx keep an idle upstream connection per request in flight (see
# the README's keepalive sizing).
BENCH_CONNS=$CONCURRENCY
: "${NGINX_KEEPALIVE:=$CONCURRENCY}"

# The upstream: its own evfcgid and nginx (plain HTTP proxying to it).
NGINX_WORKER_CONNECTIONS=$((CONCURRENCY * 2 + 1024))
start_evfcgid_tcp -a "$DEMO_APP" -w 1
up_evf_pid=$EVFCGID_PID
NGINX_ACCESS_LOG=off start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
up_port=$NGINX_PORT
up_ngx_pid=$NGINX_PID

# The app under test, pointed at the upstream.
bench_start_servers -o "demo:upstream_url=http://127.0.0.1:$up_port/sleep?ms=100"
app_pid=$EVFCGID_PID
bench_preflight "$BENCH_BASE/external-data" 200 \
    '{"source":"external","data":{"slept_ms":100}}'

rss_kb() {
    local total=0 p v
    for p in "$1" $(descendants "$1"); do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

c=$CONCURRENCY
bench_warmup "$BENCH_BASE/external-data" "$c"
rss_idle=$(rss_kb "$app_pid")
# Sample the app's connections to the upstream and its RSS mid-run.
(
    sleep $((DURATION / 2))
    ss -Htn state established "( dport = :$up_port )" | wc -l >"$tmp/upconns"
    rss_kb "$app_pid" >"$tmp/rss_busy"
) &
sampler=$!
run_wrk "external c=$c" "$BENCH_BASE/external-data" "$c"
wait "$sampler"
ideal=$(awk -v c="$c" 'BEGIN { printf "%.0f", c / 0.1 }')
pct=$(awk -v r="${B_RPS[external c=$c]}" -v i="$ideal" 'BEGIN { printf "%.1f", 100 * r / i }')
verdict "$pct" ge 80
B_NOTE[external c=$c]="$pct% of $ideal ($VERDICT)"
upconns=$(cat "$tmp/upconns")
rss_busy=$(cat "$tmp/rss_busy")

bench_header external "/external-data: dependency + async HTTP client, upstream 100 ms"
bench_table
printf '\nupstream connections held by the app (mid-run): %s for %s concurrent requests\n' \
    "$upconns" "$c"
printf 'app RSS: idle %s KiB, under load %s KiB: %s bytes per pending request\n' \
    "$rss_idle" "$rss_busy" "$(( (rss_busy - rss_idle) * 1024 / c ))"
printf 'upstream CPU (its evfcgid + nginx) is on the same 2 cores as the app.\n'
: "$up_evf_pid" "$up_ngx_pid"
bench_finish
