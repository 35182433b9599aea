#!/usr/bin/env bash
#
# `make demo`: the demo app in evfcgid behind a real nginx on
# http://127.0.0.1:8080 (DEMO_PORT to change it), until Ctrl-C.  Both are
# stopped by PID on the way out.
#
# /external-data's dependency fetches DEMO_UPSTREAM_URL (the app's
# upstream_url option); by default the demo's own /items/1, through the
# same nginx.  The logs (evfcgid's, its access log, nginx's) live in a
# temporary directory removed at the end: KEEP_TMP=1 keeps them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need_daemon

DEMO_PORT=${DEMO_PORT:-8080}
if port_in_use "$DEMO_PORT"; then
    fail "port $DEMO_PORT is in use: run with DEMO_PORT=another port"
fi
base=http://127.0.0.1:$DEMO_PORT
upstream=${DEMO_UPSTREAM_URL:-$base/items/1}
access_log=$tmp/access.log
sock=$(sock_path evfcgid.sock)
start_evfcgid -l "unix:$sock" -a "$DEMO_APP" --log-level info \
    -o "demo:upstream_url=$upstream" \
    --status-path /status --ping-path /ping --access-log "$access_log"

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

if [[ ${KEEP_TMP:-0} == 1 ]]; then
    keep="they are kept after Ctrl-C (KEEP_TMP=1)"
else
    keep="removed at Ctrl-C; keep them with: make demo KEEP_TMP=1"
fi
# Every route of apps/demo.c and the daemon's own pages, as ready curl
# lines.  A note starting with a status is what the line answers when that
# is not 200 (test_demo.sh runs every line and checks).
tries=(
    "curl $base/hello" ""
    "curl -d 'any body' -H 'Content-Type: text/plain' $base/echo" ""
    "curl '$base/big?bytes=300'" "streamed"
    "curl $base/items/42" "the README's example"
    "curl $base/items/abc" "422 FastAPI's validation error"
    "curl '$base/sleep?ms=500'" ""
    "curl $base/gather" "three 100 ms awaits in 100 ms"
    "curl -N '$base/events?n=5&interval_ms=500'" "Server-Sent Events"
    "curl $base/blocking" "a blocking route, on the thread pool"
    "curl $base/to-thread" "an async route awaiting the pool"
    "curl $base/blocking-wrong" "blocks the loop: the log names it"
    "curl $base/external-data" "a dependency fetching $upstream"
    "curl -H 'X-User: alice' $base/deps-demo" "nested dependencies"
    "curl $base/deps-demo" "401 the dependency refuses"
    "curl $base/deps-demo/stats" "sessions opened and closed"
    "curl $base/status" "the status page"
    "curl '$base/status?text'" ""
    "curl $base/ping" ""
    # toolkit (issue 13): apps/demo_toolkit.c
    "curl '$base/search?tag=a&tag=b&limit=3'" "a list query parameter"
    "curl -H 'Cookie: theme=dark' $base/prefs" "a cookie parameter"
    "curl -i '$base/prefs?set=dark'" "sets the theme cookie"
    "curl -H 'Authorization: Bearer demo-token' $base/whoami" "HTTP Bearer"
    "curl $base/whoami" "401 without the token"
    "curl $base/agent" "a declared header parameter"
)
width=0
for ((i = 0; i < ${#tries[@]}; i += 2)); do
    ((${#tries[i]} > width)) && width=${#tries[i]}
done
echo
echo "evfcgid (pid $EVFCGID_PID) is serving the demo app behind nginx (pid $NGINX_PID)."
echo "Try (apps/demo.c has the code of each route):"
for ((i = 0; i < ${#tries[@]}; i += 2)); do
    if [[ -n ${tries[i + 1]} ]]; then
        printf '  %-*s  # %s\n' "$width" "${tries[i]}" "${tries[i + 1]}"
    else
        printf '  %s\n' "${tries[i]}"
    fi
done
cat <<EOT
Logs: $EVFCGID_LOG (evfcgid)
      $access_log (evfcgid's access log: one line per request)
      $NGINX_ACCESS_LOG, $NGINX_ERROR_LOG (nginx)
      $keep
Press Ctrl-C to stop both.
EOT
trap 'echo; log "stopping"; exit 0' INT TERM
while is_alive "$EVFCGID_PID" && is_alive "$NGINX_PID"; do sleep 1; done
fail "a server stopped by itself (logs in $tmp)"
