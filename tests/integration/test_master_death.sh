#!/usr/bin/env bash
#
# The master killed outright (SIGKILL): its workers notice and stop, so the
# TCP port is free again for a restart (systemd's would otherwise loop on
# "Address already in use"), and the first to notice removes the pid file,
# which would otherwise name a dead process.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon

pidfile=$tmp/evfcgid.pid
start_evfcgid_tcp -a "$DEMO_APP" -w 2 --pid-file "$pidfile"
master=$EVFCGID_PID
# The pid file comes a moment after the listeners.
check_true "the pid file is written" poll_until 10 test -s "$pidfile"
check_eq "... and names the master" "$master" "$(cat "$pidfile" 2>/dev/null)"
port=$EVFCGID_PORT
workers=
poll_until 10 bash -c '[[ $(pgrep -P "$1" | wc -l) -ge 2 ]]' _ "$master" ||
    fail "the master did not start its 2 workers"
# Ids, not PIDs: once gone, a worker's PID may go to another process.
# shellcheck disable=SC2046 # a list of PIDs
workers=$(proc_ids $(pgrep -P "$master") | tr '\n' ' ')
log "master $master, workers (PID@START) $workers"

kill -KILL "$master"
gone() {
    local id
    for id in "$@"; do id_alive "$id" && return 1; done
    return 0
}
# shellcheck disable=SC2086 # $workers: a list of PIDs
check_true "the workers exit once the master is killed" \
    poll_until 20 gone $workers
check_true "the pid file of the dead master is removed" \
    poll_until 20 not test -e "$pidfile"
check_true "... with a line in the log" \
    grep -q "the master (pid $master) is gone: removed its pid file" \
    "$EVFCGID_LOG"
# Workers that outlived the check (the defect) are ours to end.
# shellcheck disable=SC2086
gone $workers || kill_ids KILL $workers
# Reap the master; its SIGKILL was ours, not a crash for the log checks.
stop_pid "$master"
_pid_status[$master]=killed-by-the-test

# The port is free again: a new instance binds it.
port_free() {
    python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}
check_true "the TCP port is free again" poll_until 20 port_free "$port"
