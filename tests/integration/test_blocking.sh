#!/usr/bin/env bash
#
# Blocking routes through nginx: the thread pool and its queue (-T threads
# run, --queue more wait; beyond, 503 with Retry-After at once; nothing
# hangs; --queue 0 still uses idle threads; a cancelled request's job that
# has not started does not run), the loop staying responsive while the pool
# is saturated, evf_to_thread, and the stall detector naming the route that
# blocks the loop - and only that one.
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_blocking.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need curl
need_daemon


# curl_config FILE URL COUNT [OUTDIR]: a curl -K file with COUNT transfers
# of URL, each written to OUTDIR/N (default: discarded).
curl_config() {
    local f=$1 url=$2 count=$3 dir=${4:-} i
    for ((i = 1; i <= count; i++)); do
        printf 'url = "%s"\noutput = "%s"\n' "$url" "${dir:-/dev/null}${dir:+/$i}"
    done >"$f"
}

# pool_saturated ADDR: the daemon's status page (--status-path /status)
# shows jobs waiting for a pool thread.
pool_saturated() {
    "$FCGI_CLIENT" -t 5 request "$1" GET /status 2>/dev/null |
        grep -qE '"queued":[1-9]'
}

# has_established PORT: a TCP connection to local PORT is established.
has_established() { (($(established_on "$1") > 0)); }

# ---------------------------------------------------------------------------
# (a) -T 4 --queue 4: 4 jobs run, 4 wait; 30 requests at once. Those that
# find the queue full get 503 {"detail":"Service Unavailable"} with
# Retry-After at once; the others 200 after their turn. None hangs.

check_full_queue() {
    local base=$1 dir=$tmp/full cfg=$tmp/full.curl out t0 ms code file ra t
    local n200=0 n503=0 nbad=0 max503=0 bad=()
    mkdir -p "$dir"
    curl_config "$cfg" "$base/blocking" 30 "$dir"
    t0=$(now_us)
    out=$(CURL_MAX_TIME=3 curl_ --no-progress-meter --parallel --parallel-immediate --parallel-max 30 -K "$cfg" \
        -w '%{http_code} %{filename_effective} %{time_total} %header{retry-after}\n' 2>&1) || true
    ms=$((($(now_us) - t0) / 1000))
    while read -r code file t ra; do
        case $code in
        200)
            if [[ $(<"$file") == '{"slept_ms":100,"where":"pool"}' ]]; then
                n200=$((n200 + 1))
            else
                nbad=$((nbad + 1)); bad+=("200 with body '$(head -c 100 "$file")'")
            fi
            ;;
        503)
            if [[ $(<"$file") == '{"detail":"Service Unavailable"}' && $ra =~ ^[0-9]+$ ]]; then
                n503=$((n503 + 1))
            else
                nbad=$((nbad + 1)); bad+=("503 with Retry-After '$ra', body '$(head -c 100 "$file")'")
            fi
            t=$(awk -v t="$t" 'BEGIN { printf "%d", t * 1000 }')
            ((t > max503)) && max503=$t
            ;;
        *) nbad=$((nbad + 1)); bad+=("$code $file $t $ra") ;;
        esac
    done < <(grep -E '^[0-9]{3} ' <<<"$out")
    log "-T 4 --queue 4, 30 concurrent GET /blocking: $n200 x 200, $n503 x 503 in $ms ms; slowest 503 took $max503 ms"
    check_eq "-T 4 --queue 4: 30 concurrent GET /blocking all answered 200 (pool body) or 503 (Retry-After, detail body)" \
        "30 0" "$((n200 + n503)) $nbad"
    ((nbad == 0)) || printf '#   %s\n' "${bad[@]:0:5}" "$(head -c 500 <<<"$out")"
    check_true "-T 4 --queue 4: some requests were served ($n200 x 200)" test "$n200" -ge 1
    check_true "-T 4 --queue 4: the queue overflowed ($n503 x 503)" test "$n503" -ge 1
    # All 30 arrive within a few ms, long before the first job's 100 ms are
    # over: 4 run at once and 4 wait for a thread; the other 22 are refused.
    check_eq "-T 4 --queue 4: 30 at once: 4 running + 4 waiting served, the rest refused" \
        "8 x 200, 22 x 503" "$n200 x 200, $n503 x 503"
    check_true "-T 4 --queue 4: all 30 done in $ms ms (want < 3000: none hangs)" test "$ms" -lt 3000
    # A full queue answers at once: not after waiting for a thread (100 ms).
    check_true "-T 4 --queue 4: each 503 came at once (slowest $max503 ms; want < 100)" test "$max503" -lt 100
}

# ---------------------------------------------------------------------------
# (b) The default pool (40 threads) saturated by 200 concurrent /blocking
# requests (40 run, 160 queued): the loop still answers async routes at
# once. 50 sequential GET /hello on one client connection, each timed.

check_loop_free_while_pool_busy() {
    local base=$1 cfg=$tmp/load.curl hcfg=$tmp/hello.curl load_pid times max codes
    curl_config "$cfg" "$base/blocking" 800
    curl_config "$hcfg" "$base/hello" 50
    # 800 requests at 400/s: about 2 s of saturation.
    spawn_bg other "curl: 200 concurrent GET /blocking" "$tmp/load.out" \
        curl_ --no-progress-meter --parallel --parallel-immediate --parallel-max 200 -K "$cfg" -w '%{http_code}\n'
    load_pid=$LAST_PID
    poll_until 10 pool_saturated "127.0.0.1:$EVFCGID_PORT" ||
        fail "pool saturated: no /blocking job queued within 10 s"
    times=$(curl_ -K "$hcfg" -w '%{http_code} %{time_total}\n') || true
    check_true "pool saturated: the /blocking load was still running when the 50 /hello finished" is_alive "$load_pid"
    codes=$(awk '{ print $1 }' <<<"$times" | sort | uniq -c | sed 's/^ *//')
    check_eq "pool saturated: 50 sequential GET /hello all 200" "50 200" "$codes"
    max=$(awk '{ t = $2 * 1000; if (t > m) m = t } END { printf "%.1f", m }' <<<"$times")
    log "pool saturated: slowest of 50 GET /hello took $max ms"
    # Waiting for the pool instead, one would take 100 ms or more per job.
    check_true "pool saturated: each GET /hello answered fast (slowest $max ms; want < 300)" \
        awk -v m="$max" 'BEGIN { exit !(m < 300) }'
    wait_pid "$load_pid"
    codes=$(grep -E '^[0-9]{3}$' "$tmp/load.out" | sort | uniq -c | sed 's/^ *//')
    check_eq "pool saturated: 800 GET /blocking at concurrency 200 all 200 (queue 1024: no 503)" "800 200" "$codes"
}

# ---------------------------------------------------------------------------
# (c) Stall detector (--slow-callback-ms, default 100): /blocking-wrong
# sleeps 100 ms on the loop and is named in a warning with the fix; the
# well-behaved routes (awaiting, on the pool, via evf_to_thread) are not.
# (d) /to-thread: an async route awaiting a blocking call on the pool.

check_stall_detector() {
    local base=$1 u warns
    for u in /items/1 /blocking /to-thread /hello /gather /sleep?ms=150; do
        fetch "$base$u"
        check_eq "GET $u: status" 200 "$HTTP_STATUS"
    done
    fetch "$base/to-thread"
    check_eq "GET /to-thread: body" '{"slept_ms":100,"where":"to_thread"}' "$(body)"
    # One worker serves them all on one loop: once it answers another
    # request, a warning about an earlier one would have been written.
    fetch "$base/hello"
    warns=$(grep -E ' warn: ' "$EVFCGID_LOG" || true)
    check_eq "stall detector: no warning for /items/1, /blocking, /to-thread, /hello, /gather, /sleep (nor for 800 /blocking before)" "" "$warns"

    fetch "$base/blocking-wrong"
    check_eq "GET /blocking-wrong: served" '200 {"slept_ms":100,"where":"loop"}' "$HTTP_STATUS $(body)"
    fetch "$base/hello"
    warns=$(grep -E ' warn: ' "$EVFCGID_LOG" || true)
    check_match "stall detector: warning names GET /blocking-wrong" \
        '^[^ ]+ evfcgid\[[0-9]+\] warn: GET /blocking-wrong blocked the event loop for [0-9]+ ms' "$warns"
    check_match "stall detector: warning points to evf_to_thread" 'evf_to_thread' "$warns"
    check_eq "stall detector: exactly one warning line" 1 "$(grep -c . <<<"$warns")"

    # Once a minute per route: a second stall within the minute is counted,
    # not logged again.
    fetch "$base/blocking-wrong"
    check_eq "GET /blocking-wrong again: served" 200 "$HTTP_STATUS"
    fetch "$base/hello"
    check_eq "stall detector: still one warning line after a second stall within the minute" \
        1 "$(grep -c ' warn: ' "$EVFCGID_LOG")"
}

# ---------------------------------------------------------------------------

start_evfcgid_tcp -a "$DEMO_APP" -T 4 --queue 4
small=$EVFCGID_PID
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
log "nginx :$NGINX_PORT -> evfcgid -T 4 --queue 4 on 127.0.0.1:$EVFCGID_PORT"
check_full_queue "http://127.0.0.1:$NGINX_PORT"
fetch "http://127.0.0.1:$NGINX_PORT/blocking"
check_eq "-T 4 --queue 4: GET /blocking served after the burst" '200 {"slept_ms":100,"where":"pool"}' "$HTTP_STATUS $(body)"
assert_alive "$small" "-T 4 --queue 4"
stop_pid "$NGINX_PID"
stop_pid "$small" TERM
check_eq "-T 4 --queue 4: evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"

# A client that gives up while its job waits in the queue: the request is
# cancelled, and a job that has not started must not run (as in FastAPI,
# where a cancelled task waiting for a worker thread never calls the
# function): it would hold a thread and a queue slot for nothing. One
# thread; 6 clients give up after 50 ms (one job running, 5 waiting); a
# new request must then wait at most for the running one.
start_evfcgid_tcp -a "$DEMO_APP" -T 1 --queue 10
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
curl_config "$tmp/giveup.curl" "http://127.0.0.1:$NGINX_PORT/blocking" 6
codes=$(curl_ --no-progress-meter --max-time 0.05 --parallel --parallel-immediate --parallel-max 6 \
    -K "$tmp/giveup.curl" -w '%{http_code}\n' 2>/dev/null | sort | uniq -c | sed 's/^ *//') || true
check_eq "-T 1: 6 clients gave up on GET /blocking after 50 ms" "6 000" "$codes"
poll_until 5 not has_established "$EVFCGID_PORT" ||
    fail "-T 1: nginx did not close its upstream connections within 5 s"
t0=$(now_us)
fetch "http://127.0.0.1:$NGINX_PORT/blocking"
ms=$((($(now_us) - t0) / 1000))
check_eq "-T 1: GET /blocking after the clients gave up" '200 {"slept_ms":100,"where":"pool"}' "$HTTP_STATUS $(body)"
check_true "-T 1: the abandoned jobs that had not started did not run (took $ms ms; want < 500, 600+ if they ran)" \
    test "$ms" -lt 500
stop_pid "$NGINX_PID"
stop_pid "$EVFCGID_PID" TERM

# --queue 0: no job waits, but an idle thread takes one at once.
start_evfcgid_tcp -a "$DEMO_APP" -T 2 --queue 0
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
fetch "http://127.0.0.1:$NGINX_PORT/blocking"
check_eq "-T 2 --queue 0: GET /blocking on an idle pool is served" '200 {"slept_ms":100,"where":"pool"}' "$HTTP_STATUS $(body)"
stop_pid "$NGINX_PID"
stop_pid "$EVFCGID_PID" TERM

start_evfcgid_tcp -a "$DEMO_APP" --status-path /status
daemon=$EVFCGID_PID
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT
log "nginx :$NGINX_PORT -> evfcgid (default pool) on 127.0.0.1:$EVFCGID_PORT"
check_loop_free_while_pool_busy "$base"
require_alive "$daemon" "after saturating the pool"
check_stall_detector "$base"
assert_alive "$daemon" "after the stall"
stop_pid "$NGINX_PID"
stop_pid "$daemon" TERM
check_eq "evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
