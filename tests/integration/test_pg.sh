#!/usr/bin/env bash
#
# The PostgreSQL driver and pool (evfcgi_pg.h) against a real server: a
# throwaway cluster made with initdb in $tmp, on a unix socket directory
# and a free loopback port, stopped by PID and removed by the teardown.
# Requests go through nginx to evfcgid serving tests/apps/pgtest.c.
#
# Covered: parameters, NULLs, typed accessors, prepared statements reused
# per connection, a pipeline of 500, transactions (commit; rolled back on
# raise, deadline, and when the handler forgets), LISTEN/NOTIFY; and the
# failures: database down at start (503 + Retry-After, then recovery),
# restarted under load (503s, then recovery by itself), backend killed
# mid-query (503, connection replaced), query error (500 with no SQL in
# the body, SQLSTATE in the log), deadline during a query (504, connection
# discarded), client gone mid-query (counted as aborted).
#
#   make check TESTS=tests/integration/test_pg.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=pg_lib.sh
. "$(dirname "$0")/pg_lib.sh"

need "$NGINX"
need curl
need_daemon
need_pg
[[ -r ${PGTEST_APP:-} ]] || PGTEST_APP=$top_builddir/tests/apps/.libs/pgtest.so
[[ -r $PGTEST_APP ]] || { log "ERROR: PGTEST_APP=$PGTEST_APP missing"; exit 99; }
: "${FCGI_CLIENT:=$top_builddir/tests/tools/fcgi-client}"
[[ -x $FCGI_CLIENT ]] || { log "ERROR: FCGI_CLIENT=$FCGI_CLIENT missing"; exit 99; }

# wait_for WHAT SECONDS CMD...: until CMD succeeds, or fail the check.
wait_for() {
    local what=$1 deadline=$((SECONDS + $2))
    shift 2
    while ((SECONDS < deadline)); do
        if "$@"; then pass "$what"; return 0; fi
        sleep 0.05
    done
    not_ok "$what" "not true within the time limit: $*"
    return 1
}

# The cluster's port is chosen first, and evfcgid starts while the
# database is still down.
pg_find_bindir
PG_PORT=$(free_port)
start_evfcgid_tcp -a "$PGTEST_APP" -w 1 --status-path /status \
    -o "pgtest:database_url=postgresql://postgres@127.0.0.1:$PG_PORT/postgres?connect_timeout=5" \
    -o pgtest:pool_max=2
daemon=$EVFCGID_PID
main_log=$EVFCGID_LOG
start_nginx "" "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT

# ---- database down at start ---------------------------------------------
fetch "$base/pg/pid"
check_eq "database down: 503" 503 "$HTTP_STATUS"
check_eq "database down: Retry-After" 1 "$(header_value Retry-After)"
check_match "database down: the body is the plain detail" '"detail":"Service Unavailable"' "$(body)"
check_true "database down: the worker logged it" grep -q 'database: cannot connect' "$EVFCGID_LOG"
require_alive "$daemon" "database down at start"

# Now the database comes up on that port: the pool reconnects by itself.
# client_connection_check_interval: a backend whose client closed its
# connection ends its query (the test sees discarded connections go).
start_pg_cluster -c client_connection_check_interval=100ms
psql_ "CREATE TABLE items (n serial, v text)"
status_of() { curl_ -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true; }
wait_for "database up: the pool reconnects by itself" 20 \
    eval '[[ $(status_of "$base/pg/pid") == 200 ]]'

# A connection string libpq refuses at once: the worker still starts and
# answers 503 (it must not retry in a loop that never gives the loop back).
start_evfcgid_tcp -a "$PGTEST_APP" -w 1 -o "pgtest:database_url=postgresql://[bad" -o pgtest:pool_max=2
bad=$EVFCGID_PID
out=$("$FCGI_CLIENT" -t 10 request "127.0.0.1:$EVFCGID_PORT" GET /pg/pid -r 2>&1 || true)
check_match "bad connection string: 503" '^status=503 ' "$out"
check_true "bad connection string: logged" grep -q 'database: cannot connect' "$EVFCGID_LOG"
require_alive "$bad" "a bad connection string"

# ---- the driver ------------------------------------------------------------
fetch "$base/pg/params?a=2&b=40"
check_eq "params: a NULL parameter" '200 {"sum":42,"c_is_null":true,"c":null}' "$HTTP_STATUS $(tr -d ' ' <"$tmp/body")"
fetch "$base/pg/params?a=-2&b=3&c=x%27%3B+DROP"
check_eq "params: text parameters never mix with SQL" '200 {"sum":1,"c_is_null":false,"c":"x'"'"';DROP"}' "$HTTP_STATUS $(tr -d ' ' <"$tmp/body")"

fetch "$base/pg/types"
check_eq "types: int, int64, float, bool, text, NULL" \
    '200 {"int":42,"int64":9000000000,"float":1.5,"bool":true,"text":"héllo","null":true,"null_int":0,"false":false,"rows":1,"fields":7}' \
    "$HTTP_STATUS $(body)"

for i in 1 2 3; do
    fetch "$base/pg/prepared?n=5"
    check_match "prepared (request $i): prepared once per connection, reused" \
        '^200 \{"sum":20,"prepared":1,' "$HTTP_STATUS $(body)"
done

fetch "$base/pg/pipeline?n=500"
check_eq "pipeline of 500: every result, in order" '200 {"n":500,"sum":375750,"ordered":true}' "$HTTP_STATUS $(body)"

count_of() { fetch "$base/pg/count?v=$1"; body; }
fetch -X POST "$base/pg/tx?v=c1&end=commit"
check_eq "transaction: committed" '200 1' "$HTTP_STATUS $(count_of c1 | tr -dc '0-9')"
fetch -X POST "$base/pg/tx?v=r1&end=raise"
check_eq "transaction: raise answers the handler's error" 409 "$HTTP_STATUS"
check_eq "transaction: rolled back on raise" '{"count":0}' "$(count_of r1)"
fetch -X POST "$base/pg/tx?v=f1&end=forget"
check_eq "transaction: forgotten by the handler" 200 "$HTTP_STATUS"
check_eq "transaction: rolled back at the end of the request" '{"count":0}' "$(count_of f1)"
fetch -X POST "$base/pg/tx?v=s1&end=sleep"
check_eq "transaction: deadline passed inside it" 504 "$HTTP_STATUS"
check_eq "transaction: rolled back after the deadline" '{"count":0}' "$(count_of s1)"

# LISTEN/NOTIFY: a request awaits a notification that another sends.
spawn_bg other listener "$tmp/listen.out" curl_ -s "$base/pg/listen?ch=news&timeout=20"
listener=$LAST_PID
wait_for "listen: the request listens" 15 \
    eval '[[ $(psql_ "SELECT count(*) FROM pg_stat_activity WHERE query = '"'"'LISTEN \"news\"'"'"'") == 1 ]]'
fetch "$base/pg/notify?ch=news&msg=hello%20there"
check_eq "notify: sent" 200 "$HTTP_STATUS"
wait_pid "$listener"
check_eq "listen: the notification arrives" '{"channel":"news","payload":"hello there"}' "$(tr -d ' ' <"$tmp/listen.out" | sed 's/hellothere/hello there/')"
fetch "$base/pg/listen?ch=quiet&timeout=0.2"
check_eq "listen: times out when nothing comes" 408 "$HTTP_STATUS"

# Shared connections: 200 concurrent requests pipelined on the pool's
# connections, each must get its own results; a failing batch fails only
# its request.
for ((k = 1; k <= 200; k++)); do
    f=false; ((k % 50 == 0)) && f=true
    printf 'url = "%s"\noutput = "%s"\n' "$base/pg/shared?k=$k&fail=$f" "$tmp/shared.$k"
done >"$tmp/shared.cfg"
curl_ -s --parallel --parallel-max 50 -K "$tmp/shared.cfg" >/dev/null || true
bad=
for ((k = 1; k <= 200; k++)); do
    if ((k % 50 == 0)); then want='{"detail":"Internal Server Error"}'
    else want="{\"k\":$k,\"sum\":$((3 * (5 * k * 1000 + 10)))}"; fi
    [[ $(cat "$tmp/shared.$k" 2>/dev/null) == "$want" ]] || bad+=" $k"
done
check_eq "shared: every request gets its own results, errors stay in theirs" "" "$bad"
fetch --max-time 0.5 "$base/pg/shared?k=7&sleep=1.5"
check_eq "shared: a client leaves while its batch runs" 28 "$CURL_RC"
fetch "$base/pg/shared?k=8"
check_eq "shared: the connection serves the next batches" '200 {"k":8,"sum":120030}' "$HTTP_STATUS $(body)"

# ---- failures ---------------------------------------------------------------
fetch "$base/pg/error"
check_eq "query error: 500 with the plain detail" '500 {"detail":"Internal Server Error"}' "$HTTP_STATUS $(body)"
check_true "query error: the SQLSTATE and message are logged" grep -q 'SQLSTATE 22012: division by zero' "$main_log"
check_true "query error: no SQL text reaches the client" eval '! grep -q secret_sql_text "$tmp/body"'
fetch "$base/pg/pid"
check_eq "query error: the connection serves the next request" 200 "$HTTP_STATUS"

sleepers() { psql_ "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pgtest-sleep%' AND state = 'active' AND pid <> pg_backend_pid()"; }
fetch "$base/pg/deadline?s=30"
check_eq "deadline during a query: 504" 504 "$HTTP_STATUS"
wait_for "deadline during a query: the connection is discarded" 15 eval '[[ $(sleepers) == 0 ]]'
fetch "$base/pg/pid"
check_eq "deadline during a query: the pool serves the next request" 200 "$HTTP_STATUS"

aborted() { curl_ -s "$base/status" | grep -o '"aborted": *[0-9]*' | head -n 1 | tr -dc '0-9'; }
before=$(aborted)
fetch --max-time 1 "$base/pg/sleep?s=30"
check_eq "client gone mid-query: curl gave up" 28 "$CURL_RC"
wait_for "client gone mid-query: the connection is discarded" 15 eval '[[ $(sleepers) == 0 ]]'
wait_for "client gone mid-query: counted as aborted" 10 eval '(( $(aborted) > before ))'

spawn_bg other victim "$tmp/victim.out" curl_ -s -o /dev/null -w '%{http_code}' "$base/pg/sleep?s=30"
victim=$LAST_PID
wait_for "backend killed: the query runs" 15 eval '[[ $(sleepers) == 1 ]]'
psql_ "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pgtest-sleep%' AND pid <> pg_backend_pid()" >/dev/null
wait_pid "$victim"
check_eq "backend killed mid-query: 503" 503 "$(cat "$tmp/victim.out")"
fetch "$base/pg/pid"
check_eq "backend killed: a new connection serves the next request" 200 "$HTTP_STATUS"

# Restart under load: requests fail with 503 meanwhile, none hangs, and the
# pool recovers by itself.
# 400 queries of 20 ms on 2 connections: about 4 s of load.
for ((i = 0; i < 400; i++)); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$base/pg/sleep?s=0.02"
done >"$tmp/load.cfg"
spawn_bg other load "$tmp/load.out" curl_ -s --stderr "$tmp/load.err" \
    --parallel --parallel-max 16 -w '%{http_code}\n' -K "$tmp/load.cfg"
load=$LAST_PID
# (curl's -w output is buffered: count the answers in nginx's access log.)
wait_for "restart under load: requests flow" 15 \
    eval '(( $(grep -c "pg/sleep?s=0.02" "$NGINX_ACCESS_LOG") >= 30 ))'
pg_stop
pg_start_again
wait_pid "$load"
codes=$(sort "$tmp/load.out" | uniq -c | awk '{printf "%s:%s ", $2, $1}')
log "restart under load: $codes"
check_true "restart under load: only 200 and 503" eval '! grep -qv -e "^200$" -e "^503$" "$tmp/load.out"'
check_true "restart under load: 400 answers" eval '(( $(grep -c . "$tmp/load.out") == 400 ))'
check_true "restart under load: some failed with 503" grep -q '^503$' "$tmp/load.out"
wait_for "restart under load: the pool recovers" 20 eval '[[ $(status_of "$base/pg/pid") == 200 ]]'
for ((i = 0; i < 40; i++)); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$base/pg/sleep?s=0.01"
done >"$tmp/after.cfg"
after=$(curl_ -s --parallel --parallel-max 8 -w '%{http_code}\n' -K "$tmp/after.cfg" | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
check_eq "restart under load: every connection works again" "200:40 " "$after"
require_alive "$daemon" "PostgreSQL failures"

# ---- waiting for a connection ---------------------------------------------
# A second daemon with one connection and room for one waiter.
start_evfcgid_tcp -a "$PGTEST_APP" -w 1 --status-path /status \
    -o "pgtest:database_url=$PG_URL" \
    -o pgtest:pool_max=1 -o pgtest:max_waiters=1
small=$EVFCGID_PID
start_nginx "" "127.0.0.1:$EVFCGID_PORT"
sbase=http://127.0.0.1:$NGINX_PORT
wait_for "one connection: ready" 15 eval '[[ $(status_of "$sbase/pg/pid") == 200 ]]'
spawn_bg other holder "$tmp/holder.out" curl_ -s -o /dev/null -w '%{http_code}' "$sbase/pg/sleep?s=2"
holder=$LAST_PID
wait_for "one connection: held by a slow query" 15 eval '[[ $(sleepers) == 1 ]]'
spawn_bg other waiter "$tmp/waiter.out" curl_ -s -o /dev/null -w '%{http_code}' "$sbase/pg/types"
waiter=$LAST_PID
# In flight: the holder, the waiter, and the /status request itself.
in_flight() { curl_ -s "$sbase/status" | grep -o '"in flight": *[0-9]*' | head -n 1 | tr -dc 0-9; }
wait_for "one connection: a request waits for it" 15 eval '(( $(in_flight) >= 3 ))'
fetch "$sbase/pg/pid"
check_eq "too many waiters: 503 at once" 503 "$HTTP_STATUS"
check_eq "too many waiters: Retry-After" 1 "$(header_value Retry-After)"
wait_pid "$holder"
wait_pid "$waiter"
check_eq "the waiter gets the connection when it is free" "200 200" "$(cat "$tmp/holder.out") $(cat "$tmp/waiter.out")"
require_alive "$small" "too many waiters"

# FIFO: three requests queued one after the other get the connection in
# that order (a third daemon: one connection, room for three waiters).
start_evfcgid_tcp -a "$PGTEST_APP" -w 1 --status-path /status \
    -o "pgtest:database_url=$PG_URL" -o pgtest:pool_max=1 -o pgtest:max_waiters=3
stop_pid "$NGINX_PID"
start_nginx "" "127.0.0.1:$EVFCGID_PORT"
sbase=http://127.0.0.1:$NGINX_PORT
wait_for "FIFO: ready" 15 eval '[[ $(status_of "$sbase/pg/pid") == 200 ]]'
spawn_bg other holder3 "$tmp/holder3.out" curl_ -s -o /dev/null -w '%{http_code}' "$sbase/pg/sleep?s=1"
holder=$LAST_PID
wait_for "FIFO: the connection is held" 15 eval '[[ $(sleepers) == 1 ]]'
fifo_pids=()
for i in 1 2 3; do
    spawn_bg other "fifo$i" "$tmp/fifo$i.out" curl_ -s -X POST "$sbase/pg/insert?v=fifo$i"
    fifo_pids+=("$LAST_PID")
    wait_for "FIFO: request $i waits" 15 eval '(( $(in_flight) >= i + 2 ))'
done
wait_pid "$holder"
for p in "${fifo_pids[@]}"; do wait_pid "$p"; done
check_eq "FIFO: served in the order they came" "fifo1,fifo2,fifo3" \
    "$(psql_ "SELECT string_agg(v, ',' ORDER BY n) FROM items WHERE v LIKE 'fifo%'")"
spawn_bg other holder2 "$tmp/holder2.out" curl_ -s -o /dev/null -w '%{http_code}' "$sbase/pg/sleep?s=2"
holder=$LAST_PID
wait_for "one connection: held again" 15 eval '[[ $(sleepers) == 1 ]]'
fetch "$sbase/pg/deadline?s=0"
check_eq "waiting for a connection past the deadline: 504" 504 "$HTTP_STATUS"
wait_pid "$holder"
check_eq "the holder is not disturbed by the waiter that left" 200 "$(cat "$tmp/holder2.out")"
fetch "$sbase/pg/pid"
check_eq "the connection serves the next request" 200 "$HTTP_STATUS"
require_alive "$small" "waiting for a connection"
