#!/usr/bin/env bash
#
# bench/pending.sh - FastCGI-native measurements, without nginx: evfcgid
# alone, driven by bench/fcgi-load over multiplexed connections.
#
# Phase 1, memory: fcgi-load holds PENDING (100,000) requests to
#   /sleep?ms=60000 in flight over 10 connections (--hold: all written,
#   none answered yet). Reported from the serving process (the worker, not
#   the master or a libtool wrapper): VmRSS before and during, the growth
#   per pending request (target <= 4 KiB: one stack page), the number of memory mappings
#   against vm.max_map_count, and RSS once the client has gone.
# Phase 2, CPU: fcgi-load -c 10 -n 1000 for LOAD_SECONDS on
#   /items/1 (100 ms await: ideal 1000 / 0.1 s = 10,000 req/s) and on
#   /hello: throughput, latency, and evfcgid's CPU microseconds per request
#   (utime + stime from /proc, master and worker, / completed requests).
#
# nginx does not multiplex FastCGI: it opens one upstream connection per
# request in flight, so through nginx the open-files limit (ulimit -n) caps
# pending requests near it. Here 10 connections carry them all.
#
# From the build directory:   bench/pending.sh
# Knobs: PENDING=100000, CONNS=10, LOAD_SECONDS (default DURATION, 10),
# LOAD_PENDING=1000, FCGI_CLIENT, FCGI_LOAD; see bench/lib.sh and bench/README.md.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${FCGI_CLIENT:=$top_builddir/tests/tools/fcgi-client}"
: "${FCGI_LOAD:=$top_builddir/bench/fcgi-load}"
: "${PENDING:=100000}"
: "${CONNS:=10}"
: "${LOAD_SECONDS:=$DURATION}"
: "${LOAD_PENDING:=1000}"
TARGET_BYTES=4096
HOLD_SECONDS=20

[[ -x $FCGI_CLIENT ]] || { log "SKIP: FCGI_CLIENT='$FCGI_CLIENT' not found (make check builds tests/tools/fcgi-client)"; exit 77; }
[[ -x $FCGI_LOAD ]] || { log "SKIP: FCGI_LOAD='$FCGI_LOAD' not found (make check builds bench/fcgi-load)"; exit 77; }
((WORKERS <= 1)) || fail "pending.sh measures one serving process: WORKERS must be 0 or 1, not $WORKERS"

# proc_field PID NAME: a "Name:  value kB" line of /proc/PID/status (value).
proc_field() { awk -v k="$2:" '$1 == k { print $2; exit }' "/proc/$1/status"; }
map_count() { wc -l <"/proc/$1/maps"; }
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# serving_pid PID: the process that serves requests: with a master
# (-w 1), its one worker; with -w 0, PID itself. Either must run the
# evfcgid image, not a shell (a libtool wrapper that did not exec).
is_evfcgid_image() { [[ $(basename "$(readlink "/proc/$1/exe" 2>/dev/null)") == @(evfcgid|lt-evfcgid) ]]; }
serving_pid() {
    local p found=
    for p in $(descendants "$1"); do
        is_evfcgid_image "$p" && found+=" $p"
    done
    found=${found# }
    [[ -n $found ]] || found=$1
    [[ $found != *' '* ]] || fail "more than one evfcgid worker under $1:$found"
    is_evfcgid_image "$found" || fail "pid $found runs $(readlink "/proc/$found/exe"), not evfcgid"
    echo "$found"
}

# Every pending request is in flight: lift the per-worker cap above them
# (in builds that have one: EVFCGID may be an older build, to compare).
cap=()
"$EVFCGID" --directives 2>&1 | grep max_requests_in_flight >/dev/null &&
    cap=(--max-requests-in-flight "$((PENDING + LOAD_PENDING + 1000))")
start_evfcgid_tcp -a "$DEMO_APP" -w "$WORKERS" "${cap[@]}"
addr=127.0.0.1:$EVFCGID_PORT
wpid=$(serving_pid "$EVFCGID_PID")
log "evfcgid on $addr: started as pid $EVFCGID_PID, serving process $wpid ($(readlink "/proc/$wpid/exe"))"

out=$("$FCGI_CLIENT" request "$addr" GET '/sleep?ms=1' -r) || fail "preflight /sleep?ms=1: $out"
[[ $out == 'status=200 '* ]] || fail "preflight /sleep?ms=1: $out"

# ---------------------------------------------------------------------------
# Phase 1: memory per pending request

# Touch the per-connection and per-thread buffers once, so the baseline is
# a daemon that has served, not a freshly started one.
"$FCGI_LOAD" "$addr" /hello -c "$CONNS" -n 100 -d 1 >/dev/null
sleep 1
rss0=$(proc_field "$wpid" VmRSS)
maps0=$(map_count "$wpid")
vsz0=$(proc_field "$wpid" VmSize)
fds0=$(fd_count "$wpid")

spawn_bg other "fcgi-load --hold" "$tmp/hold.log" \
    "$FCGI_LOAD" "$addr" '/sleep?ms=60000' -c "$CONNS" -n "$PENDING" --hold -d "$HOLD_SECONDS"
hold_pid=$LAST_PID
t0=$(date +%s%N)
for ((i = 0; i < HOLD_SECONDS * 10; i++)); do
    grep -q '^sent=' "$tmp/hold.log" && break
    is_alive "$hold_pid" || { cat "$tmp/hold.log" >&2; fail "fcgi-load --hold ended before sending everything"; }
    sleep 0.1
done
grep -q "^sent=$PENDING\$" "$tmp/hold.log" || { cat "$tmp/hold.log" >&2; fail "fcgi-load did not report sent=$PENDING"; }
send_ms=$((($(date +%s%N) - t0) / 1000000))
# The client has written everything; give the daemon a second to read,
# parse and start every request, then until its RSS stops growing (two
# samples half a second apart within 1%; at most 10 s more).
sleep 1
prev=$(proc_field "$wpid" VmRSS)
for ((i = 0; i < 20; i++)); do
    sleep 0.5
    cur=$(proc_field "$wpid" VmRSS)
    ((cur - prev <= prev / 100)) && break
    prev=$cur
done
is_alive "$hold_pid" || { cat "$tmp/hold.log" >&2; fail "fcgi-load --hold stopped early (the server closed a connection?)"; }
rss1=$(proc_field "$wpid" VmRSS)
maps1=$(map_count "$wpid")
vsz1=$(proc_field "$wpid" VmSize)
fds1=$(fd_count "$wpid")
max_maps=$(cat /proc/sys/vm/max_map_count)
stop_pid "$hold_pid" TERM
hold_status=$STOP_STATUS
# The client left: every pending request is cancelled.
sleep 2
is_alive "$wpid" || fail "evfcgid (pid $wpid) died during the hold phase"
rss2=$(proc_field "$wpid" VmRSS)
maps2=$(map_count "$wpid")

per_req=$(awk -v a="$rss0" -v b="$rss1" -v n="$PENDING" 'BEGIN { printf "%.0f", (b - a) * 1024 / n }')

# ---------------------------------------------------------------------------
# Phase 2: throughput and CPU per request

declare -A L_LINE=() L_US=()
load_run() {
    local uri=$1 c0 c1 line done_n
    log "load: $FCGI_LOAD $addr $uri -c $CONNS -n $LOAD_PENDING -d $LOAD_SECONDS"
    c0=$(cpu_ticks "$EVFCGID_PID")
    line=$("$FCGI_LOAD" "$addr" "$uri" -c "$CONNS" -n "$LOAD_PENDING" -d "$LOAD_SECONDS") ||
        log "fcgi-load $uri: exit status $? ($line)"
    c1=$(cpu_ticks "$EVFCGID_PID")
    log "$uri: $line"
    done_n=$(sed -n 's/.*completed=\([0-9]*\).*/\1/p' <<<"$line")
    [[ -n $done_n && $done_n -gt 0 ]] || fail "fcgi-load $uri completed nothing: $line"
    L_LINE[$uri]=$line
    L_US[$uri]=$(_us_per_req $((c1 - c0)) "$done_n")
}

load_run /items/1
load_run /hello

# ---------------------------------------------------------------------------
# Report

rev=$(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf '\nevfcgi bench: pending (FastCGI-native, no nginx: bench/fcgi-load -> evfcgid)\n'
printf '  date %s, commit %s, %s cores, %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$rev" "$(nproc)" "$(uname -sr)"
printf '  evfcgid -w %s on %s (serving pid %s); %s connections\n' "$WORKERS" "$addr" "$wpid" "$CONNS"
printf '  open files: ulimit -n %s (hard %s); the daemon: %s\n\n' "$(ulimit -Sn)" "$(ulimit -Hn)" \
    "$(awk '/^Max open files/ { print $4 " soft, " $5 " hard" }' "/proc/$wpid/limits")"

fmt='%-34s %14s %14s %14s\n'
# shellcheck disable=SC2059
{
    printf "$fmt" "phase 1: $PENDING pending" before during 'client gone'
    printf "$fmt" 'VmRSS (KiB)' "$rss0" "$rss1" "$rss2"
    printf "$fmt" 'VmSize (KiB)' "$vsz0" "$vsz1" -
    printf "$fmt" 'memory mappings (/proc/PID/maps)' "$maps0" "$maps1" "$maps2"
    printf "$fmt" 'open descriptors' "$fds0" "$fds1" -
}
printf '\n'
verdict "$per_req" le "$TARGET_BYTES"
printf 'RSS growth per pending request  %6s bytes  (target <= %s: %s)\n' "$per_req" "$TARGET_BYTES" "$VERDICT"
verdict "$maps1" le "$max_maps"
printf 'memory mappings while pending   %6s of vm.max_map_count %s (%s)\n' "$maps1" "$max_maps" "$VERDICT"
printf 'all %s written by the client in %s ms; client exit status %s (0: no connection was closed on it)\n' \
    "$PENDING" "$send_ms" "$hold_status"
printf 'through nginx, each pending request would hold a client and an upstream descriptor in nginx and one in evfcgid:\n'
printf '  with ulimit -n %s, about %s pending at most; here %s connections carry %s.\n\n' \
    "$(ulimit -Sn)" "$(($(ulimit -Sn) / 2))" "$CONNS" "$PENDING"

fmt='%-10s %8s %10s %9s %9s %9s %7s %12s  %s\n'
# shellcheck disable=SC2059
{
    printf "$fmt" 'phase 2' pending 'req/s' 'p50 ms' 'p99 ms' 'max ms' errors 'evfcgid us/r' 'note'
    for u in /items/1 /hello; do
        l=${L_LINE[$u]}
        note=
        [[ $u == /items/1 ]] && note="$(awk -v r="$(field rps "$l")" -v n="$LOAD_PENDING" 'BEGIN { printf "%.1f%% of %d (pending / 0.1 s)", 100 * r / (n / 0.1), n / 0.1 }')"
        printf "$fmt" "$u" "$LOAD_PENDING" "$(field rps "$l")" "$(field p50_ms "$l")" "$(field p99_ms "$l")" \
            "$(field max_ms "$l")" "$(field errors "$l")" "${L_US[$u]}" "$note"
    done
} | sed 's/ *$//'
printf '(fcgi-load -c %s -n %s -d %s; CPU: utime+stime of evfcgid, master and worker, per completed request)\n' \
    "$CONNS" "$LOAD_PENDING" "$LOAD_SECONDS"

if grep -E ' (error|crit|alert|emerg):' "$EVFCGID_LOG" >/dev/null; then
    printf '\nevfcgid logged errors:\n'
    grep -E ' (error|crit|alert|emerg):' "$EVFCGID_LOG" | head -n 5 | sed 's/^/  /'
fi
if grep -E ' (warn|notice):' "$EVFCGID_LOG" | grep -v 'listening on\|workers ready' >/dev/null; then
    printf '\nevfcgid said:\n'
    grep -E ' (warn|notice):' "$EVFCGID_LOG" | grep -v 'listening on\|workers ready' | head -n 5 | sed 's/^[^ ]* /  /'
fi

bench_finish
