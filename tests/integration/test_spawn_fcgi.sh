#!/usr/bin/env bash
#
# evfcgid started by spawn-fcgi: spawn-fcgi creates the listening socket,
# puts it on fd 0 and execs the daemon without -l, which must then accept on
# fd 0. nginx in front; GET /hello through it.
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_spawn_fcgi.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need "$SPAWN_FCGI"
need "$NGINX"
need curl
need_daemon

# With -n spawn-fcgi does not fork: it binds, then execs the program in the
# same process. So the PID we start is spawn-fcgi's, then (through the
# libtool wrapper's exec) evfcgid's: the one to track and to signal.
#
# The socket listens as soon as spawn-fcgi has bound it, before evfcgid runs,
# so "listening" alone does not mean the daemon is up. Also wait until the
# process image is neither spawn-fcgi nor a shell (the libtool wrapper), and
# until the daemon answers on the socket (it fails early on a bad fd 0 or
# app instead).
is_daemon_image() {
    local exe
    exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
    case $(basename "$exe") in
    spawn-fcgi | bash | sh | dash) return 1 ;;
    esac
}

# answers ADDR: the daemon at ADDR serves GET /hello.
answers() {
    is_alive "$EVFCGID_PID" || return 1
    "$FCGI_CLIENT" -t 2 request "$1" GET /hello -r 2>/dev/null | grep '^status=200 ' >/dev/null
}

start_spawned_evfcgid() {
    local attempt rc i
    for attempt in 1 2 3 4 5; do
        EVFCGID_PORT=$(free_port)
        EVFCGID_LOG=$tmp/evfcgid.spawn.$attempt.log
        spawn_bg evfcgid "evfcgid(spawn-fcgi)#$attempt" "$EVFCGID_LOG" \
            "$SPAWN_FCGI" -a 127.0.0.1 -p "$EVFCGID_PORT" -n -- "$EVFCGID" -a "$DEMO_APP"
        EVFCGID_PID=$LAST_PID
        rc=0
        wait_listening "$EVFCGID_PID" "127.0.0.1:$EVFCGID_PORT" || rc=$?
        if ((rc == 1)) && grep -qi 'in use' "$EVFCGID_LOG"; then
            stop_pid "$EVFCGID_PID"
            log "port $EVFCGID_PORT was taken; retrying"
            continue
        fi
        ((rc == 0)) || break
        # Listening, spawn-fcgi has exec'd into the daemon, and it answers.
        poll_until "$START_TIMEOUT" is_daemon_image "$EVFCGID_PID" &&
            poll_until "$START_TIMEOUT" answers "127.0.0.1:$EVFCGID_PORT" &&
            is_alive "$EVFCGID_PID" && return 0
        break
    done
    dump_log "$EVFCGID_LOG"
    fail "evfcgid under spawn-fcgi did not come up on 127.0.0.1:$EVFCGID_PORT"
}

start_spawned_evfcgid
daemon=$EVFCGID_PID
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT
log "nginx :$NGINX_PORT -> spawn-fcgi socket 127.0.0.1:$EVFCGID_PORT -> evfcgid (pid $daemon)"

check_true "spawn-fcgi exec'd the daemon in the same process (exe: $(readlink "/proc/$daemon/exe"))" \
    is_daemon_image "$daemon"

for i in 1 2 3; do
    fetch "$base/hello"
    check_eq "GET /hello #$i: status" 200 "$HTTP_STATUS"
    check_eq "GET /hello #$i: body" '{"message":"hello"}' "$(body)"
done
assert_alive "$daemon" "after requests"

stop_pid "$NGINX_PID"
stop_pid "$daemon" TERM
check_eq "evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
