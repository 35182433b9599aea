#!/usr/bin/env bash
#
# Quiet failures (issue 14, item 10).
# a. Log writes that fail (/dev/full: disk full) are counted on the status
#    page, and reported on stderr at most once per 10 s per process; they
#    used to vanish.
# b. With few descriptors (rlimit_files 64), max_conns is capped below the
#    limit, leaving a reserve for the app's own clients: a worker crowded
#    with idle connections still fetches /external-data (it answered 502,
#    "Couldn't connect" in the log, for want of a descriptor).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
need python3
[[ -w /dev/full ]] || { log "SKIP: no writable /dev/full"; exit 77; }

# ---- a --------------------------------------------------------------------
start_evfcgid_tcp -a "$DEMO_APP" -w 1 --status-path /status \
    --log /dev/full --access-log /dev/full
addr=127.0.0.1:$EVFCGID_PORT
for _ in $(seq 20); do
    "$FCGI_CLIENT" -t 10 request "$addr" GET /hello >/dev/null
done
# A protocol error: the worker writes a warning to the error log.
"$FCGI_CLIENT" -t 10 garbage "$addr" bad-version >/dev/null || true
status=$("$FCGI_CLIENT" -t 10 request "$addr" GET /status || true)
count() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" <<<"$status"; }
check_true "failed access log writes are counted" \
    test "$(count 'access log write errors')" -ge 20
check_true "failed error log writes are counted" \
    test "$(count 'error log write errors')" -ge 1
check_true "the failure is reported on stderr" \
    grep -q 'cannot write to the access log: No space left on device' \
    "$EVFCGID_LOG"
# Rate-limited: at most one line per process and file in 10 s (21 access
# log writes failed).
reports() {
    grep -o 'evfcgid\[[0-9]*\]: error: cannot write to the [a-z]* log' \
        "$EVFCGID_LOG" | sort | uniq -d
}
check_eq "... at most once per process and file" "" "$(reports)"
stop_pid "$EVFCGID_PID"

# ---- b --------------------------------------------------------------------
mkdir "$tmp/www"
echo '{"up":true}' >"$tmp/www/data.json"
up_port=$(free_port)
spawn_bg other upstream "$tmp/upstream.log" python3 -m http.server \
    --bind 127.0.0.1 --directory "$tmp/www" "$up_port"
wait_listening "$LAST_PID" "127.0.0.1:$up_port" ||
    fail "the upstream did not listen"

start_evfcgid_tcp -a "$DEMO_APP" -w 1 --rlimit-files 64 \
    -o "demo:upstream_url=http://127.0.0.1:$up_port/data.json"
addr=127.0.0.1:$EVFCGID_PORT
check_true "the capped max_conns is logged" \
    grep -qE 'open files limit is 64: serving at most [0-9]+ connections' \
    "$EVFCGID_LOG"
out=$(python3 "$top_srcdir/tests/integration/stall_peer.py" crowded \
    "$addr" -n 80 -u /external-data -t 30 || true)
check_eq "a worker crowded with connections still reaches its upstream" \
    "status 200" "$out"
check_true "... with no connect error in the log" \
    not grep -q "Couldn't connect" "$EVFCGID_LOG"
