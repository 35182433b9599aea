#!/usr/bin/env bash
#
# The request toolkit (issue 13) through a real nginx: the demo's /search
# (list query parameter), /prefs (cookie parameter, response cookie),
# /whoami (HTTP Bearer) and /agent (header parameter), with their exact
# bodies, statuses and headers; then tests/apps/toolkit.so (exception
# handlers, route data, app state) in a daemon of its own.
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so \
#   TOOLKIT_APP=tests/apps/.libs/toolkit.so tests/integration/test_toolkit.sh
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need curl
need_daemon
TOOLKIT_APP=${TOOLKIT_APP:-$top_builddir/tests/apps/.libs/toolkit.so}
[[ -r $TOOLKIT_APP ]] || fail "TOOLKIT_APP='$TOOLKIT_APP' is not readable"

# expect WHAT STATUS BODY: the last fetch answered exactly this.
expect() {
    check_eq "$1: status" "$2" "$HTTP_STATUS"
    check_eq "$1: body" "$3" "$(body)"
}

start_evfcgid_tcp -a "$DEMO_APP"
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT

# ---- /search: a list of 1..5 strings, limit 1..100 default 10 ----------
fetch "$base/search?tag=a&tag=b&limit=3"
expect "search two tags" 200 '{"tags":["a","b"],"limit":3}'
check_eq "search: JSON" application/json "$HTTP_CTYPE"
fetch "$base/search?tag=caf%C3%A9+au+lait"
expect "search: decoded tag, default limit" 200 \
    '{"tags":["café au lait"],"limit":10}'
fetch "$base/search"
expect "search without tags" 422 \
    '{"detail":[{"type":"missing","loc":["query","tag"],"msg":"Field required","input":null}]}'
fetch "$base/search?tag=1&tag=2&tag=3&tag=4&tag=5&tag=6&limit=0"
expect "search: six tags and limit 0" 422 \
    '{"detail":[{"type":"too_long","loc":["query","tag"],"msg":"List should have at most 5 items after validation, not 6","input":["1","2","3","4","5","6"],"ctx":{"field_type":"List","max_length":5,"actual_length":6}},{"type":"greater_than_equal","loc":["query","limit"],"msg":"Input should be greater than or equal to 1","input":"0","ctx":{"ge":1}}]}'

# ---- /prefs: cookie parameter theme, response cookie --------------------
fetch "$base/prefs"
expect "prefs without a cookie" 200 '{"theme":"light"}'
check_eq "prefs: no Set-Cookie when not asked" "" "$(header_value Set-Cookie)"
fetch -H 'Cookie: other=1; theme=dark' "$base/prefs"
expect "prefs with theme=dark" 200 '{"theme":"dark"}'
fetch -H 'Cookie: theme=blue' "$base/prefs"
expect "prefs with theme=blue" 422 \
    '{"detail":[{"type":"enum","loc":["cookie","theme"],"msg":"Input should be '"'light' or 'dark'"'","input":"blue","ctx":{"expected":"'"'light' or 'dark'"'"}}]}'
fetch "$base/prefs?set=dark"
expect "prefs?set=dark" 200 '{"theme":"dark"}'
cookie=$(header_value Set-Cookie)
check_match "prefs?set=dark: cookie theme=dark" '^theme=dark(;|$)' "$cookie"
check_match "prefs?set=dark: HttpOnly" '; HttpOnly(;|$)' "$cookie"
check_match "prefs?set=dark: SameSite=Lax" '; SameSite=Lax(;|$)' "$cookie"
check_match "prefs?set=dark: Path=/" '; Path=/(;|$)' "$cookie"
# The cookie curl kept comes back: a client round trip.
jar=$tmp/jar
curl_ -c "$jar" -o /dev/null "$base/prefs?set=dark"
fetch -b "$jar" "$base/prefs"
expect "prefs with the jar's cookie" 200 '{"theme":"dark"}'
fetch "$base/prefs?set=purple"
expect "prefs?set=purple refused" 422 \
    '{"detail":[{"type":"enum","loc":["query","set"],"msg":"Input should be '"'light' or 'dark'"'","input":"purple","ctx":{"expected":"'"'light' or 'dark'"'"}}]}'
check_eq "prefs?set=purple: no Set-Cookie" "" "$(header_value Set-Cookie)"

# ---- /whoami: HTTP Bearer ----------------------------------------------
fetch -H 'Authorization: Bearer demo-token' "$base/whoami"
expect "whoami with the demo token" 200 '{"user":"demo"}'
fetch "$base/whoami"
expect "whoami without credentials" 401 '{"detail":"Not authenticated"}'
check_eq "whoami without credentials: challenge" Bearer \
    "$(header_value WWW-Authenticate)"
fetch -H 'Authorization: Basic ZGVtbzpkZW1v' "$base/whoami"
expect "whoami with Basic" 401 '{"detail":"Not authenticated"}'
check_eq "whoami with Basic: challenge" Bearer "$(header_value WWW-Authenticate)"
fetch -H 'Authorization: Bearer other-token' "$base/whoami"
expect "whoami with another token" 401 \
    '{"detail":"Invalid authentication credentials"}'
check_eq "whoami with another token: challenge" Bearer \
    "$(header_value WWW-Authenticate)"

# ---- /agent: header parameter user_agent (User-Agent) -------------------
fetch -A 'toolkit-test/1.0 "quoted"' "$base/agent"
expect "agent" 200 '{"user_agent":"toolkit-test/1.0 \"quoted\""}'
fetch -A '' "$base/agent"
expect "agent without User-Agent" 422 \
    '{"detail":[{"type":"missing","loc":["header","user_agent"],"msg":"Field required","input":null}]}'

# The demo keeps FastAPI's own 404.
fetch "$base/no-such-page"
expect "demo 404" 404 '{"detail":"Not Found"}'
assert_alive "$EVFCGID_PID" "after the toolkit routes"

# ---- exception handlers, route data, app state (tests/apps/toolkit.c) ----
start_evfcgid_tcp -a "$TOOLKIT_APP"
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
tk=http://127.0.0.1:$NGINX_PORT
fetch "$tk/nowhere"
expect "app 404 handler" 404 '{"error":"nothing at this address"}'
fetch "$tk/count/abc"
expect "app 422 handler" 400 \
    '{"problems":[{"type":"int_parsing","loc":["path","n"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}'
fetch "$tk/unicorns/yolo"
expect "app error code handler" 418 \
    '{"message":"Oops! yolo did something. There goes a rainbow..."}'
fetch "$tk/unicorns/bob"
expect "no error" 200 '{"unicorn_name":"ok"}'
fetch -X POST "$tk/greet"
expect "405 without a handler: FastAPI's" 405 '{"detail":"Method Not Allowed"}'
fetch "$tk/greet"
expect "route data and app state" 200 \
    '{"data":"hello from the route","hits":1}'
fetch "$tk/greet"
expect "app state kept" 200 '{"data":"hello from the route","hits":2}'
assert_alive "$EVFCGID_PID" "after the exception handlers"
