#!/usr/bin/env bash
#
# The HTTP client's connection caches: a worker spreads its upstream
# transfers over several libcurl multi handles once one runs SHARD_FILL
# (128) of them (src/http_client.c).  Checks that 300 concurrent
# /external-data requests over plain HTTP/1.1 (one upstream connection
# each, so three multi handles) all succeed, that a second wave reuses the
# kept connections rather than opening as many again, and that a lone
# request afterwards still works.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
need "$NGINX"
[[ -x ${FCGI_CLIENT:-} ]] || { log "ERROR: FCGI_CLIENT not set"; exit 99; }
client() { "$FCGI_CLIENT" -t 30 "$@"; }

# The upstream: evfcgid (demo) behind nginx, room for 300 connections.
start_evfcgid_tcp -a "$DEMO_APP"
NGINX_WORKER_CONNECTIONS=2048 NGINX_KEEPALIVE=400 \
    start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
up_port=$NGINX_PORT
up_log=$NGINX_DIR/access.log

start_evfcgid_tcp -a "$DEMO_APP" \
    -o "demo:upstream_url=http://127.0.0.1:$up_port/sleep?ms=200"
app=127.0.0.1:$EVFCGID_PORT

out=$(client multiplex "$app" 300 /external-data || true)
check_eq "300 concurrent /external-data over HTTP/1.1" "ok 300 status=200" "$out"
check_true "... the upstream saw 300 requests" \
    poll_until 10 count_at_least 300 "$up_log" '"GET /sleep\?ms=200 HTTP/1.1" 200'
first=$(established_on "$up_port")
check_true "... over about one connection each (open now: $first)" \
    test "$first" -ge 100

out=$(client multiplex "$app" 300 /external-data || true)
check_eq "a second wave of 300" "ok 300 status=200" "$out"
again=$(established_on "$up_port")
check_true "... reuses the kept connections (open: $first, then $again)" \
    test "$again" -le $((first + 30))

out=$(client request "$app" GET /external-data)
check_match "a lone request afterwards" \
    $'Status: 200 OK\r\n.*\r\n\r\n\\{"source":"external","data":\\{"slept_ms":200\\}\\}$' \
    "$out"
assert_alive "$EVFCGID_PID" "after the waves"

