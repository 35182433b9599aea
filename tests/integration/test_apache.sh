#!/usr/bin/env bash
#
# evfcgid behind a real Apache httpd (mod_proxy_fcgi, ProxyPass ... fcgi://,
# enablereuse=on) over TCP and a unix socket: the demo app's routes, and
# the same answers as behind nginx for the same URIs. Apache and nginx fill
# SCRIPT_NAME/PATH_INFO differently; evfcgid routes on REQUEST_URI, so the
# path (percent-encoding, query string) must come out the same.
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_apache.sh
# Knobs: APACHE, APACHE_MODULES, APACHE_USER (see lib.sh).

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need_apache
need curl
need sha256sum
need_daemon

APACHE_CONF_TEMPLATE=$LIB_DIR/apache.conf.in

# ---------------------------------------------------------------------------
# Checks. Each takes the base URL of the web server and a label prefix.

check_hello() {
    local base=$1 what="${2}GET /hello"
    fetch "$base/hello"
    check_eq "$what: status" 200 "$HTTP_STATUS"
    check_eq "$what: body" '{"message":"hello"}' "$(body)"
    check_eq "$what: Content-Type" application/json "$HTTP_CTYPE"
}

# 1 MB of random bytes: many FastCGI STDIN records, binary content.
check_echo() {
    local base=$1 what="${2}POST /echo 1 MB" in=$tmp/echo.in
    [[ -f $in ]] || head -c 1048576 /dev/urandom >"$in"
    fetch -X POST --data-binary "@$in" -H 'Content-Type: application/x-evfcgi-test' "$base/echo"
    check_eq "$what: status" 200 "$HTTP_STATUS"
    check_eq "$what: body length" 1048576 "$(wc -c <"$tmp/body" | tr -d ' ')"
    check_eq "$what: body sha256" "$(sha256sum <"$in" | cut -d' ' -f1)" "$(sha256sum <"$tmp/body" | cut -d' ' -f1)"
    check_eq "$what: Content-Type echoed" application/x-evfcgi-test "$HTTP_CTYPE"
}

# 5 MB streamed under backpressure.
check_big() {
    local base=$1 what="${2}GET /big?bytes=5000000" out
    out=$(curl_ -o "$tmp/big" -w '%{http_code} %{size_download}' "$base/big?bytes=5000000") ||
        not_ok "$what: curl exit status $?"
    check_eq "$what: status and size" "200 5000000" "$out"
    check_eq "$what: content" "$(printf '%s' {a..z} | head -c 26)" "$(head -c 26 "$tmp/big")"
}

ITEMS_422='{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}'

check_items() {
    local base=$1 p=$2
    fetch "$base/items/7"
    check_eq "${p}GET /items/7: status" 200 "$HTTP_STATUS"
    check_eq "${p}GET /items/7: body" '{"item_id":7,"data":"some data"}' "$(body)"
    check_eq "${p}GET /items/7: Content-Type" application/json "$HTTP_CTYPE"

    fetch "$base/items/abc"
    check_eq "${p}GET /items/abc: status" 422 "$HTTP_STATUS"
    check_eq "${p}GET /items/abc: body" "$ITEMS_422" "$(body)"
    check_eq "${p}GET /items/abc: Content-Type" application/json "$HTTP_CTYPE"

    # Percent-encoded path: %37 is '7'. The route sees the decoded path.
    fetch "$base/items/%37"
    check_eq "${p}GET /items/%37: status" 200 "$HTTP_STATUS"
    check_eq "${p}GET /items/%37: body (item 7)" '{"item_id":7,"data":"some data"}' "$(body)"
    fetch "$base/hel%6Co"
    check_eq "${p}GET /hel%6Co: routed to /hello" '200 {"message":"hello"}' "$HTTP_STATUS $(body)"
}

check_not_found() {
    local base=$1 p=$2
    fetch "$base/no/such/path"
    check_eq "${p}GET /no/such/path: status" 404 "$HTTP_STATUS"
    check_eq "${p}GET /no/such/path: body" '{"detail":"Not Found"}' "$(body)"
}

check_method_not_allowed() {
    local base=$1 p=$2
    fetch -X POST --data-binary 'x' "$base/hello"
    check_eq "${p}POST /hello: status" 405 "$HTTP_STATUS"
    check_eq "${p}POST /hello: body" '{"detail":"Method Not Allowed"}' "$(body)"
    check_match "${p}POST /hello: Allow header lists GET" '(^|[ ,])GET($|[ ,])' "$(header_value Allow)"
}

# The query string reaches the app undamaged: '+' and %20 both decode to a
# space (the 422 body echoes the decoded input), %31%30 is "10", and a
# query on a path route does not disturb routing.
check_query() {
    local base=$1 p=$2
    fetch "$base/sleep?ms=a+b%20c"
    check_eq "${p}GET /sleep?ms=a+b%20c: status" 422 "$HTTP_STATUS"
    check_eq "${p}GET /sleep?ms=a+b%20c: input decoded" \
        '{"detail":[{"type":"int_parsing","loc":["query","ms"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"a b c"}]}' \
        "$(body)"
    fetch "$base/sleep?x=a+b&ms=%31%30"
    check_eq "${p}GET /sleep?x=a+b&ms=%31%30" '200 {"slept_ms":10}' "$HTTP_STATUS $(body)"
    fetch "$base/items/8?q=a+b%20c"
    check_eq "${p}GET /items/8?q=a+b%20c" '200 {"item_id":8,"data":"some data"}' "$HTTP_STATUS $(body)"
}

run_suite() {
    local base=$1 p=$2
    check_hello "$base" "$p"
    check_echo "$base" "$p"
    check_big "$base" "$p"
    check_items "$base" "$p"
    check_not_found "$base" "$p"
    check_method_not_allowed "$base" "$p"
    check_query "$base" "$p"
    require_alive "$EVFCGID_PID" "${p}after the route suite"
}

# Every URI answered byte for byte alike (status, Content-Type, Allow, body)
# by the two web servers in front of the same daemon: encoded characters
# (%3F is a '?' inside the path, %25 a '%'), UTF-8, and dot segments and
# double slashes, which neither server normalizes in REQUEST_URI (curl
# --path-as-is sends them as they are).
PARITY_URIS=(
    /hello /hel%6Co /items/7 /items/%37 /items/%37%37 /items/abc /items/-3
    /items/7?q=a+b%20c /no/such/path /items /items/ /sleep?ms=a+b%20c
    '/sleep?x=a+b&ms=%31%30' '/sleep?ms=1%2B1' /big?bytes=26 /gather
    '/events?n=2&interval_ms=0' /items/7%3Fx /items/%E2%82%AC /items/7%25
    /a/../hello /./hello //hello /hello/
)
answer() {
    local out
    out=$(curl_ --path-as-is -o "$tmp/parity.body" -D "$tmp/parity.headers" -w '%{http_code} %{content_type}' "$@") ||
        out="curl exit status $?"
    printf '%s allow=%s %s' "$out" \
        "$(grep -i '^allow:' "$tmp/parity.headers" | sed -e 's/^[^:]*:[[:space:]]*//' -e 's/\r$//')" \
        "$(cat "$tmp/parity.body")"
}
check_parity() {
    local apache=$1 nginx=$2 u
    for u in "${PARITY_URIS[@]}"; do
        check_eq "same answer behind Apache and nginx: GET $u" "$(answer "$nginx$u")" "$(answer "$apache$u")"
    done
    check_eq "same answer behind Apache and nginx: POST /hello" \
        "$(answer -X POST --data-binary x "$nginx/hello")" "$(answer -X POST --data-binary x "$apache/hello")"
}

# stop_apache PID: SIGTERM to the parent must take its children along.
stop_apache() {
    local pid=$1 what=$2 kids k left=
    kids=$(descendants "$pid")
    check_true "$what: Apache runs children (pid $pid has: ${kids//$'\n'/ })" test -n "$kids"
    stop_pid "$pid" TERM
    check_eq "$what: Apache exit status after SIGTERM" 0 "$STOP_STATUS"
    # stop_pid waited for them (and killed any that stayed).
    check_eq "$what: no Apache child outlived the parent" "" "${_pid_orphans[$pid]:-}"
    for k in $kids; do is_alive "$k" && left+=" $k"; done
    check_eq "$what: Apache children gone" "" "$left"
}

# Apache logs proxy trouble (backend refused, reset, malformed headers) as
# [proxy:error] / [proxy_fcgi:error]; none is expected.
check_apache_log() {
    local f=$1 what=$2 bad
    bad=$(grep -E '\[[a-z_0-9]*:(error|crit|alert|emerg)\]' "$f" || true)
    check_eq "$what: no errors in Apache's error log" "" "$bad"
}

# ---------------------------------------------------------------------------
# 1. TCP: ProxyPass "/" "fcgi://127.0.0.1:PORT/" enablereuse=on

start_evfcgid_tcp -a "$DEMO_APP"
tcp_daemon=$EVFCGID_PID
start_apache "$APACHE_CONF_TEMPLATE" "fcgi://127.0.0.1:$EVFCGID_PORT/"
tcp_apache=$APACHE_PID
tcp_apache_log=$APACHE_ERROR_LOG
log "phase 1: Apache :$APACHE_PORT -> evfcgid 127.0.0.1:$EVFCGID_PORT"
run_suite "http://127.0.0.1:$APACHE_PORT" "tcp: "

# The same daemon behind nginx as well: the answers must not differ.
if command -v "$NGINX" >/dev/null 2>&1; then
    start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
    log "nginx :$NGINX_PORT -> the same evfcgid, for comparison"
    check_parity "http://127.0.0.1:$APACHE_PORT" "http://127.0.0.1:$NGINX_PORT"
    stop_pid "$NGINX_PID"
else
    log "nginx not found: Apache/nginx comparison skipped"
fi

stop_apache "$tcp_apache" tcp
check_apache_log "$tcp_apache_log" tcp

# ---------------------------------------------------------------------------
# 2. Unix socket: ProxyPass "/" "unix:/path|fcgi://localhost/" enablereuse=on
# Apache's children run as another user when we are root: the socket lives
# in a directory they can reach and is created with mode 0666.

sock=$(apache_sock_path evf.sock)
start_evfcgid -l "unix:$sock" -m 0666 -a "$DEMO_APP"
start_apache "$APACHE_CONF_TEMPLATE" "unix:$sock|fcgi://localhost/"
log "phase 2: Apache :$APACHE_PORT -> evfcgid unix:$sock"
run_suite "http://127.0.0.1:$APACHE_PORT" "unix: "
stop_apache "$APACHE_PID" unix
check_apache_log "$APACHE_ERROR_LOG" unix

stop_pid "$EVFCGID_PID" TERM
check_eq "unix: evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
stop_pid "$tcp_daemon" TERM
check_eq "tcp: evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
