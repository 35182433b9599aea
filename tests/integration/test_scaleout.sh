#!/usr/bin/env bash
#
# Scale-out: two evfcgid instances (two "hosts", each on its own port)
# behind one nginx upstream with fastcgi_next_upstream, sharing one
# Redis.  The rate limit of GET /limited holds across both: the N+1th
# request is refused whichever instance serves it.  Stopping one instance
# while wrk runs loses no request: 0 non-2xx answers, 0 socket errors.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/redis_lib.sh"

need_daemon
need "$NGINX"
need "$REDIS_SERVER"
need wrk
[[ -x ${FCGI_CLIENT:-} ]] || { log "ERROR: FCGI_CLIENT not set"; exit 99; }
client() { "$FCGI_CLIENT" -t 15 "$@"; }
body_of() { client request "$1" GET "$2" | tr -d '\r' | tail -n 1; }

start_redis
opts=(-a "$DEMO_APP" -o "demo:redis_url=$REDIS_URL" -o demo:rate_limit=5
      -o demo:rate_window=3600)
# TCP, as two hosts would be (and a stopped instance's unix socket file
# vanishes, which nginx reports as [crit]).
start_evfcgid_tcp "${opts[@]}"
a=127.0.0.1:$EVFCGID_PORT
a_pid=$EVFCGID_PID
start_evfcgid_tcp "${opts[@]}"
b=127.0.0.1:$EVFCGID_PORT
b_pid=$EVFCGID_PID

# ---- One limit for both: alternate the instances by hand.
got=
for host in "$a" "$b" "$a" "$b" "$a"; do
    got+=$(body_of "$host" /limited)
done
check_eq "5 requests over two instances count in one window" \
    '{"remaining":4}{"remaining":3}{"remaining":2}{"remaining":1}{"remaining":0}' \
    "$got"
check_eq "the 6th on the second instance: 429" \
    '{"detail":"Too Many Requests"}' "$(body_of "$b" /limited)"
check_eq "the 7th on the first instance: 429" \
    '{"detail":"Too Many Requests"}' "$(body_of "$a" /limited)"

# ---- nginx in front of both, retrying on the other when one fails.
sed -e 's|^\( *\)fastcgi_keep_conn on;|&\n\1fastcgi_next_upstream error timeout invalid_header;\n\1fastcgi_next_upstream_tries 2;|' \
    "$NGINX_CONF_TEMPLATE" >"$tmp/scaleout.conf.in"
grep -q fastcgi_next_upstream "$tmp/scaleout.conf.in" ||
    fail "could not add fastcgi_next_upstream to the nginx template"
start_nginx "$tmp/scaleout.conf.in" "$a; server $b"
web=http://127.0.0.1:$NGINX_PORT
fetch "$web/limited"
check_eq "through nginx, either instance: 429" 429 "$HTTP_STATUS"
fetch "$web/cache/items/1"      # warm the cache
check_eq "cache through nginx" 200 "$HTTP_STATUS"

# ---- Stop one instance under load: nothing is lost.
access=$NGINX_DIR/access.log
before=$(wc -l <"$access")
spawn_bg other wrk "$tmp/wrk.out" wrk -t 2 -c 32 -d 4s "$web/cache/items/1"
wrk_pid=$LAST_PID
served() { (($(wc -l <"$access") - before >= 500)); }
wait_for "wrk under way (500 requests served)" 20 served
stop_pid "$a_pid"
log "stopped instance a (pid $a_pid) under load, status $STOP_STATUS"
wait_pid "$wrk_pid"
cat "$tmp/wrk.out" | sed 's/^/#   /' >&2
total=$(awk '/requests in/ {print $1}' "$tmp/wrk.out")
check_true "wrk completed requests ($total)" test "${total:-0}" -gt 500
check_eq "no non-2xx answers" "" "$(grep 'Non-2xx' "$tmp/wrk.out" || true)"
check_eq "no socket errors" "" "$(grep 'Socket errors' "$tmp/wrk.out" || true)"
# 499: wrk closing its connections at the end, with requests in flight.
bad=$(tail -n +"$((before + 1))" "$access" | awk '$9 != 200 && $9 != 499' |
      wc -l)
check_eq "every request in nginx's log answered 200" 0 "$bad"
fetch "$web/cache/items/1"
check_eq "the remaining instance serves alone" 200 "$HTTP_STATUS"
assert_alive "$b_pid" "the other instance"
