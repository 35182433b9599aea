#!/usr/bin/env bash
#
# Apps: several loaded at once, a route clash refused at load with both
# routes named, lifespan hooks and app options, header access, things that
# are not apps refused clearly, and a program embedding the daemon
# (evf_main) launched by spawn-fcgi.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
need "$SPAWN_FCGI"
for v in FCGI_CLIENT OTHER_APP CLASH_APP EMBEDDED; do
    [[ -e ${!v:-} ]] || { log "ERROR: $v not set"; exit 99; }
done
client() { "$FCGI_CLIENT" -t 10 "$@"; }

# A clash between two apps refuses to start, naming both routes.
rc=0
"$EVFCGID" -t -a "$DEMO_APP" -a "$CLASH_APP" >"$tmp/clash.log" 2>&1 || rc=$?
check_eq "route clash: evfcgid -t fails" 1 "$rc"
check_true "route clash: the message names both routes and apps" grep -q \
    'route clash: GET /items/{item_id:int} (app clash) and GET /items/{item_id:int} (app demo)' \
    "$tmp/clash.log"

rc=0
"$EVFCGID" -t -a "$DEMO_APP" -a "$OTHER_APP" >"$tmp/ok.log" 2>&1 || rc=$?
check_eq "two apps without clash: evfcgid -t succeeds" 0 "$rc"

rc=0
"$EVFCGID" -t -a /nonexistent/app.so >"$tmp/missing.log" 2>&1 || rc=$?
check_eq "missing app file: exit 1" 1 "$rc"
check_true "missing app file: message" grep -q 'cannot load app /nonexistent/app.so' "$tmp/missing.log"

libc=$(ldd /bin/sh | awk '/libc\.so/ {print $3}')
rc=0
"$EVFCGID" -t -a "$libc" >"$tmp/notapp.log" 2>&1 || rc=$?
check_eq "a shared object that is no app: exit 1" 1 "$rc"
check_true "... says what is missing" grep -q "is not an evfcgi app: it exports no 'evf_app_entry'" "$tmp/notapp.log"

rc=0
"$EVFCGID" -l 127.0.0.1:1 -a "$DEMO_APP" -a "$OTHER_APP" -o other:fail_startup=1 \
    >"$tmp/startup.log" 2>&1 || rc=$?
check_eq "a failing startup hook stops the daemon" 1 "$rc"
check_true "... and says which app" grep -q "app 'other': startup hook failed" "$tmp/startup.log"

# Both apps served by one daemon; the option reaches the app; headers too.
start_evfcgid_tcp -a "$DEMO_APP" -a "$OTHER_APP" -o other:greeting=hello
addr=127.0.0.1:$EVFCGID_PORT
out=$(client request "$addr" GET /other/greet -H 'X-Who: me')
check_match "second app's route, option and header" \
    '\{"greeting":"hello","who":"me","startups":1\}$' "$out"
out=$(client request "$addr" GET /hello)
check_match "first app's route still served" '\{"message":"hello"\}$' "$out"

# A program embedding the daemon, spawned by spawn-fcgi on fd 0.
port=$(free_port)
spawn_bg evfcgid embedded "$tmp/embedded.log" \
    "$SPAWN_FCGI" -a 127.0.0.1 -p "$port" -n -- "$EMBEDDED"
emb_pid=$LAST_PID
wait_listening "$emb_pid" "127.0.0.1:$port" || fail "embedded daemon did not start"
# It listens once spawn-fcgi has bound the socket: wait until it answers.
whoami() { out=$(client request "127.0.0.1:$port" GET /whoami 2>/dev/null); }
out=
poll_until 5 whoami || true
check_match "embedded program serves its own app under spawn-fcgi" \
    '\{"app":"embedded","started":1\}$' "$out"
