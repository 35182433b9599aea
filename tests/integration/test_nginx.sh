#!/usr/bin/env bash
#
# evfcgid behind a real nginx: the demo app's routes over TCP, a unix socket
# and (where ::1 exists) IPv6; upstream keep-alive; a client that gives up
# mid-request.
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_nginx.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need curl
need sha256sum
need_daemon

# ---------------------------------------------------------------------------
# Checks. Each takes the base URL of the nginx in front of the daemon.



# An empty POST body is a classic edge case (no FCGI_STDIN data records,
# only the terminating empty one).
check_echo_empty() {
    local base=$1
    fetch -X POST --data-binary '' -H 'Content-Type: text/plain' "$base/echo"
    check_eq "POST /echo empty: status" 200 "$HTTP_STATUS"
    check_eq "POST /echo empty: body length" 0 "$(wc -c <"$tmp/body" | tr -d ' ')"
}

# A Content-Type reflected by /echo must not add headers of its own: the
# request goes out raw (curl cuts -H values at CR/LF), one variant per
# way a line can end; whatever nginx makes of it, no Set-Cookie and no
# second Content-Length reach the client.  nginx splits or refuses CR and
# LF itself; a control byte it passes on makes the answer a 500.
check_echo_injection() {
    local base=$1 hostport=${1#http://} v out
    for v in 'a\r\nSet-Cookie: x=1' 'a\rSet-Cookie: x=1' 'a\nSet-Cookie: x=1' \
        'a\x01Set-Cookie: x=1'; do
        out=$(python3 - "$hostport" "$v" <<'PY'
import socket, sys
host, port = sys.argv[1].split(':')
ctype = sys.argv[2].encode().decode('unicode_escape').encode('latin-1')
s = socket.create_connection((host, int(port)), timeout=30)
s.sendall(b'POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n'
          b'Content-Type: ' + ctype + b'\r\nContent-Length: 2\r\n\r\nhi')
data = b''
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
head = data.split(b'\r\n\r\n', 1)[0].decode('latin-1')
print(head.split('\r\n', 1)[0])
for line in head.split('\r\n')[1:]:
    if line.lower().startswith(('set-cookie', 'content-length')):
        print(line)
PY
)
        log "Content-Type '$v': $(tr '\n' '|' <<<"$out")"
        check_true "Content-Type '$v': no Set-Cookie" \
            bash -c '! grep -qi "^set-cookie" <<<"$1"' _ "$out"
        check_true "Content-Type '$v': at most one Content-Length" \
            test "$(grep -ci '^content-length' <<<"$out")" -le 1
    done
    check_match "Content-Type with a control byte: 500" '^HTTP/1.1 500 ' "$out"
}

check_big() {
    local base=$1 out
    # 50 MB: far more than any buffer on the way, so the daemon must cope
    # with a peer that is slower than it (write readiness, partial writes).
    out=$(curl_ -o /dev/null -w '%{http_code} %{size_download} %{content_type}' "$base/big?bytes=50000000") ||
        not_ok "GET /big?bytes=50000000: curl exit status $?"
    check_eq "GET /big?bytes=50000000: status" 200 "${out%% *}"
    out=${out#* }
    check_eq "GET /big?bytes=50000000: size" 50000000 "${out%% *}"
    check_match "GET /big?bytes=50000000: Content-Type" '^text/plain' "${out#* }"

    fetch "$base/big?bytes=0"
    check_eq "GET /big?bytes=0: status" 200 "$HTTP_STATUS"
    check_eq "GET /big?bytes=0: size" 0 "$(wc -c <"$tmp/body" | tr -d ' ')"

    fetch "$base/big?bytes=100000"
    check_eq "GET /big?bytes=100000: size" 100000 "$(wc -c <"$tmp/body" | tr -d ' ')"

    # A slow client: 3 MB at 3 MB/s. nginx buffers little (no temp file),
    # so evfcgid spends about a second blocked on a full socket, resuming
    # the stream each time it drains. Compare content, not only size.
    fetch "$base/big?bytes=3000000"
    cp "$tmp/body" "$tmp/big.fast"
    fetch --limit-rate 3M "$base/big?bytes=3000000"
    check_eq "GET /big?bytes=3000000 at 3 MB/s: status" 200 "$HTTP_STATUS"
    check_eq "GET /big?bytes=3000000 at 3 MB/s: size" 3000000 "$(wc -c <"$tmp/body" | tr -d ' ')"
    check_true "GET /big?bytes=3000000: same bytes read slowly and fast" cmp -s "$tmp/big.fast" "$tmp/body"
}

body_detail_is_array() { jq -e '.detail | type == "array"' "$tmp/body" >/dev/null; }

# Out-of-range and malformed parameters: 422 with a FastAPI-style body,
# {"detail": [ ...validation errors... ]}.
check_validation() {
    local base=$1 q
    for q in 'bytes=100000001' 'bytes=-1' 'bytes=abc' ''; do
        fetch "$base/big${q:+?$q}"
        check_eq "GET /big?$q: status" 422 "$HTTP_STATUS"
        check_match "GET /big?$q: Content-Type" '^application/json' "$HTTP_CTYPE"
        check_match "GET /big?$q: JSON body with a detail list" '^\{[[:space:]]*"detail"[[:space:]]*:[[:space:]]*\[' "$(body)"
        if command -v jq >/dev/null 2>&1; then
            check_true "GET /big?$q: body is valid JSON, detail is an array" body_detail_is_array
        fi
    done
}



# GET /items/{id}: the app awaits 100 ms, then answers. A non-integer id is
# a validation error (422), as in FastAPI, not a 404.
check_items() {
    local base=$1 out t
    fetch "$base/items/7"
    check_eq "GET /items/7: status" 200 "$HTTP_STATUS"
    check_eq "GET /items/7: body" '{"item_id":7,"data":"some data"}' "$(body)"
    check_eq "GET /items/7: Content-Type" application/json "$HTTP_CTYPE"
    fetch "$base/items/abc"
    check_eq "GET /items/abc: status" 422 "$HTTP_STATUS"
    check_match "GET /items/abc: JSON body with a detail list" '^\{[[:space:]]*"detail"[[:space:]]*:[[:space:]]*\[' "$(body)"

    # The awaits must overlap: 50 concurrent requests through nginx (50
    # upstream connections) should take about 0.1 s, not 50 x 0.1 s.
    local cfg=$tmp/items.curl i
    : >"$cfg"
    for ((i = 1; i <= 50; i++)); do
        printf 'url = "%s/items/%d"\noutput = "/dev/null"\n' "$base" "$i" >>"$cfg"
    done
    t=$(date +%s%N)
    # (curl 7.88 shows a progress meter in parallel mode despite -s)
    out=$(curl_ --no-progress-meter --parallel --parallel-max 50 -K "$cfg" -w '%{http_code}\n' | sort | uniq -c | sed 's/^ *//') || true
    t=$((($(date +%s%N) - t) / 1000000))
    check_eq "50 concurrent GET /items/N: all 200" "50 200" "$out"
    check_true "50 concurrent GET /items/N overlap (took ${t} ms; want < 2000, serial would be 5000)" \
        test "$t" -lt 2000
}

check_sleep() {
    local base=$1
    fetch "$base/sleep?ms=100"
    check_eq "GET /sleep?ms=100: status" 200 "$HTTP_STATUS"
    check_eq "GET /sleep?ms=100: body" '{"slept_ms":100}' "$(body)"
}

# SIGQUIT while a request is in flight: the daemon stops accepting, lets
# the request finish (its 1 s sleep), answers it, and exits with status 0.
# ADDR is the daemon's, whose status page says when the request is in.
check_graceful_stop() {
    local base=$1 daemon=$2 addr=$3 curl_pid code
    spawn_bg other "curl /sleep during graceful stop" "$tmp/graceful.out" \
        curl_ -o "$tmp/graceful.body" -w '%{http_code}' "$base/sleep?ms=1000"
    curl_pid=$LAST_PID
    poll_until 10 in_flight "$addr" "GET /sleep" ||
        fail "graceful stop: GET /sleep?ms=1000 never reached the app"
    stop_pid "$daemon" QUIT
    check_eq "graceful stop: evfcgid exit status after SIGQUIT" 0 "$STOP_STATUS"
    wait_pid "$curl_pid"
    code=$(<"$tmp/graceful.out")
    check_eq "graceful stop: in-flight GET /sleep?ms=1000 answered" '200 {"slept_ms":1000}' \
        "$code $(cat "$tmp/graceful.body" 2>/dev/null)"
}

# Count TCP connections between nginx and the daemon in a given state.
upstream_conns() {
    local state=$1 port=$2
    ss -Htn state "$state" "( sport = :$port or dport = :$port )" 2>/dev/null | wc -l
}

# 200 sequential requests from one curl (one client connection). With
# fastcgi_keep_conn + upstream keepalive, nginx should reuse one connection to
# evfcgid rather than open (and leave in TIME-WAIT) one per request.
check_keepalive() {
    local base=$1 port=${2:-} cfg=$tmp/keepalive.curl i codes tw_before tw_after
    : >"$cfg"
    for ((i = 0; i < 200; i++)); do
        printf 'url = "%s/hello"\noutput = "/dev/null"\n' "$base" >>"$cfg"
    done
    [[ -n $port ]] && command -v ss >/dev/null && tw_before=$(upstream_conns time-wait "$port")
    codes=$(curl_ -K "$cfg" -w '%{http_code}\n' | sort | uniq -c | sed 's/^ *//') || true
    check_eq "200 sequential GET /hello: all 200" "200 200" "$codes"
    if [[ -n $port ]] && command -v ss >/dev/null; then
        tw_after=$(upstream_conns time-wait "$port")
        check_true "upstream connection reused (TIME-WAIT on :$port grew by $((tw_after - tw_before)) over 200 requests; want < 10)" \
            test $((tw_after - tw_before)) -lt 10
        check_true "upstream keep-alive connection still open after the requests" \
            test "$(upstream_conns established "$port")" -ge 1
    fi
}

# A client that gives up while the app is still working: nginx then closes
# its connection to evfcgid in the middle of a request. The daemon must drop
# that request cleanly - and in particular not touch it when the app's timer
# fires later.
check_client_abort() {
    local base=$1 addr=$2 out rc=0
    out=$(curl_ --max-time 0.3 -o /dev/null -w '%{http_code}' "$base/sleep?ms=3000" 2>/dev/null) || rc=$?
    if ((rc == 28)); then
        pass "client gave up on GET /sleep?ms=3000 after 0.3 s (curl timeout)"
    else
        not_ok "client abort on GET /sleep?ms=3000" "expected curl timeout (exit 28)" "got exit $rc, status '$out'"
    fi
    check_hello "$base" "after client abort: "
    # The aborted request leaves (cancelled, or at the latest when its 3 s
    # sleep would end), and the daemon is still fine afterwards.
    check_true "the aborted GET /sleep?ms=3000 is no longer in flight" \
        poll_until 10 not in_flight "$addr" "GET /sleep"
    check_hello "$base" "after the aborted request left: "
}

# ---------------------------------------------------------------------------
# 1. TCP upstream: everything.

start_evfcgid_tcp -a "$DEMO_APP" --status-path /status
tcp_daemon=$EVFCGID_PID
tcp_port=$EVFCGID_PORT
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$tcp_port"
tcp_nginx=$NGINX_PID
base=http://127.0.0.1:$NGINX_PORT
log "phase 1: nginx :$NGINX_PORT -> evfcgid 127.0.0.1:$tcp_port"

# step CHECK ARGS...: run one group of checks, then stop the test if the
# daemon did not survive it (later checks would only repeat the failure).
step() {
    "$@"
    require_alive "$daemon" "after $1"
}

daemon=$tcp_daemon
step check_hello "$base"
step check_echo "$base"
step check_echo_empty "$base"
step check_echo_injection "$base"
step check_big "$base"
step check_validation "$base"
step check_not_found "$base"
step check_method_not_allowed "$base"
step check_items "$base"
step check_sleep "$base"
step check_keepalive "$base" "$tcp_port"
step check_client_abort "$base" "127.0.0.1:$tcp_port"

# ---------------------------------------------------------------------------
# 2. Unix socket upstream.

sock=$(sock_path evf.sock)
start_evfcgid -l "unix:$sock" -a "$DEMO_APP" --status-path /status
unix_daemon=$EVFCGID_PID
start_nginx "$NGINX_CONF_TEMPLATE" "unix:$sock"
base=http://127.0.0.1:$NGINX_PORT
log "phase 2: nginx :$NGINX_PORT -> evfcgid unix:$sock"

daemon=$unix_daemon
step check_hello "$base" "unix: "
step check_echo "$base" "unix: "

check_graceful_stop "$base" "$unix_daemon" "unix:$sock"
stop_pid "$NGINX_PID"

# ---------------------------------------------------------------------------
# 3. IPv6 upstream, where the loopback has ::1.

if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
    v6port=$(free_port)
    start_evfcgid -l "[::1]:$v6port" -a "$DEMO_APP"
    start_nginx "$NGINX_CONF_TEMPLATE" "[::1]:$v6port"
    log "phase 3: nginx :$NGINX_PORT -> evfcgid [::1]:$v6port"
    check_hello "http://127.0.0.1:$NGINX_PORT" "ipv6: "
else
    log "no ::1 on this machine; IPv6 listen address not tested"
fi

# Fast stop (SIGTERM) of the TCP daemon: exit status 0 expected too.
stop_pid "$tcp_nginx"
stop_pid "$tcp_daemon" TERM
check_eq "tcp: evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
