#!/usr/bin/env bash
#
# evfcgid behind a real h2o (fastcgi.connect), with the shipped example
# conf/h2o-evfcgi.conf: over its unix socket, then over TCP.  The
# example's listener becomes our loopback port and its socket ours; lines
# of the test's own before it keep the pid file and logs in $tmp (and,
# as root, `user: root`: h2o would otherwise switch to nobody, who cannot
# enter the 0700 $tmp).  Checks /hello, a path parameter, a POST body, a
# 404, and that /events streams.
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_h2o.sh
# Knob: H2O (default: h2o).

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=frontend_lib.sh
. "$(dirname "$0")/frontend_lib.sh"

: "${H2O:=h2o}"
need "$H2O"
need curl
need sha256sum
need_daemon
[[ -r $CONF_DIR/h2o-evfcgi.conf ]] ||
    { log "ERROR: $CONF_DIR/h2o-evfcgi.conf is missing"; exit 99; }

# render_h2o PORT: the config, our lines then the example with our port
# and backend ($BACKEND: "unix:/path" or "HOST:PORT").
render_h2o() {
    local port=$1 d=$FRONTEND_DIR out=$FRONTEND_DIR/h2o.conf
    local -a edits=(-e "s|^  port: 80\$|  host: 127.0.0.1\\n  port: $port|")
    if [[ $BACKEND == unix:* ]]; then
        edits+=(-e "s|^\\( *\\)port: /run/evfcgi/evfcgid\\.sock\$|\\1port: $(_subst_escape "${BACKEND#unix:}")|")
    else
        edits+=(-e "s|^\\( *\\)port: /run/evfcgi/evfcgid\\.sock\$|\\1host: ${BACKEND%:*}\\n\\1port: ${BACKEND##*:}|"
            -e 's|^\( *\)type: unix$|\1type: tcp|')
    fi
    {
        echo "# test_h2o.sh: files in the test's dir."
        [[ $(id -u) == 0 ]] && echo "user: root"
        echo "pid-file: $d/h2o.pid"
        echo "error-log: $d/error.log"
        echo "access-log: $d/access.log"
        sed "${edits[@]}" "$CONF_DIR/h2o-evfcgi.conf"
    } >"$out"
    example_has "$out" "^  port: $port\$" "its listener on port 80, pointed at our port"
    example_has "$out" '^ *fastcgi\.connect:' "the fastcgi handler"
    ! grep -n '/run/evfcgi' "$out" >&2 || fail "render_h2o: the socket path of the example was not replaced"
}

run_phase() {
    local what=$1
    BACKEND=$2
    frontend_dir h2o
    start_frontend h2o render_h2o "$H2O" -c "$FRONTEND_DIR/h2o.conf"
    log "$what: h2o :$FRONTEND_PORT -> evfcgid $BACKEND"
    check_frontend "http://127.0.0.1:$FRONTEND_PORT" "$what: "
    require_alive "$EVFCGID_PID" "$what: after the checks"
    stop_pid "$FRONTEND_PID"
}

# 1. The example as shipped: a unix socket.
sock=$(sock_path evf.sock)
start_evfcgid -l "unix:$sock" -a "$DEMO_APP"
run_phase unix "unix:$sock"

# 2. Over TCP.
start_evfcgid_tcp -a "$DEMO_APP"
run_phase tcp "127.0.0.1:$EVFCGID_PORT"
