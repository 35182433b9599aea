#!/usr/bin/env bash
#
# The seed's dependency example end to end: GET /external-data resolves a
# dependency that fetches JSON from an upstream with the async HTTP client.
# The upstream is real: nginx in front of a second evfcgid whose /sleep
# route answers JSON after a delay we choose.  Checks success, upstream
# down (502), upstream slower than the deadline (504), a client that leaves
# mid-fetch (the upstream sees its connection closed: nginx logs 499),
# HTTP/2 multiplexing to an https upstream, the per-call cap on an answer's
# size, and the nested dependency chain of /deps-demo with its teardowns.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
need "$NGINX"
[[ -x ${FCGI_CLIENT:-} ]] || { log "ERROR: FCGI_CLIENT not set"; exit 99; }
client() { "$FCGI_CLIENT" -t 15 "$@"; }

# The upstream API: evfcgid (demo) behind nginx.
start_evfcgid_tcp -a "$DEMO_APP"
h1_port=$EVFCGID_PORT
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
up="http://127.0.0.1:$NGINX_PORT"
up_log=$NGINX_DIR/access.log

# The app under test, pointed at it through its app option.
start_app() {
    start_evfcgid_tcp -a "$DEMO_APP" -o "demo:upstream_url=$1" "${@:2}"
    app=127.0.0.1:$EVFCGID_PORT
}

start_app "$up/sleep?ms=100"
out=$(client request "$app" GET /external-data)
check_match "external data through the dependency" \
    $'Status: 200 OK\r\n.*\r\n\r\n\\{"source":"external","data":\\{"slept_ms":100\\}\\}$' \
    "$out"

# Many at once share the loop: 50 requests of 100 ms upstream latency.
t0=$(date +%s%N)
out=$(client multiplex "$app" 50 /external-data || true)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_eq "50 concurrent /external-data" "ok 50 status=200" "$out"
check_true "... overlap on one loop (${ms} ms; serial would be 5000)" \
    test "$ms" -lt 2000

# HTTP/2 to an https upstream (ALPN; a throwaway CA-less self-signed
# certificate given as the CA): the 50 concurrent requests share one
# multiplexed connection instead of 50.
need openssl
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$tmp/h2.key" \
    -out "$tmp/h2.pem" 2>"$tmp/openssl.log" || fail "openssl req: $(cat "$tmp/openssl.log")"
h2_conf=$tmp/nginx-h2.conf.in
sed "s|listen 127.0.0.1:@PORT@ backlog=4096;|listen 127.0.0.1:@PORT@ backlog=4096 ssl http2; ssl_certificate $tmp/h2.pem; ssl_certificate_key $tmp/h2.key;|" \
    "$NGINX_CONF_TEMPLATE" >"$h2_conf"
grep -q ' ssl http2;' "$h2_conf" || fail "the nginx template has no listen line to give http2"
NGINX_ACCESS_LOG= start_nginx "$h2_conf" "127.0.0.1:$h1_port"   # its own log
h2_port=$NGINX_PORT h2_log=$NGINX_DIR/access.log
start_app "https://127.0.0.1:$h2_port/sleep?ms=100" -o demo:upstream_http2=1 \
    -o "demo:upstream_ca_file=$tmp/h2.pem"
out=$(client multiplex "$app" 50 /external-data || true)
check_eq "HTTP/2: 50 concurrent /external-data" "ok 50 status=200" "$out"
check_true "... the upstream saw 50 HTTP/2 requests" \
    poll_until 10 count_at_least 50 "$h2_log" '"GET /sleep\?ms=100 HTTP/2.0" 200'
n=$(established_on "$h2_port")
check_true "... over one multiplexed connection (open now: $n)" test "$n" -le 2
check_eq "... none over HTTP/1.1" 0 "$(grep -c 'HTTP/1.1' "$h2_log" || true)"
start_app "https://127.0.0.1:$h2_port/sleep?ms=1"
out=$(client request "$app" GET /external-data)
check_match "an unknown CA is refused: 502" $'^Status: 502 ' "$out"

# A per-call cap on the answer's size: {"slept_ms":1} is 15 bytes.
start_app "$up/sleep?ms=1" -o demo:upstream_max_answer=10
out=$(client request "$app" GET /external-data)
check_match "max_answer 10: a 15-byte answer is refused with 502" \
    $'^Status: 502 .*\r\n\r\n\\{"detail":"Bad Gateway"\\}$' "$out"
check_true "... the log says why" \
    poll_until 10 grep -q "upstream answer too large" "$EVFCGID_LOG"
start_app "$up/sleep?ms=1" -o demo:upstream_max_answer=100
out=$(client request "$app" GET /external-data)
check_match "max_answer 100: it passes" '"data":\{"slept_ms":1\}\}$' "$out"

# An answer that is not JSON ("abcdefghij"): 502, each time.
start_app "$up/big?bytes=10"
for i in 1 2; do
    out=$(client request "$app" GET /external-data)
    check_match "upstream answer not JSON ($i): 502" \
        $'^Status: 502 .*\r\n\r\n\\{"detail":"Bad Gateway: the upstream sent invalid JSON"\\}$' "$out"
done

# The environment variable is the default; the app option overrides it.
DEMO_UPSTREAM_URL="$up/sleep?ms=1" start_evfcgid_tcp -a "$DEMO_APP"
out=$(client request "127.0.0.1:$EVFCGID_PORT" GET /external-data)
check_match "DEMO_UPSTREAM_URL is read" '"data":\{"slept_ms":1\}\}$' "$out"

# Upstream down: nothing listens on that port.
dead=$(free_port)
start_app "http://127.0.0.1:$dead/x"
out=$(client request "$app" GET /external-data)
check_match "upstream refused: 502, nothing of the cause" \
    $'^Status: 502 .*\r\n\r\n\\{"detail":"Bad Gateway"\\}$' "$out"
check_true "... the body names neither address nor port" \
    bash -c '! grep -qE "127\.0\.0\.1|$1|[Cc]onnect" <<<"$2"' _ "$dead" "$out"
check_true "... the cause is in the error log" \
    poll_until 10 grep -qE "upstream request failed: .*$dead" "$EVFCGID_LOG"

# Upstream answers an error: raise_for_status gives a plain 502.
start_app "$up/no/such/thing"
out=$(client request "$app" GET /external-data)
check_match "upstream 404: a plain 502" \
    $'^Status: 502 .*\r\n\r\n\\{"detail":"Bad Gateway"\\}$' "$out"
check_true "... the status is in the error log" \
    poll_until 10 grep -q "upstream answered 404" "$EVFCGID_LOG"

# An upstream body over the client's own cap (8 MiB, far below max_body),
# streamed without Content-Length: cut by the running count, a plain 502.
start_app "$up/big?bytes=9000000"
out=$(client request "$app" GET /external-data)
check_match "upstream body over 8 MiB: a plain 502" \
    $'^Status: 502 .*\r\n\r\n\\{"detail":"Bad Gateway"\\}$' "$out"
check_true "... logged as too large" \
    poll_until 10 grep -q "upstream request failed: upstream answer too large" "$EVFCGID_LOG"

# Upstream slower than the request deadline: 504, on time.
start_app "$up/sleep?ms=3000" --deadline 0.5
t0=$(date +%s%N)
out=$(client request "$app" GET /external-data)
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
check_match "upstream slower than the deadline: 504" \
    $'^Status: 504 .*"detail":"Gateway Timeout' "$out"
check_true "... after the deadline (${ms} ms), not the upstream's 3 s" \
    test "$ms" -ge 400 -a "$ms" -lt 2000

# The client leaves mid-fetch: the transfer is aborted, so the upstream's
# nginx sees its client (our curl) close: status 499 in its access log.
start_app "$up/sleep?ms=2500"
before=$(grep -c '"GET /sleep?ms=2500 HTTP/1.1" 499' "$up_log" || true)
client abort "$app" /external-data 300 >/dev/null 2>&1 || true
poll_until 5 count_at_least $((before + 1)) "$up_log" '"GET /sleep\?ms=2500 HTTP/1.1" 499' || true
after=$(grep -c '"GET /sleep?ms=2500 HTTP/1.1" 499' "$up_log" || true)
check_eq "aborting the request closes the upstream connection (499)" \
    $((before + 1)) "$after"
assert_alive "$EVFCGID_PID" "after the aborted fetch"

# Nested dependencies: settings -> session (teardown) -> identity.
out=$(client request "$app" GET /deps-demo -H 'X-User: alice')
check_match "deps chain answers" '\{"user":"alice","session":1,"app":"demo"\}$' "$out"
out=$(client request "$app" GET /deps-demo)
check_match "a dependency raising short-circuits: 401" \
    $'^Status: 401 .*\\{"detail":"Not authenticated"\\}$' "$out"
out=$(client request "$app" GET /deps-demo/stats)
check_match "every session opened was torn down" \
    '\{"sessions_opened":2,"sessions_closed":2\}$' "$out"
