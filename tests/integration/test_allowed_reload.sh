#!/usr/bin/env bash
#
# allowed_clients on reload (issue 14, item 8): SIGHUP re-reads the list,
# so an address removed from the file is refused once the new workers
# serve; and the file's list wins over FCGI_WEB_SERVER_ADDRS (an inherited
# variable must not widen it).  Before, the list was read once at start
# and unioned with the variable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon

port=$(free_port)
sock=$(sock_path allowed.sock)
conf=$tmp/evfcgid.conf
write_conf() {
    cat >"$conf" <<EOC
[evfcgid]
listen = 127.0.0.1:$port
listen = unix:$sock
workers = 1
status_path = /status
allowed_clients = $1
[app demo]
path = $DEMO_APP
EOC
}
served() {
    "$FCGI_CLIENT" -t 5 request "127.0.0.1:$port" GET /hello -r 2>/dev/null |
        grep -q '^status=200'
}
reload_ok() {
    "$FCGI_CLIENT" -t 5 request "unix:$sock" GET /status 2>/dev/null |
        grep -q '"last reload result":"ok"'
}

write_conf "192.0.2.7 127.0.0.1"
EVFCGID_WAIT_ADDR=unix:$sock start_evfcgid -c "$conf"
check_true "a listed client is served" served

write_conf "192.0.2.7"
kill -HUP "$EVFCGID_PID"
check_true "the reload succeeds" poll_until 20 reload_ok
check_true "after SIGHUP, the removed address is refused" \
    poll_until 20 not served
check_true "... and the refusal is logged" \
    poll_until 10 grep -q 'connection from 127.0.0.1 refused' "$EVFCGID_LOG"
stop_pid "$EVFCGID_PID"

# The configuration's list wins over an inherited FCGI_WEB_SERVER_ADDRS.
FCGI_WEB_SERVER_ADDRS=127.0.0.1 EVFCGID_WAIT_ADDR=unix:$sock start_evfcgid -c "$conf"
check_true "FCGI_WEB_SERVER_ADDRS does not widen allowed_clients" not served
write_conf ""
kill -HUP "$EVFCGID_PID"
check_true "the second reload succeeds" poll_until 20 reload_ok
check_true "an empty allowed_clients allows any client" poll_until 20 served
