#!/usr/bin/env bash
#
# bench/tfb.sh - the TechEmpower test types (apps/tfb) on PostgreSQL, in one
# run, against a throwaway cluster (initdb in the private temp dir, stopped
# by PID afterwards) holding TechEmpower's hello_world schema:
#
#   1. PostgreSQL's own ceiling: pgbench -S -M prepared (scale 1), and
#      pgbench -M prepared running /db's statement (one World row by a
#      random id), each with as many clients as the pool has connections.
#   2. /db FastCGI-direct (no web server): bench/fcgi-load with
#      DB_PENDING (256) requests in flight.
#   3. Memory per pending database request: HOLD_PENDING (1000) /db
#      requests held while a session locks World, RSS growth / request.
#   4. Each TFB type through nginx with wrk at CONNECTIONS (256).
# CPU columns: microseconds of CPU per completed request, of evfcgid (all
# its processes) and of PostgreSQL (postmaster and backends).
#
# From the build directory:   bench/tfb.sh
# Knobs: POOL (8 connections per worker), DB_PENDING, HOLD_PENDING,
# CONNECTIONS, DURATION, WARMUP, WORKERS (see bench/lib.sh).

set -euo pipefail
: "${TFB_APP:=${top_builddir:-$PWD}/apps/.libs/tfb.so}"
DEMO_APP=$TFB_APP       # bench/lib.sh starts the daemon with DEMO_APP
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=../tests/integration/pg_lib.sh
. "$top_srcdir/tests/integration/pg_lib.sh"

: "${POOL:=8}"
: "${DB_PENDING:=256}"
: "${HOLD_PENDING:=1000}"
: "${CONNECTIONS:=256}"
: "${FCGI_LOAD:=$top_builddir/bench/fcgi-load}"
need_pg
[[ -x $FCGI_LOAD ]] || { log "SKIP: $FCGI_LOAD not built (make check builds it)"; exit 77; }
((WORKERS <= 1)) || fail "the memory phase measures one serving process: WORKERS must be 0 or 1"

start_pg_cluster -c max_connections=300 -c shared_buffers=128MB
pg_load_hello_world
hw() { "$PG_BINDIR/psql" -X -q -A -t -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -d hello_world -c "$1"; }
# PostgreSQL's CPU ticks: the postmaster and its live backends (utime +
# stime), plus the backends it has reaped (cutime + cstime).
pgcpu() {
    local total=0 p stat
    local -a f
    for p in $(descendants "$PG_PID"); do
        { stat=$(<"/proc/$p/stat"); } 2>/dev/null || continue
        stat=${stat##*) }
        read -r -a f <<<"$stat"
        total=$((total + f[11] + f[12] + f[13] + f[14]))
    done
    echo "$total"
}
# Until pgbench's backends are gone (and reaped: their CPU is counted).
pg_quiet() {
    local i
    for ((i = 0; i < 50; i++)); do
        [[ $(hw "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'") == 1 ]] && return 0
        sleep 0.1
    done
}

# ---- 1. pgbench --------------------------------------------------------------
pgb() {
    "$PG_BINDIR/pgbench" -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -n -M prepared \
        -c "$POOL" -j 2 -T "$DURATION" "$@" 2>&1
}
"$PG_BINDIR/pgbench" -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -i -q -s 1 hello_world >"$tmp/pgbench-init.log" 2>&1 ||
    { cat "$tmp/pgbench-init.log" >&2; fail "pgbench -i failed"; }
log "pgbench -S -M prepared -c $POOL"
c0=$(pgcpu)
pgb -S hello_world >"$tmp/pgbench-S.log"
pg_quiet
c1=$(pgcpu)
tps_S=$(awk '/^tps = / { printf "%.0f", $3; exit }' "$tmp/pgbench-S.log")
txn_S=$(awk '/number of transactions actually processed/ { print $NF; exit }' "$tmp/pgbench-S.log" | cut -d/ -f1)
pg_us_S=$(_us_per_req $((c1 - c0)) "$txn_S")
printf '\\set id random(1, 10000)\nSELECT id, randomnumber FROM world WHERE id = :id;\n' >"$tmp/db.sql"
log "pgbench -M prepared -f db.sql -c $POOL"
c0=$(pgcpu)
pgb -f "$tmp/db.sql" hello_world >"$tmp/pgbench-db.log"
pg_quiet
c1=$(pgcpu)
tps_db=$(awk '/^tps = / { printf "%.0f", $3; exit }' "$tmp/pgbench-db.log")
txn_db=$(awk '/number of transactions actually processed/ { print $NF; exit }' "$tmp/pgbench-db.log" | cut -d/ -f1)
pg_us_db=$(_us_per_req $((c1 - c0)) "$txn_db")

# ---- servers -----------------------------------------------------------------
bench_start_servers -o "tfb:database_url=$TFB_URL" -o "tfb:pool_max=$POOL" \
    -o "tfb:pool_min=$POOL" -o tfb:max_waiters=100000
bench_preflight "$BENCH_BASE/db" 200
addr=$BENCH_UPSTREAM     # unix:/path or 127.0.0.1:port, as nginx reaches it
wpid=$EVFCGID_PID
for p in $(descendants "$EVFCGID_PID"); do
    [[ $(basename "$(readlink "/proc/$p/exe" 2>/dev/null)") == @(evfcgid|lt-evfcgid) ]] && wpid=$p
done

# ---- 2. /db FastCGI-direct ---------------------------------------------------
"$FCGI_LOAD" "$addr" /db -c 8 -n "$DB_PENDING" -d "$WARMUP" >/dev/null 2>&1 || true
e0=$(cpu_ticks "$EVFCGID_PID")
c0=$(pgcpu)
direct=$("$FCGI_LOAD" "$addr" /db -c 8 -n "$DB_PENDING" -d "$DURATION") ||
    log "fcgi-load /db: exit status $? ($direct)"
e1=$(cpu_ticks "$EVFCGID_PID")
c1=$(pgcpu)
d_done=$(field completed "$direct")
[[ -n $d_done && $d_done -gt 0 ]] || fail "fcgi-load /db completed nothing: $direct"
d_rps=$(field rps "$direct")
d_evf_us=$(_us_per_req $((e1 - e0)) "$d_done")
d_pg_us=$(_us_per_req $((c1 - c0)) "$d_done")

# ---- 3. memory per pending database request ----------------------------------
proc_kb() { awk '$1 == "VmRSS:" { print $2; exit }' "/proc/$1/status"; }
spawn_bg other locker "$tmp/locker.log" "$PG_BINDIR/psql" -X -q -h "$PG_SOCKDIR" -p "$PG_PORT" \
    -U postgres -d hello_world -c "BEGIN; LOCK TABLE world IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);"
locker=$LAST_PID
for ((i = 0; i < 100; i++)); do
    [[ $(hw "SELECT count(*) FROM pg_locks WHERE relation = 'world'::regclass AND granted AND mode = 'AccessExclusiveLock'") == 1 ]] && break
    sleep 0.1
done
rss0=$(proc_kb "$wpid")
spawn_bg other "fcgi-load --hold" "$tmp/hold.log" \
    "$FCGI_LOAD" "$addr" /db -c 10 -n "$HOLD_PENDING" --hold -d 30
hold=$LAST_PID
for ((i = 0; i < 100; i++)); do
    grep -q '^sent=' "$tmp/hold.log" && break
    sleep 0.1
done
# Until the daemon has taken them all in (RSS stops growing).
prev=$(proc_kb "$wpid")
for ((i = 0; i < 20; i++)); do
    sleep 0.5
    cur=$(proc_kb "$wpid")
    ((cur - prev <= prev / 200)) && break
    prev=$cur
done
rss1=$(proc_kb "$wpid")
waiting=$(hw "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
stop_pid "$hold" TERM
stop_pid "$locker" TERM
per_req=$(awk -v a="$rss0" -v b="$rss1" -v n="$HOLD_PENDING" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')
for ((i = 0; i < 100; i++)); do
    [[ $(curl_ -s -o /dev/null -w '%{http_code}' "$BENCH_BASE/db") == 200 ]] && break
    sleep 0.1
done

# ---- 4. through nginx --------------------------------------------------------
declare -A PG_US=()
for path in /json /plaintext /db "/queries?queries=20" /fortunes "/updates?queries=20" "/cached-queries?count=20"; do
    bench_warmup "$BENCH_BASE$path" "$CONNECTIONS"
    c0=$(pgcpu)
    run_wrk "$path" "$BENCH_BASE$path" "$CONNECTIONS"
    c1=$(pgcpu)
    PG_US[$path]=$(_us_per_req $((c1 - c0)) "${B_REQS[$path]}")
    B_NOTE[$path]=${PG_US[$path]}
done
BENCH_NOTE_TITLE='postgres us/r'

# ---- report ------------------------------------------------------------------
bench_header "tfb" "the TechEmpower types on PostgreSQL $("$PG_BINDIR/postgres" -V | awk '{ print $3 }'), pool $POOL per worker"
printf 'PostgreSQL ceiling (pgbench -M prepared -c %s -j 2 -T %s):\n' "$POOL" "$DURATION"
printf '  -S (pgbench_accounts, scale 1)    %8s tps   postgres %s us/txn\n' "$tps_S" "$pg_us_S"
printf '  /db statement (World by id)      %8s tps   postgres %s us/txn\n\n' "$tps_db" "$pg_us_db"
printf 'FastCGI-direct /db (fcgi-load, %s pending on 8 connections, %ss):\n' "$DB_PENDING" "$DURATION"
printf '  %s req/s, p50 %s ms, p99 %s ms, errors %s; evfcgid %s us/r, postgres %s us/r\n' \
    "$d_rps" "$(field p50_ms "$direct")" "$(field p99_ms "$direct")" "$(field errors "$direct")" "$d_evf_us" "$d_pg_us"
ratio=$(awk -v a="$d_rps" -v b="$tps_S" 'BEGIN { printf "%.2f", a / b }')
verdict "$ratio" ge 0.7
printf '  /db / pgbench -S = %s (target >= 0.7: %s)\n' "$ratio" "$VERDICT"
verdict "$d_evf_us" le 15
printf '  evfcgid CPU per /db = %s us (target <= 15: %s)\n\n' "$d_evf_us" "$VERDICT"
printf 'Memory: %s /db requests pending (World locked; %s backends waiting on the lock), RSS %s -> %s KiB\n' \
    "$HOLD_PENDING" "$waiting" "$rss0" "$rss1"
verdict "$per_req" le 8192
printf '  %s bytes per pending database request (target <= 8192: %s)\n\n' "$per_req" "$VERDICT"
printf 'Through nginx, wrk -c %s:\n' "$CONNECTIONS"
bench_table
q20=$(awk -v a="${B_RPS[/queries?queries=20]}" -v b="${B_RPS[/db]}" 'BEGIN { printf "%.2f", a / b }')
verdict "$q20" ge 0.2
printf '\n/queries?queries=20 / /db = %s (target >= 0.2: %s)\n' "$q20" "$VERDICT"
bench_finish
