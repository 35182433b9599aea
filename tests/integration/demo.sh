#!/usr/bin/env bash
#
# `make demo`: the demo app in evfcgid behind a real nginx on
# http://127.0.0.1:8080 (DEMO_PORT to change it), until Ctrl-C.  Both are
# stopped by PID on the way out.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need_daemon

DEMO_PORT=${DEMO_PORT:-8080}
if port_in_use "$DEMO_PORT"; then
    fail "port $DEMO_PORT is in use: run with DEMO_PORT=another port"
fi
sock=$(sock_path evfcgid.sock)
start_evfcgid -l "unix:$sock" -a "$DEMO_APP" --log-level info

NGINX_DIR=$tmp/nginx
NGINX_PORT=$DEMO_PORT
NGINX_UPSTREAM=unix:$sock
NGINX_WORKER_CONNECTIONS=1024
NGINX_KEEPALIVE=32
NGINX_ACCESS_LOG=$NGINX_DIR/access.log
NGINX_ERROR_LOG=$NGINX_DIR/error.log
for d in client_body fastcgi proxy uwsgi scgi; do mkdir -p "$NGINX_DIR/$d"; done
render_nginx_conf "$NGINX_CONF_TEMPLATE" "$NGINX_DIR/nginx.conf"
spawn_bg nginx nginx "$NGINX_DIR/stderr.log" \
    "$NGINX" -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_ERROR_LOG"
NGINX_PID=$LAST_PID
_nginx_error_logs+=("$NGINX_ERROR_LOG")
wait_listening "$NGINX_PID" "127.0.0.1:$DEMO_PORT" ||
    fail "nginx did not start (see $NGINX_ERROR_LOG)"

cat <<EOT

evfcgid (pid $EVFCGID_PID) is serving the demo app behind nginx (pid $NGINX_PID).
Try:
  curl http://127.0.0.1:$DEMO_PORT/hello
  curl http://127.0.0.1:$DEMO_PORT/items/42
  curl http://127.0.0.1:$DEMO_PORT/items/abc
  curl -N 'http://127.0.0.1:$DEMO_PORT/events?n=5&interval_ms=500'
Logs: $EVFCGID_LOG
Press Ctrl-C to stop both.
EOT
KEEP_TMP=${KEEP_TMP:-}
trap 'echo; log "stopping"; exit 0' INT TERM
while is_alive "$EVFCGID_PID" && is_alive "$NGINX_PID"; do sleep 1; done
fail "a server stopped by itself (logs in $tmp)"
