#!/usr/bin/env bash
#
# evfcgid behind a real lighttpd (mod_fastcgi), with the shipped example
# conf/lighttpd-evfcgi.conf: over its unix socket, then over TCP.  The
# example is included from a small main config of the test's own (port,
# logs, document root in $tmp), its socket path replaced by ours.  Checks
# /hello, a path parameter, a POST body, a 404, and that /events streams
# (server.stream-response-body = 2).
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_lighttpd.sh
# Knob: LIGHTTPD (default: lighttpd).

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=frontend_lib.sh
. "$(dirname "$0")/frontend_lib.sh"

: "${LIGHTTPD:=lighttpd}"
need "$LIGHTTPD"
need curl
need sha256sum
need_daemon
[[ -r $CONF_DIR/lighttpd-evfcgi.conf ]] ||
    { log "ERROR: $CONF_DIR/lighttpd-evfcgi.conf is missing"; exit 99; }

# render_lighttpd PORT: the main config, and the example with our backend
# ($BACKEND: "unix:/path" or "HOST:PORT").
render_lighttpd() {
    local port=$1 d=$FRONTEND_DIR site=$FRONTEND_DIR/evfcgi.conf
    local -a edits
    if [[ $BACKEND == unix:* ]]; then
        edits=(-e "s|\"/run/evfcgi/evfcgid\\.sock\"|\"$(_subst_escape "${BACKEND#unix:}")\"|")
    else
        edits=(-e "s|\"socket\" => \"/run/evfcgi/evfcgid\\.sock\"|\"host\" => \"${BACKEND%:*}\", \"port\" => ${BACKEND##*:}|")
    fi
    sed "${edits[@]}" "$CONF_DIR/lighttpd-evfcgi.conf" >"$site"
    example_has "$site" '^server\.stream-response-body = 2' "the streaming setting"
    ! grep -n '/run/evfcgi' "$site" >&2 || fail "render_lighttpd: the socket path of the example was not replaced"
    mkdir -p "$d/htdocs" "$d/upload"
    cat >"$d/lighttpd.conf" <<EOF
# test_lighttpd.sh: a lighttpd of its own, including the example.
server.document-root = "$d/htdocs"
server.bind = "127.0.0.1"
server.port = $port
server.errorlog = "$d/error.log"
server.upload-dirs = ( "$d/upload" )
# The example's url.access-deny (Debian's lighttpd.conf loads it).
server.modules = ( "mod_access" )
include "$site"
EOF
}

run_phase() {
    local what=$1
    BACKEND=$2
    frontend_dir lighttpd
    start_frontend lighttpd render_lighttpd \
        "$LIGHTTPD" -D -f "$FRONTEND_DIR/lighttpd.conf"
    log "$what: lighttpd :$FRONTEND_PORT -> evfcgid $BACKEND"
    check_frontend "http://127.0.0.1:$FRONTEND_PORT" "$what: "
    require_alive "$EVFCGID_PID" "$what: after the checks"
    stop_pid "$FRONTEND_PID"
}

# 1. The example as shipped: a unix socket.
sock=$(sock_path evf.sock)
start_evfcgid -l "unix:$sock" -a "$DEMO_APP"
run_phase unix "unix:$sock"

# 2. The example's TCP variant.
start_evfcgid_tcp -a "$DEMO_APP"
run_phase tcp "127.0.0.1:$EVFCGID_PORT"
