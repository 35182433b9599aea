#!/usr/bin/env bash
#
# Middleware and CORS through a real nginx (curl), the demo's contract:
# every answer (200, 404, 405, 422, a preflight) carries X-Request-ID (the
# client's own when it is a sane token, else a UUID, in the access log as
# $x_request_id) and X-Process-Time; CORS for http://app.example.test
# (GET, POST, credentials): preflights answered without a route, allowed
# (200 "OK") or refused (400), simple requests decorated, other origins
# left without any CORS header.  Then the cors_* app options of a conf
# file replace the demo's policy, and a bad one stops the daemon with a
# message (and fails evfcgid -t).  Only loopback: the names are the Host header of 127.0.0.1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need curl
need_daemon

app=http://app.example.test
other=http://other.example.test
uuid='^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$'
access=$tmp/access.log

start_evfcgid_tcp -a "$DEMO_APP" --access-log "$access" \
    --access-log-format '$status $method $uri $x_request_id'
start_nginx "$top_srcdir/tests/integration/web.nginx.conf.in" \
    "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT
api=(-H 'Host: api.example.test')

# The headers every answer of the demo carries.
check_common() {
    local what=$1
    check_match "$what: X-Request-ID is a UUID" "$uuid" "$(header_value X-Request-ID)"
    check_match "$what: X-Process-Time in ms" '^[0-9]+\.[0-9]{3}$' \
        "$(header_value X-Process-Time)"
}

# ---- middleware on every answer --------------------------------------------
fetch "${api[@]}" "$base/hello"
check_eq "GET /hello: 200" 200 "$HTTP_STATUS"
check_eq "GET /hello: body" '{"message":"hello"}' "$(body)"
check_common "GET /hello"
check_eq "GET /hello without Origin: no CORS header" "" \
    "$(grep -i '^access-control-' "$tmp/headers" || true)"

fetch "${api[@]}" "$base/no/such/route"
check_eq "404: status" 404 "$HTTP_STATUS"
check_eq "404: body" '{"detail":"Not Found"}' "$(body)"
check_common "404"

fetch "${api[@]}" -X DELETE "$base/hello"
check_eq "405: status" 405 "$HTTP_STATUS"
check_eq "405: Allow" GET "$(header_value Allow)"
check_common "405"

fetch "${api[@]}" "$base/items/abc"
check_eq "422: status" 422 "$HTTP_STATUS"
check_common "422"

fetch "${api[@]}" -H 'X-Request-ID: trace-42.a_b' "$base/items/abc"
check_eq "a sane X-Request-ID comes back" trace-42.a_b "$(header_value X-Request-ID)"
fetch "${api[@]}" -H 'X-Request-ID: two words' "$base/hello"
check_match "one that is not a token is replaced" "$uuid" "$(header_value X-Request-ID)"
made=$(header_value X-Request-ID)

# The access log is written when a request finishes: wait for the line.
poll_until 10 grep -q "^200 GET /hello $made\$" "$access" ||
    { dump_log "$access"; fail "no access log line with \$x_request_id $made"; }
pass "the access log's \$x_request_id is the id sent back"
check_true "... and the client's own id is logged" \
    grep -q '^422 GET /items/abc trace-42.a_b$' "$access"

# ---- CORS: preflight ------------------------------------------------------
fetch "${api[@]}" -X OPTIONS -H "Origin: $app" \
    -H 'Access-Control-Request-Method: POST' \
    -H 'Access-Control-Request-Headers: content-type' "$base/echo"
check_eq "preflight from $app: 200" 200 "$HTTP_STATUS"
check_eq "... body OK" OK "$(body)"
check_eq "... Allow-Origin" "$app" "$(header_value Access-Control-Allow-Origin)"
check_eq "... Allow-Methods" "GET, POST" "$(header_value Access-Control-Allow-Methods)"
check_eq "... Allow-Credentials" true "$(header_value Access-Control-Allow-Credentials)"
check_eq "... Allow-Headers" "Accept, Accept-Language, Content-Language, Content-Type" \
    "$(header_value Access-Control-Allow-Headers)"
check_eq "... Max-Age" 600 "$(header_value Access-Control-Max-Age)"
check_eq "... Vary" Origin "$(header_value Vary)"
check_common "preflight"

fetch "${api[@]}" -X OPTIONS -H "Origin: $app" \
    -H 'Access-Control-Request-Method: GET' "$base/no/such/route"
check_eq "a preflight needs no route" 200 "$HTTP_STATUS"

fetch "${api[@]}" -X OPTIONS -H "Origin: $other" \
    -H 'Access-Control-Request-Method: POST' "$base/echo"
check_eq "preflight from $other: 400" 400 "$HTTP_STATUS"
check_eq "... says why" "Disallowed CORS origin" "$(body)"
check_eq "... no Allow-Origin" "" "$(header_value Access-Control-Allow-Origin)"

fetch "${api[@]}" -X OPTIONS -H "Origin: $app" \
    -H 'Access-Control-Request-Method: PUT' \
    -H 'Access-Control-Request-Headers: x-secret' "$base/echo"
check_eq "preflight for PUT and x-secret: 400" 400 "$HTTP_STATUS"
check_eq "... says why" "Disallowed CORS method, headers" "$(body)"

# ---- CORS: simple requests -----------------------------------------------
fetch "${api[@]}" -H "Origin: $app" "$base/hello"
check_eq "GET from $app: 200" 200 "$HTTP_STATUS"
check_eq "... Allow-Origin" "$app" "$(header_value Access-Control-Allow-Origin)"
check_eq "... Allow-Credentials" true "$(header_value Access-Control-Allow-Credentials)"
check_eq "... Expose-Headers" "X-Request-ID, X-Process-Time" \
    "$(header_value Access-Control-Expose-Headers)"
check_eq "... Vary" Origin "$(header_value Vary)"

fetch "${api[@]}" -H "Origin: $app" -X POST -H 'Content-Type: text/plain' \
    --data-binary 'hi' "$base/echo"
check_eq "POST from $app: body" hi "$(body)"
check_eq "... Allow-Origin" "$app" "$(header_value Access-Control-Allow-Origin)"

fetch "${api[@]}" -H "Origin: $app" "$base/no/such/route"
check_eq "a 404 from $app is readable by the page" "$app" \
    "$(header_value Access-Control-Allow-Origin)"

fetch "${api[@]}" -H "Origin: $other" -H 'Cookie: a=1' "$base/hello"
check_eq "GET from $other: answered" 200 "$HTTP_STATUS"
check_eq "... without any CORS header" "" \
    "$(grep -i '^access-control-' "$tmp/headers" || true)"
check_common "GET from $other"

stop_pid "$NGINX_PID"
stop_pid "$EVFCGID_PID"

# ---- the policy from the conf file --------------------------------------
cat >"$tmp/cors.conf" <<CONF
[app demo]
path = $DEMO_APP
cors_allow_origins = http://x.example.test, http://y.example.test
cors_allow_origin_regex = https://[a-z]+\.example\.test
cors_allow_methods = *
cors_allow_headers = X-Token
cors_allow_credentials = false
cors_expose_headers =
cors_max_age = 5
CONF
start_evfcgid_tcp -c "$tmp/cors.conf"
start_nginx "$top_srcdir/tests/integration/web.nginx.conf.in" \
    "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT

fetch "${api[@]}" -X OPTIONS -H 'Origin: http://y.example.test' \
    -H 'Access-Control-Request-Method: PATCH' \
    -H 'Access-Control-Request-Headers: x-token' "$base/hello"
check_eq "conf policy: preflight allowed" 200 "$HTTP_STATUS"
check_eq "... Allow-Methods: every method" \
    "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT" \
    "$(header_value Access-Control-Allow-Methods)"
check_eq "... Allow-Headers" \
    "Accept, Accept-Language, Content-Language, Content-Type, X-Token" \
    "$(header_value Access-Control-Allow-Headers)"
check_eq "... Max-Age" 5 "$(header_value Access-Control-Max-Age)"
check_eq "... no credentials" "" "$(header_value Access-Control-Allow-Credentials)"

fetch "${api[@]}" -H 'Origin: https://shop.example.test' "$base/hello"
check_eq "conf policy: the regex allows an origin" https://shop.example.test \
    "$(header_value Access-Control-Allow-Origin)"
check_eq "... and the code's expose list was emptied" "" \
    "$(header_value Access-Control-Expose-Headers)"
fetch "${api[@]}" -H "Origin: $app" "$base/hello"
check_eq "conf policy: the demo's own origin is no longer allowed" "" \
    "$(header_value Access-Control-Allow-Origin)"
check_common "conf policy"
stop_pid "$NGINX_PID"
stop_pid "$EVFCGID_PID"

# ---- a bad option stops the daemon, saying which ------------------------
rc=0
port=$(free_port)
timeout 60 "$EVFCGID" -w 0 -l "127.0.0.1:$port" -a "$DEMO_APP" \
    -o 'demo:cors_allow_credentials=maybe' >"$tmp/bad.log" 2>&1 || rc=$?
check_eq "a bad cors option: exit status 1" 1 "$rc"
check_true "... and the log names it" \
    grep -q "app 'demo': cors_allow_credentials: want true or false, not 'maybe'" "$tmp/bad.log"
rc=0
timeout 60 "$EVFCGID" -t -a "$DEMO_APP" -o 'demo:cors_max_age=soon' \
    >"$tmp/check.log" 2>&1 || rc=$?
check_eq "evfcgid -t checks the cors options: exit status 1" 1 "$rc"
check_true "... naming the bad one" \
    grep -q "app 'demo': cors_max_age: want seconds" "$tmp/check.log"
rc=0
timeout 60 "$EVFCGID" -t -a "$DEMO_APP" -o 'demo:cors_max_age=60' \
    >"$tmp/check.log" 2>&1 || rc=$?
check_eq "... and passes good ones" 0 "$rc"
