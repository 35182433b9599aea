#!/usr/bin/env bash
#
# bench/stalled.sh - what stalled FastCGI peers cost evfcgid (issue 14,
# item 4), without nginx: tests/integration/stall_peer.py opens the
# connections and holds them.
#
# Scenario 1: IDLE_CONNS (100) connections that send nothing, against
#   max_conns 100: is a new client served while they are held, and how long
#   until the server closes them (idle_timeout).
# Scenario 2: HALF_PARAMS (1000) connections that each send BEGIN_REQUEST
#   and 255 KiB of PARAMS, never the end: the serving process's RSS and
#   descriptors while they are held, how long until they are closed
#   (request_timeout), and RSS after.
# Each scenario waits up to WAIT (90) seconds for the closes; the timeouts
# are the defaults (60 s) unless EVFCGID_ARGS says otherwise.  Works with
# builds that predate the timeouts (compare: EVFCGID=/other/src/evfcgid
# DEMO_APP=/other/apps/.libs/demo.so bench/stalled.sh).
#
# From the build directory:   bench/stalled.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${FCGI_CLIENT:=$top_builddir/tests/tools/fcgi-client}"
: "${IDLE_CONNS:=100}"
: "${HALF_PARAMS:=1000}"
: "${WAIT:=90}"
: "${EVFCGID_ARGS:=}"
need python3
[[ -x $FCGI_CLIENT ]] || { log "SKIP: FCGI_CLIENT='$FCGI_CLIENT' not found"; exit 77; }
peer=$top_srcdir/tests/integration/stall_peer.py

rss_kb() { awk '$1 == "VmRSS:" { print $2; exit }' "/proc/$1/status"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
# Nothing left unread in the server's receive queues on PORT (accepted or
# not yet: both are established).  With a state filter, ss prints no State
# column: Recv-Q is the first.
drained() {
    [[ $(ss -Htn state established "( sport = :$1 )" |
        awk '{ q += $1 } END { print q + 0 }') == 0 ]]
}

# ---- scenario 1 -------------------------------------------------------------
# shellcheck disable=SC2086 # EVFCGID_ARGS: a list of options
start_evfcgid_tcp -a "$DEMO_APP" -w 0 --max-conns "$IDLE_CONNS" $EVFCGID_ARGS
addr=127.0.0.1:$EVFCGID_PORT
pid=$EVFCGID_PID
rss0=$(rss_kb "$pid")
python3 "$peer" idle "$addr" -n "$IDLE_CONNS" -t "$WAIT" \
    --ready "$tmp/ready1" >"$tmp/idle.out" 2>&1 &
idle_pid=$!
poll_until 30 test -s "$tmp/ready1" || fail "the idle peer did not connect"
fds1=$(fd_count "$pid")
t0=$(now_us)
served=$("$FCGI_CLIENT" -t "$WAIT" request "$addr" GET /hello -r 2>&1 || true)
t1=$(now_us)
wait "$idle_pid" || true
idle_result=$(cat "$tmp/idle.out")

stop_pid "$pid"

# ---- scenario 2 -------------------------------------------------------------
# shellcheck disable=SC2086
start_evfcgid_tcp -a "$DEMO_APP" -w 0 $EVFCGID_ARGS
addr=127.0.0.1:$EVFCGID_PORT
pid=$EVFCGID_PID
rss1=$(rss_kb "$pid")
python3 "$peer" half-params "$addr" -n "$HALF_PARAMS" -b $((255 * 1024)) \
    -t "$WAIT" --ready "$tmp/ready2" >"$tmp/half.out" 2>&1 &
half_pid=$!
t2=$(now_us)
poll_until 120 test -s "$tmp/ready2" || fail "the PARAMS peer did not send"
poll_until 60 drained "$EVFCGID_PORT" || log "receive queues not empty yet"
t3=$(now_us)
rss2=$(rss_kb "$pid")
fds2=$(fd_count "$pid")
wait "$half_pid" || true
half_result=$(cat "$tmp/half.out")
rss3=$(rss_kb "$pid")

printf '\nevfcgi bench: stalled peers (%s -w 0 %s)\n' "$EVFCGID" \
    "$EVFCGID_ARGS"
printf 'scenario 1: %s idle connections at max_conns %s\n' "$IDLE_CONNS" "$IDLE_CONNS"
printf '  server fds while held    %s\n' "$fds1"
printf '  new client /hello        %s after %s ms\n' "${served//$'\n'/ }" \
    "$(((t1 - t0) / 1000))"
printf '  idle peer                %s (waited at most %s s)\n' "$idle_result" "$WAIT"
printf 'scenario 2: %s unfinished 255 KiB PARAMS streams (max_conns: default)\n' \
    "$HALF_PARAMS"
printf '  RSS before / held / after  %s / %s / %s KiB\n' "$rss1" "$rss2" "$rss3"
printf '  server fds while held    %s (all sent and read %s ms after the start)\n' \
    "$fds2" "$(((t3 - t2) / 1000))"
printf '  PARAMS peer              %s (waited at most %s s)\n' "$half_result" "$WAIT"
printf '  (RSS at start of scenario 1: %s KiB)\n' "$rss0"
