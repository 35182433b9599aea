#!/usr/bin/env bash
#
# evfcgid behind a real Caddy 2 (reverse_proxy with `transport fastcgi`),
# with the shipped example conf/caddy-evfcgi.Caddyfile: over its unix
# socket, then over TCP.  The example's site address becomes our loopback
# port and its socket ours; a global options block of the test's own turns
# the admin endpoint and automatic HTTPS off and keeps Caddy's storage
# (and $HOME, $XDG_*) in $tmp.  Checks /hello, a path parameter, a POST
# body, a 404, and that /events streams (flush_interval -1).
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_caddy.sh
# Knob: CADDY (default: caddy).

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=frontend_lib.sh
. "$(dirname "$0")/frontend_lib.sh"

: "${CADDY:=caddy}"
need "$CADDY"
need curl
need sha256sum
need_daemon
[[ -r $CONF_DIR/caddy-evfcgi.Caddyfile ]] ||
    { log "ERROR: $CONF_DIR/caddy-evfcgi.Caddyfile is missing"; exit 99; }

# render_caddy PORT: the Caddyfile, the example with our port and backend
# ($BACKEND: "unix:/path" or "HOST:PORT") after our global options.
render_caddy() {
    local port=$1 d=$FRONTEND_DIR out=$FRONTEND_DIR/Caddyfile target
    if [[ $BACKEND == unix:* ]]; then
        target=unix/${BACKEND#unix:}
    else
        target=$BACKEND
    fi
    mkdir -p "$d/home" "$d/data" "$d/config" "$d/storage"
    {
        cat <<EOF
# test_caddy.sh: no admin endpoint, no HTTPS, storage in the test's dir.
{
	admin off
	auto_https off
	storage file_system {
		root $d/storage
	}
	log {
		output file $d/caddy.log
	}
}

EOF
        sed -e "s|^:80 {|http://127.0.0.1:$port {|" \
            -e "s|reverse_proxy unix//run/evfcgi/evfcgid\\.sock {|reverse_proxy $(_subst_escape "$target") {|" \
            "$CONF_DIR/caddy-evfcgi.Caddyfile"
    } >"$out"
    example_has "$out" "^http://127\\.0\\.0\\.1:$port \\{" "its site address :80, pointed at our port"
    example_has "$out" '^[[:space:]]*transport fastcgi' "the fastcgi transport"
    example_has "$out" '^[[:space:]]*flush_interval -1' "the streaming setting"
    ! grep -n '/run/evfcgi' "$out" >&2 || fail "render_caddy: the socket path of the example was not replaced"
}

run_phase() {
    local what=$1 d
    BACKEND=$2
    frontend_dir caddy
    d=$FRONTEND_DIR
    start_frontend caddy render_caddy \
        env HOME="$d/home" XDG_DATA_HOME="$d/data" \
        XDG_CONFIG_HOME="$d/config" \
        "$CADDY" run --adapter caddyfile --config "$d/Caddyfile"
    log "$what: caddy :$FRONTEND_PORT -> evfcgid $BACKEND"
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
