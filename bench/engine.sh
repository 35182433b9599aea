#!/usr/bin/env bash
#
# bench/engine.sh - the engine's floor, two builds side by side: evfcgid
# alone (no web server) driven by bench/fcgi-load over a unix socket.
#
#   hello 50x1      /hello, 50 connections with one request each in flight
#   hello 10x100    /hello, 10 connections multiplexing 100 requests each
#   syscalls        strace -c -f on the serving process during 20,000
#                   multiplexed /hello: system calls per request, by name
#   burst 100k      100,000 /items/1 (a 100 ms await) written at once over
#                   10 connections to a fresh daemon: completion time,
#                   latency p50/p99 and the loop lag (the status page's
#                   max and p99: how late timers and I/O were served)
#
# Each row gives req/s and evfcgid's CPU microseconds per request (utime +
# stime from /proc).  The builds: BEFORE (a build directory of the old
# tree; skipped when unset) and this build directory.
#
#   BEFORE=/tmp/old-build bench/engine.sh
#
# Knobs: DURATION (10 s per hello run), BURST (100000), SYSCALL_REQS
# (20000); see bench/lib.sh.  Memory per pending request: bench/pending.sh
# with EVFCGID/DEMO_APP pointing at each build.

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

: "${BURST:=100000}"
: "${SYSCALL_REQS:=20000}"
: "${BEFORE:=}"
need strace

declare -A R_RPS=() R_US=() R_EXTRA=()
builds=()
[[ -n $BEFORE ]] && builds+=("before=$BEFORE")
builds+=("after=$top_builddir")


# serve BUILD_DIR: start that build's evfcgid -w 0 with its demo app.
serve() {
    local sock
    sock=$(sock_path "evf.$RANDOM.sock")
    EVFCGID=$1/src/evfcgid
    [[ -x $1/src/.libs/evfcgid ]] && EVFCGID=$1/src/.libs/evfcgid
    # The burst holds BURST requests at once: above the default cap on
    # requests in flight, in builds that have one.
    local cap=()
    LD_LIBRARY_PATH=$1/src/.libs "$EVFCGID" --directives 2>&1 |
        grep max_requests_in_flight >/dev/null &&
        cap=(--max-requests-in-flight $((BURST + 1000)))
    LD_LIBRARY_PATH=$1/src/.libs start_evfcgid -l "unix:$sock" \
        -a "$1/apps/.libs/demo.so" -w 0 --status-path /status "${cap[@]}"
    ADDR=unix:$sock
}

# load NAME URI FCGI_LOAD_ARGS...: one measured fcgi-load run.
load() {
    local name=$1 uri=$2 c0 c1 line n
    shift 2
    c0=$(cpu_ticks "$EVFCGID_PID")
    line=$("$FCGI_LOAD" "$ADDR" "$uri" "$@") || log "fcgi-load $uri: exit $? ($line)"
    c1=$(cpu_ticks "$EVFCGID_PID")
    n=$(field completed "$line")
    [[ -n $n && $n -gt 0 ]] || fail "$name: fcgi-load completed nothing: $line"
    R_RPS[$name]=$(field rps "$line")
    R_US[$name]=$(_us_per_req $((c1 - c0)) "$n")
    LAST_LINE=$line
    log "$name: $line"
}

FCGI_LOAD=$top_builddir/bench/fcgi-load
FCGI_CLIENT=$top_builddir/tests/tools/fcgi-client
[[ -x $FCGI_LOAD && -x $FCGI_CLIENT ]] ||
    { log "SKIP: make check builds bench/fcgi-load and tests/tools/fcgi-client"; exit 77; }

for b in "${builds[@]}"; do
    tag=${b%%=*} dir=${b#*=}
    serve "$dir"
    load "$tag hello 50x1" /hello -c 50 -n 50 -d "$WARMUP"
    load "$tag hello 50x1" /hello -c 50 -n 50 -d "$DURATION"
    load "$tag hello 10x100" /hello -c 10 -n 1000 -d "$DURATION"

    # System calls per request while multiplexed /hello runs.
    strace -c -f -q -o "$tmp/strace.$tag" -p "$EVFCGID_PID" &
    spid=$!
    poll_until 10 grep -q "^TracerPid:[[:space:]]*$spid" "/proc/$EVFCGID_PID/status" ||
        fail "strace did not attach"
    load "$tag syscalls" /hello -c 10 -n 1000 -N "$SYSCALL_REQS"
    kill -INT "$spid"
    wait "$spid" || true
    R_EXTRA[$tag syscalls]=$(awk -v n="$SYSCALL_REQS" '
        NF >= 5 && $NF != "total" && $NF != "syscall" && $1 ~ /^[0-9.]+$/ { s += $4 }
        END { printf "%.3f system calls per request", s / n }' "$tmp/strace.$tag")
    awk -v n="$SYSCALL_REQS" 'NF >= 5 && $NF != "total" && $NF != "syscall" && $1 ~ /^[0-9.]+$/ {
        printf "    %-16s %8.3f per request\n", $NF, $4 / n }' "$tmp/strace.$tag" \
        >"$tmp/strace.$tag.table"
    stop_pid "$EVFCGID_PID"

    # A burst on a fresh daemon, so the status page's lag is the burst's.
    serve "$dir"
    load "$tag burst" /items/1 -c 10 -n "$BURST" -N "$BURST" -t 120
    st=$("$FCGI_CLIENT" request "$ADDR" GET '/status')
    lagmax=$(grep -o '"loop lag max ms": *[0-9.]*' <<<"$st" | grep -o '[0-9.]*$')
    lagp99=$(grep -o '"loop lag p99 ms": *[0-9.]*' <<<"$st" | grep -o '[0-9.]*$')
    R_EXTRA[$tag burst]="p50 $(field p50_ms "$LAST_LINE") ms, p99 $(field p99_ms "$LAST_LINE") ms, loop lag max $lagmax ms, p99 $lagp99 ms"
    stop_pid "$EVFCGID_PID"
done

rev=$(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf '\nevfcgi bench: engine (FastCGI-direct over a unix socket, evfcgid -w 0)\n'
printf '  date %s, commit %s, %s cores, %s; before: %s\n\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$rev" "$(nproc)" "$(uname -sr)" "${BEFORE:-(none)}"
printf '%-22s %10s %12s  %s\n' run req/s 'us CPU/req' notes
for row in "hello 50x1" "hello 10x100" "syscalls" "burst"; do
    for b in "${builds[@]}"; do
        k="${b%%=*} $row"
        printf '%-22s %10s %12s  %s\n' "$k" "${R_RPS[$k]:-}" "${R_US[$k]:-}" "${R_EXTRA[$k]:-}"
    done
done
for b in "${builds[@]}"; do
    printf '\nsystem calls per /hello, %s:\n' "${b%%=*}"
    cat "$tmp/strace.${b%%=*}.table"
done
bench_finish
