#!/usr/bin/env bash
#
# bench/external.sh - the seed's dependency example under load:
# GET /external-data through nginx -> evfcgid (the app), whose dependency
# fetches JSON from an upstream with the async HTTP client.  The upstream
# answers after 100 ms (nginx in front of a second evfcgid's
# /sleep?ms=100), so with C connections the ideal is C / 0.1 s requests
# per second (target: >= 90 % at C=1000, at <= 40 us of the app's CPU per
# request).
#
# UPSTREAM selects how the app talks to the upstream:
#   h2     (default) https with HTTP/2: the upstream nginx has a throwaway
#          self-signed certificate made here, the app is told
#          upstream_http2=1 and upstream_ca_file=<that certificate>, and
#          multiplexes its requests over a few connections;
#   http1  plain HTTP/1.1: one upstream connection per request in flight.
# (UPSTREAM=unix or tcp keeps bench/lib.sh's meaning, how the front nginx
# reaches the app, with the h2 upstream.)
#
# Reported: the upstream mode, how many connections the app holds to the
# upstream (sampled mid-run), the app worker's RSS per pending request,
# and CPU microseconds per request of the app's evfcgid, the front nginx,
# and apart the upstream's evfcgid and nginx (all on the same 2 cores).
#
# From the build directory:   bench/external.sh
# Knobs: UPSTREAM, CONCURRENCY (default 1000), DURATION, WARMUP; see
# bench/lib.sh.

set -euo pipefail
case ${UPSTREAM:-h2} in
h2 | http1) UPSTREAM_MODE=${UPSTREAM:-h2}; unset UPSTREAM ;;
*) UPSTREAM_MODE=h2 ;;
esac
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${CONCURRENCY:=1000}"
need ss
# Both nginx keep an idle upstream connection per request in flight (see
# the README's keepalive sizing).
BENCH_CONNS=$CONCURRENCY
: "${NGINX_KEEPALIVE:=$CONCURRENCY}"

# The upstream: its own evfcgid and nginx.  The default keepalive_requests
# (1000) would close a multiplexed connection every 1000 requests, about
# ten times a second here: raise it, as a production upstream would.
NGINX_WORKER_CONNECTIONS=$((CONCURRENCY * 2 + 1024))
start_evfcgid_tcp -a "$DEMO_APP" -w 1
up_evf_pid=$EVFCGID_PID
up_conf=$tmp/nginx-upstream.conf.in
listen='listen 127.0.0.1:@PORT@ backlog=4096;'
if [[ $UPSTREAM_MODE == h2 ]]; then
    need openssl
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
        -addext "subjectAltName=IP:127.0.0.1" -keyout "$tmp/up.key" \
        -out "$tmp/up.pem" 2>"$tmp/openssl.log" ||
        fail "openssl req: $(cat "$tmp/openssl.log")"
    new="listen 127.0.0.1:@PORT@ backlog=4096 ssl http2; ssl_certificate $tmp/up.pem; ssl_certificate_key $tmp/up.key; http2_max_concurrent_streams $CONCURRENCY;"
    scheme=https
else
    new=$listen
    scheme=http
fi
sed "s|$listen|$new keepalive_requests 1000000;|" "$NGINX_CONF_TEMPLATE" >"$up_conf"
grep -q 'keepalive_requests 1000000;' "$up_conf" ||
    fail "the nginx template has no listen line to change"
NGINX_ACCESS_LOG=off start_nginx "$up_conf" "127.0.0.1:$EVFCGID_PORT"
up_port=$NGINX_PORT
up_ngx_pid=$NGINX_PID

# The app under test, pointed at the upstream.
app_opts=(-o "demo:upstream_url=$scheme://127.0.0.1:$up_port/sleep?ms=100")
[[ $UPSTREAM_MODE == h2 ]] &&
    app_opts+=(-o demo:upstream_http2=1 -o "demo:upstream_ca_file=$tmp/up.pem")
bench_start_servers "${app_opts[@]}"
app_pid=$EVFCGID_PID
bench_preflight "$BENCH_BASE/external-data" 200 \
    '{"source":"external","data":{"slept_ms":100}}'

rss_kb() {
    local total=0 p v
    for p in "$1" $(descendants "$1"); do
        v=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || continue
        total=$((total + ${v:-0}))
    done
    echo "$total"
}

c=$CONCURRENCY
label="external $UPSTREAM_MODE c=$c"
bench_warmup "$BENCH_BASE/external-data" "$c"
rss_idle=$(rss_kb "$app_pid")
# Sample the app's connections to the upstream and its RSS mid-run.
(
    sleep $((DURATION / 2))
    ss -Htn state established "( dport = :$up_port )" | wc -l >"$tmp/upconns"
    rss_kb "$app_pid" >"$tmp/rss_busy"
) &
sampler=$!
up_evf0=$(cpu_ticks "$up_evf_pid")
up_ngx0=$(cpu_ticks "$up_ngx_pid")
run_wrk "$label" "$BENCH_BASE/external-data" "$c"
up_evf1=$(cpu_ticks "$up_evf_pid")
up_ngx1=$(cpu_ticks "$up_ngx_pid")
wait "$sampler"
reqs=${B_REQS[$label]}
ideal=$(awk -v c="$c" 'BEGIN { printf "%.0f", c / 0.1 }')
pct=$(awk -v r="${B_RPS[$label]}" -v i="$ideal" 'BEGIN { printf "%.1f", 100 * r / i }')
verdict "$pct" ge 90
note="$pct% of $ideal ($VERDICT)"
verdict "${B_EVF_US[$label]}" le 40
B_NOTE[$label]="$note, app CPU ($VERDICT)"
upconns=$(cat "$tmp/upconns")
rss_busy=$(cat "$tmp/rss_busy")

bench_header external "/external-data: dependency + async HTTP client, upstream 100 ms"
printf '  upstream mode %s: %s://127.0.0.1:%s/sleep?ms=100\n\n' "$UPSTREAM_MODE" "$scheme" "$up_port"
printf '(evfcgid, nginx: the app and the nginx in front of it)\n'
bench_table
printf '\nupstream mode %s: %s upstream connections held by the app (mid-run) for %s concurrent requests\n' \
    "$UPSTREAM_MODE" "$upconns" "$c"
printf 'CPU us per request: app evfcgid %s, front nginx %s; upstream evfcgid %s, upstream nginx %s\n' \
    "${B_EVF_US[$label]}" "${B_NGX_US[$label]}" \
    "$(_us_per_req $((up_evf1 - up_evf0)) "$reqs")" "$(_us_per_req $((up_ngx1 - up_ngx0)) "$reqs")"
printf 'app RSS: idle %s KiB, under load %s KiB: %s bytes per pending request\n' \
    "$rss_idle" "$rss_busy" "$(( (rss_busy - rss_idle) * 1024 / c ))"
printf 'all four processes share the same %s cores.\n' "$(nproc)"
bench_finish
