# shellcheck shell=bash
#
# bench/lib.sh - shared by the benchmark scripts (bench/*.sh).
#
# Builds on tests/integration/lib.sh (temp dir, starting evfcgid and nginx,
# teardown by PID) and adds: defaults for running from a build tree, wrk
# runs with CPU accounting, and a plain-text result table.
#
# A workload script looks like:
#
#     . "$(dirname "$0")/lib.sh"
#     bench_start_servers                      # evfcgid + nginx in front
#     bench_preflight "$BENCH_BASE/hello" 200  # the route must work first
#     bench_warmup "$BENCH_BASE/hello" 100
#     run_wrk "nginx->evfcgid" "$BENCH_BASE/hello" 100
#     run_wrk --no-evfcgid "nginx ceiling" "$BENCH_BASE/ceiling/hello" 100
#     bench_header "hello" "GET /hello"; bench_table
#
# Knobs (environment):
#   DURATION=10     seconds per measured wrk run
#   WARMUP=3        seconds of warm-up before measuring (0: none)
#   THREADS=2       wrk threads
#   WORKERS=1       evfcgid -w
#   UPSTREAM=unix   how nginx reaches evfcgid: unix (the README's
#                   deployment) or tcp
#   NGINX_KEEPALIVE nginx upstream keepalive; default BENCH_CONNS, the
#                   most requests a script keeps in flight (else 1024)
#   WRK_ARGS=       extra wrk arguments, e.g. "--timeout 5s"
#   EVFCGID, DEMO_APP (default: the build tree's src/evfcgid and
#   apps/.libs/demo.so), NGINX, KEEP_TMP=1

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$BENCH_DIR/.." && pwd)}"
# Run from the build directory as bench/hello.sh: that is the build tree.
if [[ -z ${top_builddir:-} ]]; then
    if [[ -e $PWD/src/evfcgid ]]; then top_builddir=$PWD; else top_builddir=$top_srcdir; fi
fi
: "${EVFCGID:=$top_builddir/src/evfcgid}"
: "${DEMO_APP:=$top_builddir/apps/.libs/demo.so}"
: "${DURATION:=10}"
: "${WARMUP:=3}"
: "${THREADS:=2}"
: "${WORKERS:=1}"
: "${UPSTREAM:=unix}"
: "${WRK_ARGS:=}"

# shellcheck source=../tests/integration/lib.sh
. "$top_srcdir/tests/integration/lib.sh"

need wrk
need "$NGINX"
need curl
need_daemon

# wrk, nginx and evfcgid each need a descriptor per connection (nginx two:
# client and upstream). Raise the soft limit up to the hard one (20000 on
# the project's machines); children inherit it.
raise_nofile() {
    local want=${1:-20000} hard
    hard=$(ulimit -Hn)
    [[ $hard != unlimited ]] && ((want > hard)) && want=$hard
    ulimit -n "$want" 2>/dev/null || log "could not raise ulimit -n to $want (now $(ulimit -n))"
}
raise_nofile

CLK_TCK=$(getconf CLK_TCK)

# cpu_ticks PID: user+system CPU time, in clock ticks, of PID and all its
# descendants (evfcgid and nginx may run worker processes), from
# /proc/PID/stat fields 14 (utime) and 15 (stime).
cpu_ticks() {
    local total=0 p stat
    local -a f
    for p in "$1" $(descendants "$1"); do
        { stat=$(<"/proc/$p/stat"); } 2>/dev/null || continue
        stat=${stat##*) }            # fields from 3 (state) on
        read -r -a f <<<"$stat"
        total=$((total + f[11] + f[12]))
    done
    echo "$total"
}

# bench_start_servers [EVFCGID_ARGS...]: evfcgid (-w $WORKERS) on TCP or a
# unix socket, nginx in front with access logging off. Sets BENCH_BASE (the
# nginx URL) besides lib.sh's EVFCGID_PID, NGINX_PID, ...
bench_start_servers() {
    local sock
    case $UPSTREAM in
    tcp)
        start_evfcgid_tcp -a "$DEMO_APP" -w "$WORKERS" "$@"
        BENCH_UPSTREAM=127.0.0.1:$EVFCGID_PORT
        ;;
    unix)
        sock=$(sock_path evf.sock)
        start_evfcgid -l "unix:$sock" -a "$DEMO_APP" -w "$WORKERS" "$@"
        BENCH_UPSTREAM=unix:$sock
        ;;
    *) fail "UPSTREAM must be tcp or unix, not '$UPSTREAM'" ;;
    esac
    # As the README says: keep at least as many idle upstream connections
    # as requests in flight, or nginx connects anew for the excess.
    NGINX_KEEPALIVE=${NGINX_KEEPALIVE:-${BENCH_CONNS:-1024}}
    NGINX_ACCESS_LOG=off start_nginx "$NGINX_CONF_TEMPLATE" "$BENCH_UPSTREAM"
    BENCH_BASE=http://127.0.0.1:$NGINX_PORT
}

# bench_preflight URL STATUS [BODY]: one request must give STATUS (and BODY);
# measuring a route that answers errors would be meaningless.
bench_preflight() {
    fetch "$1"
    if [[ $HTTP_STATUS != "$2" ]] || [[ $# -ge 3 && $(body) != "$3" ]]; then
        fail "preflight GET $1: expected $2${3:+ $3}, got $HTTP_STATUS $(body | head -c 300)"
    fi
}

# bench_warmup URL CONNECTIONS [WRK_ARGS...]: untimed load so connection
# pools, caches and the CPU frequency settle before measuring.
bench_warmup() {
    local url=$1 conns=$2
    shift 2
    ((WARMUP > 0)) || return 0
    log "warm-up: ${WARMUP}s, $conns connections, $url"
    # shellcheck disable=SC2086
    wrk -t "$THREADS" -c "$conns" -d "${WARMUP}s" $WRK_ARGS "$@" "$url" >"$tmp/wrk.warmup.txt" 2>&1 ||
        { cat "$tmp/wrk.warmup.txt" >&2; fail "wrk warm-up failed"; }
    bench_require_alive "the warm-up on $url"
}

# bench_require_alive WHEN: stop if evfcgid or nginx died; figures measured
# against a dead upstream (all 502s) mean nothing.
bench_require_alive() {
    is_alive "$EVFCGID_PID" || fail "evfcgid (pid $EVFCGID_PID) died during $1"
    is_alive "$NGINX_PID" || fail "nginx (pid $NGINX_PID) died during $1"
}

# wrk prints latencies as 812.00us, 1.23ms, 1.02s, 2.00m: convert to ms.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
        else if (u != "ms") { print "?"; exit }
        printf "%.2f", n }'
}

# Results, one entry per run, in run order.
declare -a B_LABELS=()
declare -A B_CONNS=() B_REQS=() B_RPS=() B_P50=() B_P99=() B_ERRS=() B_EVF_US=() B_NGX_US=() B_NOTE=()

# run_wrk [--no-evfcgid] LABEL URL CONNECTIONS [WRK_ARGS...]: one measured
# wrk run (-t $THREADS -d $DURATION --latency). Records requests/s, p50, p99,
# errors (socket errors + non-2xx/3xx), and CPU microseconds per completed
# request of evfcgid (all its processes) and of nginx (master + worker),
# from /proc before and after. --no-evfcgid: the run does not involve
# evfcgid (its CPU column shows '-').
run_wrk() {
    local evf=1
    if [[ $1 == --no-evfcgid ]]; then evf=0; shift; fi
    local label=$1 url=$2 conns=$3 out n evf0 evf1 ngx0 ngx1
    shift 3
    n=${#B_LABELS[@]}
    out=$tmp/wrk.$n.txt
    log "measuring '$label': wrk -t $THREADS -c $conns -d ${DURATION}s --latency $WRK_ARGS $* $url"
    evf0=$(cpu_ticks "$EVFCGID_PID")
    ngx0=$(cpu_ticks "$NGINX_PID")
    # shellcheck disable=SC2086
    wrk -t "$THREADS" -c "$conns" -d "${DURATION}s" --latency $WRK_ARGS "$@" "$url" >"$out" 2>&1 ||
        { cat "$out" >&2; fail "wrk failed for '$label'"; }
    evf1=$(cpu_ticks "$EVFCGID_PID")
    ngx1=$(cpu_ticks "$NGINX_PID")
    sed 's/^/#   /' "$out" >&2
    bench_require_alive "the run '$label'"

    B_LABELS+=("$label")
    B_CONNS[$label]=$conns
    B_REQS[$label]=$(awk '/ requests in / { print $1; exit }' "$out")
    B_RPS[$label]=$(awk '/^Requests\/sec:/ { print $2; exit }' "$out")
    B_P50[$label]=$(to_ms "$(awk '$1 == "50%" { print $2; exit }' "$out")")
    B_P99[$label]=$(to_ms "$(awk '$1 == "99%" { print $2; exit }' "$out")")
    # "Socket errors: connect 0, read 0, write 0, timeout 0" and
    # "Non-2xx or 3xx responses: N" appear only when non-zero.
    B_ERRS[$label]=$(awk '
        /Socket errors:/ { gsub(/,/, ""); s += $4 + $6 + $8 + $10 }
        /Non-2xx or 3xx responses:/ { s += $NF }
        END { print s + 0 }' "$out")
    [[ -n ${B_REQS[$label]} && ${B_REQS[$label]} -gt 0 ]] ||
        fail "could not read a request count from wrk for '$label' (see $out)"
    B_NGX_US[$label]=$(_us_per_req $((ngx1 - ngx0)) "${B_REQS[$label]}")
    if ((evf)); then
        B_EVF_US[$label]=$(_us_per_req $((evf1 - evf0)) "${B_REQS[$label]}")
    else
        B_EVF_US[$label]=-
    fi
    B_NOTE[$label]=
}

# _us_per_req TICKS REQUESTS: CPU microseconds per request.
# field NAME LINE: the value of NAME=VALUE in fcgi-load's result line.
field() { sed -n "s/.*[[:space:]]$1=\\([^ ]*\\).*/\\1/p; s/^$1=\\([^ ]*\\).*/\\1/p" <<<"$2" | head -n 1; }
_us_per_req() { awk -v t="$1" -v r="$2" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t * 1e6 / hz / r }'; }

# bench_header NAME DESCRIPTION: what was measured, where, with what.
bench_header() {
    local rev
    rev=$(git -C "$top_srcdir" rev-parse --short HEAD 2>/dev/null || echo unknown)
    printf '\nevfcgi bench: %s (%s)\n' "$1" "$2"
    printf '  date %s, commit %s, %s cores, %s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$rev" "$(nproc)" "$(uname -sr)"
    printf '  wrk -t %s -d %ss --latency%s; warm-up %ss\n' "$THREADS" "$DURATION" "${WRK_ARGS:+ $WRK_ARGS}" "$WARMUP"
    printf '  evfcgid -w %s via %s; %s, worker_processes 1, upstream keepalive %s\n' \
        "$WORKERS" "$UPSTREAM" "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //')" "$NGINX_KEEPALIVE"
    printf '\n'
}

# bench_table: one row per run_wrk, in run order. CPU columns are
# microseconds of CPU per completed request during that run.
bench_table() {
    local l fmt='%-18s %6s %11s %9s %9s %7s %12s %10s  %s\n'
    {
        # shellcheck disable=SC2059
        printf "$fmt" run conns 'req/s' 'p50 ms' 'p99 ms' errors 'evfcgid us/r' 'nginx us/r' "$BENCH_NOTE_TITLE"
        for l in "${B_LABELS[@]}"; do
            # shellcheck disable=SC2059
            printf "$fmt" "$l" "${B_CONNS[$l]}" "${B_RPS[$l]}" "${B_P50[$l]}" "${B_P99[$l]}" \
                "${B_ERRS[$l]}" "${B_EVF_US[$l]}" "${B_NGX_US[$l]}" "${B_NOTE[$l]}"
        done
    } | sed 's/ *$//'
}
# Title of the last (free-form) column; a workload sets it with B_NOTE.
BENCH_NOTE_TITLE=

# verdict VALUE OP TARGET: set VERDICT to "ok" or "MISSED" for a target
# (OP: ge or le) and count misses; with BENCH_ENFORCE=1 a miss makes the
# script exit 1. Not for use inside $(...): the count would be lost.
BENCH_MISSES=0
verdict() {
    if awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { exit !((op == "ge") ? v >= t : v <= t) }'; then
        VERDICT=ok
    else
        BENCH_MISSES=$((BENCH_MISSES + 1))
        VERDICT=MISSED
    fi
}

# bench_finish: exit status for the script.
bench_finish() {
    if [[ ${BENCH_ENFORCE:-0} == 1 ]] && ((BENCH_MISSES > 0)); then
        log "$BENCH_MISSES target(s) missed"
        exit 1
    fi
    exit 0
}
