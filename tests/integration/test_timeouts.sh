#!/usr/bin/env bash
#
# Stalled peers (issue 14, item 4): idle_timeout closes a connection with
# no request and no bytes; request_timeout closes one holding half a
# record, or a request whose PARAMS or STDIN never ends;
# max_requests_in_flight answers FCGI_OVERLOADED past the cap.  The status
# page counts each.  Before these existed every such peer was kept forever.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
need python3
peer() { python3 "$top_srcdir/tests/integration/stall_peer.py" "$@"; }

start_evfcgid_tcp -a "$DEMO_APP" -w 1 --status-path /status \
    --idle-timeout 1 --request-timeout 1.5 --max-requests-in-flight 5
addr=127.0.0.1:$EVFCGID_PORT

# Each peer waits up to 30 s for the server to close its connections: the
# timeouts are 1 and 1.5 s, so only a server that never closes fails.
check_match "idle connections are closed" '^closed 3 of 3' \
    "$(peer idle "$addr" -n 3 -t 30 || true)"
check_match "half a record header is closed" '^closed 1 of 1' \
    "$(peer half-record "$addr" -t 30 || true)"
check_match "an unfinished PARAMS stream is closed" '^closed 2 of 2' \
    "$(peer half-params "$addr" -n 2 -b 200000 -t 30 || true)"
check_match "an unfinished body is closed" '^closed 1 of 1' \
    "$(peer half-stdin "$addr" -t 30 || true)"

# A request in flight longer than idle_timeout keeps its connection.
check_eq "a request longer than idle_timeout is answered" "status=200 bytes=17" \
    "$("$FCGI_CLIENT" -t 20 request "$addr" GET '/sleep?ms=2500' -r -k || true)"

# Past the cap, FCGI_OVERLOADED; the others are served.
check_eq "requests past max_requests_in_flight are refused" \
    "complete 5 overloaded 3 other 0" \
    "$(peer overload "$addr" -n 8 -u '/sleep?ms=1000' -t 30 || true)"

status=$("$FCGI_CLIENT" -t 10 request "$addr" GET /status || true)
count() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$status"; }
check_true "the status page counts idle closes" \
    test "$(count 'closed idle')" -ge 3
check_true "the status page counts request timeouts" \
    test "$(count 'closed request timeout')" -ge 4
check_eq "the status page counts FCGI_OVERLOADED answers" 3 \
    "$(count 'rejected overload')"
check_true "half a record is what request_timeout saw" \
    grep -q 'request_timeout (a record incomplete)' "$EVFCGID_LOG"
assert_alive "$EVFCGID_PID" "after the stalled peers"
