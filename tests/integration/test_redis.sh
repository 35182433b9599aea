#!/usr/bin/env bash
#
# Redis through the demo app, against a real redis-server of our own
# (redis_lib.sh): the rate limit of GET /limited (through nginx: 200 with
# the remaining count, then 429 with Retry-After), the read-through cache
# of GET /cache/items/{id} (miss, then hit), many concurrent commands on
# the worker's one connection, and every failure: Redis down at start
# (503, cause logged, recovers once it is up), killed mid-run and
# restarted (503, then recovers), stopped mid-command (the deadline: 504;
# without one, the client's timeout: 503), and a server that answers
# garbage (503, nothing crashes).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

need_daemon
need "$NGINX"
need "$REDIS_SERVER"
need redis-cli
[[ -x ${FCGI_CLIENT:-} ]] || { log "ERROR: FCGI_CLIENT not set"; exit 99; }
client() { "$FCGI_CLIENT" -t 15 "$@"; }

status_line() { client request "$1" GET "$2" 2>/dev/null | head -n 1 | tr -d '\r'; }
is_200() { [[ $(status_line "$1" "$2") == 'Status: 200 OK' ]]; }

# ---- Redis down at start, then up: 503 with the cause, then it recovers.
port=$(free_port)
start_evfcgid_tcp -a "$DEMO_APP" -o "demo:redis_url=redis://127.0.0.1:$port"
app=127.0.0.1:$EVFCGID_PORT
out=$(client request "$app" GET /limited)
check_match "Redis down: 503 with Retry-After" \
    $'^Status: 503 .*Retry-After: 1\r\n.*\\{"detail":"Service Unavailable"\\}$' \
    "$out"
check_true "... the cause is in the log" \
    grep -q "Redis unavailable: cannot connect to 127.0.0.1:$port" "$EVFCGID_LOG"
start_redis "$port"
wait_for "/limited answers 200 once Redis is up" 10 is_200 "$app" /limited
pass "Redis up later: the worker connects (backoff passed)"
assert_alive "$EVFCGID_PID" "Redis down at start"
stop_pid "$EVFCGID_PID"

# ---- The demo routes through nginx.
start_evfcgid_tcp -a "$DEMO_APP" -o "demo:redis_url=$REDIS_URL" \
    -o demo:rate_limit=3 -o demo:rate_window=3600
app=127.0.0.1:$EVFCGID_PORT
start_nginx "$NGINX_CONF_TEMPLATE" "$app"
web=http://127.0.0.1:$NGINX_PORT
redis_cli FLUSHALL >/dev/null
for want in 2 1 0; do
    fetch "$web/limited"
    check_eq "/limited: 200 {\"remaining\":$want}" "200 {\"remaining\":$want}" \
        "$HTTP_STATUS $(body)"
done
fetch "$web/limited"
check_eq "/limited over the limit: 429" \
    '429 {"detail":"Too Many Requests"}' "$HTTP_STATUS $(body)"
ra=$(header_value Retry-After)
check_true "... Retry-After is the rest of the window ($ra s)" \
    test "${ra:-0}" -ge 1 -a "${ra:-0}" -le 3600
check_match "... the window's key expires in Redis" '^[1-9][0-9]*$' \
    "$(redis_cli --scan --pattern 'demo:limited:*' | head -n 1 |
       xargs redis-cli -h 127.0.0.1 -p "$REDIS_PORT" TTL)"

fetch "$web/cache/items/7"
check_eq "/cache/items/7 first: the slow work (miss)" \
    '200 miss {"item_id":7,"data":"some data"}' \
    "$HTTP_STATUS $(header_value X-Cache) $(body)"
fetch "$web/cache/items/7"
check_eq "/cache/items/7 again: from Redis (hit)" \
    '200 hit {"item_id":7,"data":"some data"}' \
    "$HTTP_STATUS $(header_value X-Cache) $(body)"
ttl=$(redis_cli TTL demo:item:7)
check_true "... cached with a TTL ($ttl s)" test "$ttl" -ge 1 -a "$ttl" -le 60
redis_cli SET demo:item:8 '{"item_id":8,"data":"from redis"}' >/dev/null
fetch "$web/cache/items/8"
check_eq "a hit answers what Redis holds" \
    '200 hit {"item_id":8,"data":"from redis"}' \
    "$HTTP_STATUS $(header_value X-Cache) $(body)"
redis_cli LPUSH demo:item:9 x >/dev/null
out=$(client request "$app" GET /cache/items/9)
check_match "a key of the wrong type: 500, the error kept in the log" \
    $'^Status: 500 .*\\{"detail":"Internal Server Error"\\}$' "$out"
check_true "... logged" grep -q 'Redis answered an error: WRONGTYPE' \
    "$EVFCGID_LOG"

# Concurrent requests share the worker's connection (pipelined).
out=$(client multiplex "$app" 200 /cache/items/7 || true)
check_eq "200 concurrent cache hits on one connection" \
    "ok 200 status=200" "$out"
clients=$(redis_cli CLIENT LIST | grep -vc 'cmd=client' || true)
check_eq "... over one Redis connection per worker" 1 "$clients"

# ---- Killed mid-run, then restarted on the same port.
stop_pid "$REDIS_PID" KILL
out=$(client request "$app" GET /cache/items/7)
check_match "Redis killed: 503" $'^Status: 503 ' "$out"
check_true "... the lost connection is logged" \
    grep -q 'Redis unavailable: connection lost' "$EVFCGID_LOG"
start_redis "$port"
wait_for "/cache/items/7 answers 200 after the restart" 10 \
    is_200 "$app" /cache/items/7
pass "Redis restarted: the worker reconnects"
fetch "$web/cache/items/7"
check_eq "... and caches again" "200 hit" "$HTTP_STATUS $(header_value X-Cache)"
assert_alive "$EVFCGID_PID" "Redis killed and restarted"

# ---- Redis stops answering mid-command (SIGSTOP).
start_evfcgid_tcp -a "$DEMO_APP" -o "demo:redis_url=$REDIS_URL" \
    --deadline 0.5
dl_app=127.0.0.1:$EVFCGID_PORT
start_evfcgid_tcp -a "$DEMO_APP" -o "demo:redis_url=$REDIS_URL?timeout=0.3"
to_app=127.0.0.1:$EVFCGID_PORT
to_log=$EVFCGID_LOG
wait_for "both instances connected" 10 is_200 "$dl_app" /cache/items/7
wait_for "both instances connected" 10 is_200 "$to_app" /cache/items/7
kill -STOP "$REDIS_PID"
out=$(client request "$dl_app" GET /cache/items/7) || true
out2=$(client request "$to_app" GET /cache/items/7) || true
kill -CONT "$REDIS_PID"
check_match "a deadline during a command: 504" \
    $'^Status: 504 .*\\{"detail":"Gateway Timeout"\\}$' "$out"
check_match "no deadline: the client's timeout drops the connection: 503" \
    $'^Status: 503 ' "$out2"
check_true "... logged" grep -q 'no answer for' "$to_log"
wait_for "answers again once Redis does" 10 is_200 "$to_app" /cache/items/7
pass "after the timeout the worker reconnects"

# ---- A server that is not Redis (nginx answers HTTP): 503, no crash.
start_evfcgid_tcp -a "$DEMO_APP" \
    -o "demo:redis_url=redis://127.0.0.1:$NGINX_PORT"
out=$(client request "127.0.0.1:$EVFCGID_PORT" GET /limited)
check_match "a reply that is not Redis's protocol: 503" $'^Status: 503 ' "$out"
check_true "... the protocol error is logged" grep -q 'Protocol error' \
    "$EVFCGID_LOG"
assert_alive "$EVFCGID_PID" "garbage replies"
