#!/usr/bin/env bash
#
# FastCGI spoken directly, without a web server: GET_VALUES, unknown
# management types, unknown roles, many requests multiplexed on one
# connection, FCGI_ABORT_REQUEST, and malformed input of every kind, which
# must close only the offending connection while the daemon goes on
# serving.  The client is tests/tools/fcgi-client.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
[[ -x ${FCGI_CLIENT:-} ]] || { log "ERROR: FCGI_CLIENT not set"; exit 99; }

client() { "$FCGI_CLIENT" -t 10 "$@"; }

run_suite() {
    local addr=$1 kind=$2 out rc

    out=$(client get-values "$addr") || rc=$?
    check_eq "$kind: GET_VALUES answers" \
        $'FCGI_MAX_CONNS=500\nFCGI_MAX_REQS=1000000\nFCGI_MPXS_CONNS=1' "$out"

    out=$(client unknown-type "$addr" 99 || true)
    check_eq "$kind: unknown management type gets UNKNOWN_TYPE" \
        "unknown_type 99" "$out"

    out=$(client garbage "$addr" unknown-role || true)
    check_eq "$kind: AUTHORIZER role gets FCGI_UNKNOWN_ROLE" \
        "unknown_role" "$out"

    out=$(client multiplex "$addr" 500 /items/7 || true)
    check_eq "$kind: 500 requests multiplexed on one connection" \
        "ok 500 status=200" "$out"

    out=$(client multiplex "$addr" 50 /nope || true)
    check_eq "$kind: multiplexed 404s" "ok 50 status=404" "$out"

    # The abort arrives 100 ms into a 5 s sleep: END_REQUEST must come at
    # once, with no output, and the connection must go on serving.
    out=$(client abort "$addr" '/sleep?ms=5000' 100 || true)
    check_match "$kind: ABORT_REQUEST ends the request at once" \
        $'^aborted ms=([0-9]{1,3}|1[0-9]{3})\nnext status=200$' "$out"

    # (huge-params, a 0x7fffffff-byte name, is valid FastCGI: that request
    # is answered 431 and the connection kept; see tests/unit/test_intake.)
    local k
    for k in bad-version begin-bad-length unknown-id duplicate-begin \
             stdin-before-params-end random truncated; do
        out=$(client garbage "$addr" "$k" || true)
        check_eq "$kind: malformed input ($k) closes the connection" \
            "closed $k" "$out"
    done

    # ... and nothing else was disturbed.
    out=$(client request "$addr" GET /hello)
    check_match "$kind: still serving after bad input" \
        $'Status: 200 OK.*\r\n\r\n\\{"message":"hello"\\}$' "$out"
    assert_alive "$EVFCGID_PID" "$kind: after malformed input"
}

start_evfcgid_tcp -a "$DEMO_APP" --max-conns 500 --max-reqs 2000
run_suite "127.0.0.1:$EVFCGID_PORT" tcp
tcp_pid=$EVFCGID_PID

# Many malformed connections at once must not flood the log: at most ten
# lines a second, then one summary line, which comes with the first error
# of the next second: keep sending until it is there (at most 5 s).
for i in $(seq 1 40); do
    client garbage "127.0.0.1:$EVFCGID_PORT" bad-version >/dev/null || true
done
garbage_until_summary() {
    client garbage "127.0.0.1:$EVFCGID_PORT" bad-version >/dev/null || true
    grep -q 'more connection errors in the last second were not logged' \
        "$EVFCGID_LOG"
}
poll_until 5 garbage_until_summary || true
lines=$(grep -c 'unsupported FastCGI version' "$EVFCGID_LOG" || true)
check_true "protocol errors are rate-limited in the log ($lines lines)" \
    test "$lines" -le 25
check_true "a summary line counts the errors not logged" \
    grep -q 'more connection errors in the last second were not logged' \
    "$EVFCGID_LOG"

# The limit on requests per connection answers FCGI_OVERLOADED, which the
# client counts as an error; the connection itself survives.
out=$(client multiplex "127.0.0.1:$EVFCGID_PORT" 2001 /hello 2>&1 || true)
check_match "requests over --max-reqs are refused (FCGI_OVERLOADED)" \
    'OVERLOADED|overloaded|protocol status 2' "$out"
assert_alive "$tcp_pid" "after overload"

sock=$(sock_path evf.sock)
start_evfcgid -l "unix:$sock" -a "$DEMO_APP" --max-conns 500 --max-reqs 2000
check_eq "unix socket mode is 0660 by default" "660" \
    "$(stat -c %a "$sock")"
run_suite "unix:$sock" unix

# allowed_clients (and libfcgi's FCGI_WEB_SERVER_ADDRS): a TCP client not in
# the list is closed at once, with one log line; one in it is served.
start_evfcgid_tcp -a "$DEMO_APP" --allowed-clients 192.0.2.7
out=$(client request "127.0.0.1:$EVFCGID_PORT" GET /hello 2>&1 || true)
check_true "a client not in allowed_clients is not served" \
    test -n "$out" -a "${out#*Status: 200}" = "$out"
check_true "... and the refusal is logged" \
    grep -q 'connection from 127.0.0.1 refused: not in allowed_clients' \
    "$EVFCGID_LOG"
FCGI_WEB_SERVER_ADDRS=192.0.2.7,127.0.0.1 start_evfcgid_tcp -a "$DEMO_APP"
out=$(client request "127.0.0.1:$EVFCGID_PORT" GET /hello)
check_match "FCGI_WEB_SERVER_ADDRS listing the client: served" \
    '\{"message":"hello"\}$' "$out"
