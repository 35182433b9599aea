#!/usr/bin/env bash
#
# A unix socket is never taken from a running instance: a second evfcgid
# on the same path refuses to start (saying why) and the first still
# answers on it; at exit a process removes the socket file only if it is
# still the one it bound (same device and inode), not a successor's.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
[[ -x ${FCGI_CLIENT:-} ]] || { log "ERROR: FCGI_CLIENT not set"; exit 99; }
client() { "$FCGI_CLIENT" -t 15 "$@"; }

sock=$tmp/a.sock
start_evfcgid -l "unix:$sock" -a "$DEMO_APP"
first=$EVFCGID_PID
ino=$(stat -c %i "$sock")

# A second instance on the same path.
spawn_bg evfcgid "second" "$tmp/second.log" "$EVFCGID" -l "unix:$sock" -a "$DEMO_APP"
second=$LAST_PID
check_true "a second instance on the same socket exits" \
    poll_until 10 bash -c '! kill -0 "$1" 2>/dev/null' _ "$second"
stop_pid "$second"
check_true "... with a failure status" test "$STOP_STATUS" -ne 0
check_true "... saying another process listens on it" \
    grep -q "another process is listening" "$tmp/second.log"
check_eq "the socket file is still the first's" "$ino" "$(stat -c %i "$sock" 2>/dev/null || echo gone)"
out=$(client request "unix:$sock" GET /hello || true)
check_match "the first still answers on it" $'Status: 200 OK' "$out"

# The first's file moved away, a successor binds the path: the first's
# exit leaves the successor's socket in place.
mv "$sock" "$tmp/old.sock"
start_evfcgid -l "unix:$sock" -a "$DEMO_APP"
succ=$EVFCGID_PID
stop_pid "$first"
check_true "the first's exit leaves its successor's socket" test -S "$sock"
out=$(client request "unix:$sock" GET /hello || true)
check_match "the successor still answers" $'Status: 200 OK' "$out"
stop_pid "$succ"
check_true "the successor removes its own socket at exit" test ! -e "$sock"
