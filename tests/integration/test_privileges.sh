#!/usr/bin/env bash
#
# Privileges (issue 14, item 7), started as root with `user = nobody` and
# every file in a root-owned 0755 directory: the pid file is written (it
# was written after the drop, so the daemon exited); the workers run as
# nobody; USR1 creates new log files that the workers write to (they kept
# writing to the rotated files); SIGTERM removes the unix socket and the
# pid file (left behind after the drop); `group` without `user` is refused
# (it was ignored: the process stayed root).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
if [[ $(id -u) != 0 ]] || ! id nobody >/dev/null 2>&1; then
    log "SKIP: needs root and the user nobody"
    exit 77
fi

# The workers (nobody) reopen the logs by path: $tmp must be searchable.
chmod 755 "$tmp"
d=$tmp/priv
mkdir -m 755 "$d" "$d/logs"
sock=$d/s.sock
pidfile=$d/evfcgid.pid
EVFCGID_WAIT_ADDR=unix:$sock start_evfcgid -l "unix:$sock" -m 0666 \
    -a "$DEMO_APP" -w 1 --user nobody --pid-file "$pidfile" \
    --log "$d/logs/error.log" --access-log "$d/logs/access.log"
master=$EVFCGID_PID
elog=$d/logs/error.log

check_true "the pid file is written in a root-owned directory" \
    poll_until 10 test -s "$pidfile"
check_eq "... and names the master" "$master" "$(cat "$pidfile" 2>/dev/null)"
worker_user() {
    local p
    p=$(pgrep -P "$master" | head -n 1)
    [[ -n $p ]] && ps -o user= -p "$p" | tr -d ' '
}
check_true "a worker is up" poll_until 10 test -n "$(worker_user)"
check_eq "the workers run as nobody" nobody "$(worker_user)"

hello() { "$FCGI_CLIENT" -t 10 request "unix:$sock" GET /hello -r; }
check_eq "served" "status=200 bytes=19" "$(hello || true)"

# Rotate: move the files away, USR1, and the new files get the lines.
mv "$elog" "$elog.1"
mv "$d/logs/access.log" "$d/logs/access.log.1"
kill -USR1 "$master"
check_true "USR1: the master creates a new error log" \
    poll_until 10 test -e "$elog"
check_true "USR1: the worker reopens it too" \
    poll_until 10 count_at_least 2 "$elog" 'USR1: log files reopened'
check_eq "served after USR1" "status=200 bytes=19" "$(hello || true)"
check_true "the access line goes to the new access log" \
    poll_until 10 grep -q '"GET /hello"' "$d/logs/access.log"
check_true "no reopen failure" not grep -q 'cannot reopen' "$elog" "$elog.1"

stop_pid "$master"
check_eq "stopped by SIGTERM: exit status" 0 "$STOP_STATUS"
check_true "the unix socket is removed at stop" test ! -e "$sock"
check_true "the pid file is removed at stop" test ! -e "$pidfile"

# group without user: refused at start and by -t, with a clear message.
rc=0
out=$("$EVFCGID" -l "unix:$d/g.sock" -a "$DEMO_APP" --group nogroup -t 2>&1) ||
    rc=$?
check_eq "-t refuses group without user: exit status" 1 "$rc"
check_match "... and says why" 'group nogroup is set without user' "$out"
rc=0
out=$(timeout 20 "$EVFCGID" -l "unix:$d/g.sock" -a "$DEMO_APP" \
    --group nogroup 2>&1) || rc=$?
check_eq "a start with group without user fails" 1 "$rc"
check_match "... and says why" 'group nogroup is set without user' "$out"
check_true "... leaving no socket" test ! -e "$d/g.sock"
