# shellcheck shell=bash
#
# tests/integration/frontend_lib.sh - starting a web server in front of
# evfcgid and the checks every front-end test runs (test_lighttpd.sh,
# test_caddy.sh, test_h2o.sh).  Source it after lib.sh.
#
# The web servers run with the shipped example (conf/*-evfcgi.*) turned
# into a config of their own in a private directory under $tmp, on a free
# loopback port, in the foreground, started and stopped by PID through
# lib.sh (spawn_bg, stop_pid): nothing outside $tmp is touched.

CONF_DIR=$top_srcdir/conf

# example_has FILE ERE WHAT: the rendered example FILE has a line matching
# ERE; if not, the shipped example changed and the test must follow.
example_has() {
    grep -qE -- "$2" "$1" ||
        fail "the example changed: no line matching /$2/ in $1 ($3)"
}

# frontend_dir NAME: a new private directory for a web server instance,
# $tmp/NAME.N; sets FRONTEND_DIR (call it before start_frontend, whose
# command line names files in it).
_frontend_n=0
frontend_dir() {
    _frontend_n=$((_frontend_n + 1))
    FRONTEND_DIR=$tmp/$1.$_frontend_n
    mkdir -p "$FRONTEND_DIR"
}

# start_frontend NAME RENDER CMD...: start a web server on a free port.
# RENDER is a function called as RENDER PORT before each attempt: it
# writes the server's config for that port (in $FRONTEND_DIR, made by
# frontend_dir).  CMD... is the command (in the foreground).  Retries on
# another port when the first is taken.  Sets FRONTEND_PID, FRONTEND_PORT
# and FRONTEND_LOG (its stderr).
start_frontend() {
    local name=$1 render=$2 attempt rc f
    shift 2
    for attempt in 1 2 3 4 5; do
        FRONTEND_PORT=$(free_port)
        "$render" "$FRONTEND_PORT"
        FRONTEND_LOG=$FRONTEND_DIR/stderr.$attempt.log
        spawn_bg other "$name" "$FRONTEND_LOG" "$@"
        FRONTEND_PID=$LAST_PID
        rc=0
        wait_listening "$FRONTEND_PID" "127.0.0.1:$FRONTEND_PORT" || rc=$?
        ((rc == 0)) && return 0
        if ((rc == 1)) && grep -rqiE 'address already in use|EADDRINUSE' \
            "$FRONTEND_DIR" 2>/dev/null; then
            stop_pid "$FRONTEND_PID"
            log "port $FRONTEND_PORT was taken; retrying"
            continue
        fi
        break
    done
    for f in "$FRONTEND_DIR"/*.log; do dump_log "$f"; done
    fail "$name did not come up on 127.0.0.1:$FRONTEND_PORT: $*"
}

ITEMS_422='{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}'

# check_frontend BASE PREFIX: the demo app's routes through the web server
# at BASE: /hello, a path parameter (and its 422), a 1 MB POST body echoed
# byte for byte, FastAPI's 404 body, and /events streamed event by event.
check_frontend() {
    local base=$1 p=$2
    check_hello "$base" "$p"

    fetch "$base/items/7"
    check_eq "${p}GET /items/7: status" 200 "$HTTP_STATUS"
    check_eq "${p}GET /items/7: body" '{"item_id":7,"data":"some data"}' "$(body)"
    fetch "$base/items/%37?q=a+b"
    check_eq "${p}GET /items/%37?q=a+b: item 7" \
        '200 {"item_id":7,"data":"some data"}' "$HTTP_STATUS $(body)"
    fetch "$base/items/abc"
    check_eq "${p}GET /items/abc: status" 422 "$HTTP_STATUS"
    check_eq "${p}GET /items/abc: body" "$ITEMS_422" "$(body)"

    check_echo "$base" "$p"
    check_not_found "$base" "$p"
    check_events "$base" "$p"
}
