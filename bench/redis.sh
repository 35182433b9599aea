#!/usr/bin/env bash
#
# bench/redis.sh - the Redis client: GET /cache/items/1 cache hits through
# nginx -> evfcgid -> Redis at CONNECTIONS (default 256), next to
# redis-benchmark -t get against the same redis-server in the same run
# (the ceiling of one Redis on this machine), and the memory a request
# waiting on Redis costs: PENDING requests held while redis-server is
# stopped (SIGSTOP), against as many waiting on a timer (/sleep).
#
# From the build directory:   bench/redis.sh
# Knobs: CONNECTIONS=256, PENDING=10000, CONNS=10, DURATION, WARMUP, ...;
# see bench/lib.sh.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/integration/redis_lib.sh
. "$top_srcdir/tests/integration/redis_lib.sh"

: "${CONNECTIONS:=256}"
: "${PENDING:=10000}"
: "${CONNS:=10}"
: "${FCGI_LOAD:=$top_builddir/bench/fcgi-load}"
need "$REDIS_SERVER"
need redis-benchmark
[[ -x $FCGI_LOAD ]] || { log "SKIP: FCGI_LOAD='$FCGI_LOAD' not found (make check builds it)"; exit 77; }
((WORKERS <= 1)) || fail "redis.sh measures one serving process: WORKERS must be 0 or 1"
NGINX_WORKER_CONNECTIONS=$((CONNECTIONS * 2 + 1024))

start_redis
# A long client timeout: the memory phase keeps commands unanswered.
bench_start_servers -o "demo:redis_url=$REDIS_URL?timeout=120"
bench_preflight "$BENCH_BASE/cache/items/1" 200 '{"item_id":1,"data":"some data"}'
fetch "$BENCH_BASE/cache/items/1"
[[ $(header_value X-Cache) == hit ]] || fail "preflight: the second GET was not a cache hit"

BENCH_NOTE_TITLE='note'
bench_warmup "$BENCH_BASE/cache/items/1" "$CONNECTIONS"
run_wrk "cache hit c=$CONNECTIONS" "$BENCH_BASE/cache/items/1" "$CONNECTIONS"
B_NOTE[cache hit c=$CONNECTIONS]="1 Redis GET per request"
run_wrk "hello c=$CONNECTIONS" "$BENCH_BASE/hello" "$CONNECTIONS"
B_NOTE[hello c=$CONNECTIONS]="the same path without Redis"
run_wrk --no-evfcgid "nginx ceiling" "$BENCH_BASE/ceiling/hello" "$CONNECTIONS"

log "redis-benchmark -t get -c $CONNECTIONS against the same redis-server"
rb=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t get -c "$CONNECTIONS" \
    -n 200000 -q 2>/dev/null | tr '\r' '\n' | awk '/^GET:/ { print $2 }' | tail -n 1)

# ---- memory per pending request ---------------------------------------------
wpid=
for p in $(descendants "$EVFCGID_PID"); do wpid=$p; done
[[ -n $wpid ]] || wpid=$EVFCGID_PID
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$wpid/status"; }
settled_rss() {
    local prev cur i
    prev=$(rss)
    for ((i = 0; i < 20; i++)); do
        sleep 0.5
        cur=$(rss)
        ((cur - prev <= prev / 200)) && break
        prev=$cur
    done
    echo "$cur"
}

# hold URI: PENDING requests on URI kept in flight; prints the RSS growth
# per request in bytes.
hold() {
    local uri=$1 r0 r1 pid i
    r0=$(settled_rss)
    spawn_bg other "fcgi-load --hold $uri" "$tmp/hold.log" \
        "$FCGI_LOAD" "$BENCH_UPSTREAM" "$uri" -c "$CONNS" \
        -n "$PENDING" --hold -d 30
    pid=$LAST_PID
    for ((i = 0; i < 300; i++)); do
        grep -q '^sent=' "$tmp/hold.log" && break
        is_alive "$pid" || { cat "$tmp/hold.log" >&2; fail "fcgi-load ended early"; }
        sleep 0.1
    done
    r1=$(settled_rss)
    stop_pid "$pid"
    awk -v a="$r0" -v b="$r1" -v n="$PENDING" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }'
}

# fcgi-load talks directly to the address nginx uses (BENCH_UPSTREAM).  /sleep first (a pending request without Redis), then Redis.
per_sleep=$(hold '/sleep?ms=60000')
kill -STOP "$REDIS_PID"
per_redis=$(hold /cache/items/1)
kill -CONT "$REDIS_PID"

bench_header redis "GET /cache/items/1 (a Redis GET per request) vs redis-benchmark"
bench_table
printf '\n%-44s %s\n' "redis-benchmark -t get -c $CONNECTIONS (req/s)" "${rb:-?}"
printf '%-44s %s\n' "RSS per pending /sleep request (bytes)" "$per_sleep"
printf '%-44s %s\n' "RSS per request pending on Redis (bytes)" "$per_redis"
printf '%-44s %s\n' "  of which the Redis command (bytes)" "$((per_redis - per_sleep))"
bench_finish
