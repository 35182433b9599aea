# shellcheck shell=bash
#
# tests/integration/lib.sh - shared helpers for the evfcgi integration tests
# (tests/integration/test_*.sh) and benchmarks (bench/*.sh).
#
# Source it from a bash script that runs with `set -euo pipefail`:
#
#     . "$(dirname "$0")/lib.sh"
#
# Sourcing it creates a private temp directory ($tmp) and installs an EXIT
# trap that stops everything started through these helpers *by PID*, checks
# the logs for sanitizer reports and nginx alerts, and removes $tmp.
#
# Environment (set by `make check` through AM_TESTS_ENVIRONMENT, or by hand):
#   EVFCGID      the daemon (in a build tree: a libtool wrapper that execs the
#                real binary, so the PID we start is the daemon's PID)
#   DEMO_APP     the demo application .so
#   NGINX        nginx binary (default: nginx)
#   SPAWN_FCGI   spawn-fcgi binary (default: spawn-fcgi)
#   top_srcdir, top_builddir
# Knobs for running by hand:
#   KEEP_TMP=1        keep $tmp (logs, configs) after the run
#   START_TIMEOUT=15  seconds to wait for a server to listen
#   STOP_TIMEOUT=10   seconds between SIGTERM and SIGKILL at teardown
#
# Helpers that start processes set global variables (EVFCGID_PID, NGINX_PORT,
# ...), so call them directly, never inside $(...): a background job started
# in a command substitution would belong to the subshell, not to us.

# ---------------------------------------------------------------------------
# Configuration

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$LIB_DIR/../.." && pwd)}"
# When run by hand from a build directory, that directory is the build tree.
if [[ -z ${top_builddir:-} ]]; then
    if [[ -e $PWD/src/evfcgid ]]; then top_builddir=$PWD; else top_builddir=$top_srcdir; fi
fi
: "${NGINX:=nginx}"
: "${SPAWN_FCGI:=spawn-fcgi}"
: "${START_TIMEOUT:=15}"
: "${STOP_TIMEOUT:=10}"
NGINX_CONF_TEMPLATE=${NGINX_CONF_TEMPLATE:-$LIB_DIR/nginx.conf.in}
TEST_NAME=$(basename "$0" .sh)

# Only ever talk to loopback: make sure no proxy setting can redirect our
# curl/wrk traffic elsewhere.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy='*' NO_PROXY='*'

# Messages go to stderr so they land in the automake .log next to the
# daemon's output; a leading '#' keeps them readable as comments.
log() { printf '# %s: %s\n' "$TEST_NAME" "$*" >&2; }

# ---------------------------------------------------------------------------
# Results and assertions
#
# check_* helpers do not stop the script on a mismatch: they print what was
# expected and what came, count the failure, and the EXIT trap turns any
# failure into exit status 1. That way one run shows every broken check, not
# only the first. `fail` is for conditions after which going on is pointless.

CHECKS=0
FAILURES=0

# Shorten long values (response bodies) so a mismatch stays readable.
_shorten() {
    local s=$1
    if ((${#s} > 300)); then s="${s:0:300}... (${#1} chars)"; fi
    printf '%s' "$s"
}

pass() { CHECKS=$((CHECKS + 1)); printf 'ok %d - %s\n' "$CHECKS" "$1"; }

not_ok() {
    CHECKS=$((CHECKS + 1))
    FAILURES=$((FAILURES + 1))
    printf 'not ok %d - %s\n' "$CHECKS" "$1"
    shift
    local line
    for line in "$@"; do printf '#   %s\n' "$line"; done
}

# fail MESSAGE: fatal failure; the EXIT trap still cleans up.
fail() {
    printf 'FAIL: %s: %s\n' "$TEST_NAME" "$*" >&2
    exit 1
}

# check_eq WHAT EXPECTED GOT
check_eq() {
    if [[ $2 == "$3" ]]; then
        pass "$1"
    else
        not_ok "$1" "expected: '$(_shorten "$2")'" "got:      '$(_shorten "$3")'"
    fi
}

# check_match WHAT ERE GOT  (extended regular expression, bash =~)
check_match() {
    if [[ $3 =~ $2 ]]; then
        pass "$1"
    else
        not_ok "$1" "expected to match: /$2/" "got: '$(_shorten "$3")'"
    fi
}

# check_true WHAT COMMAND...  (the command's success is the check)
check_true() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else not_ok "$what" "command failed: $*"; fi
}

# poll_until SECONDS COMMAND...: run COMMAND every 50 ms until it succeeds
# (status 0) or SECONDS (a whole number) have passed (status 1). This is
# how a test waits for something to happen (a log line, a count, a file, a
# request in flight) rather than sleeping and hoping: use it as the command
# of check_true, or follow it with `|| fail ...`, so a timeout fails.
poll_until() {
    local secs=$1 i
    shift
    for ((i = 0; i < secs * 20; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    "$@"
}

# not COMMAND...: succeeds when COMMAND fails (for poll_until).
not() { ! "$@"; }

# established_on PORT: the number of IPv4 TCP connections established to
# the local PORT (from /proc/net/tcp, so no ss is needed).
established_on() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v p=":$hex\$" '$2 ~ p && $4 == "01"' /proc/net/tcp | wc -l
}

# count_at_least N FILE ERE: FILE has at least N lines matching ERE.
count_at_least() {
    local n
    n=$(grep -cE -- "$3" "$2" 2>/dev/null) || n=0
    ((n >= $1))
}

# in_flight ADDR ROUTE: the daemon at ADDR, started with --status-path
# /status, has a request of ROUTE ("GET /sleep") in flight now.
in_flight() {
    "$FCGI_CLIENT" -t 5 request "$1" GET /status 2>/dev/null |
        grep -qF "\"$2\":"
}

# need CMD: skip the test (automake exit status 77) when a tool is missing.
need() {
    if ! command -v "$1" >/dev/null 2>&1; then
        log "SKIP: required tool '$1' not found"
        exit 77
    fi
}

# need_daemon: EVFCGID and DEMO_APP must point at existing files. Missing
# ones are a broken setup, not a reason to skip (automake hard error 99).
need_daemon() {
    if [[ -z ${EVFCGID:-} && -e $top_builddir/src/evfcgid ]]; then
        EVFCGID=$top_builddir/src/evfcgid
    fi
    if [[ -z ${DEMO_APP:-} && -e $top_builddir/apps/.libs/demo.so ]]; then
        DEMO_APP=$top_builddir/apps/.libs/demo.so
    fi
    if [[ -z ${EVFCGID:-} || ! -x $EVFCGID ]]; then
        log "ERROR: EVFCGID='${EVFCGID:-}' is not an executable (set EVFCGID=path/to/evfcgid)"
        exit 99
    fi
    if [[ -z ${DEMO_APP:-} || ! -r $DEMO_APP ]]; then
        log "ERROR: DEMO_APP='${DEMO_APP:-}' is not readable (set DEMO_APP=path/to/demo.so)"
        exit 99
    fi
    # Absolute paths: spawn-fcgi execs the program and nginx runs with its own
    # prefix, so relative paths would depend on the current directory.
    EVFCGID=$(cd "$(dirname "$EVFCGID")" && pwd)/$(basename "$EVFCGID")
    DEMO_APP=$(cd "$(dirname "$DEMO_APP")" && pwd)/$(basename "$DEMO_APP")
}

# ---------------------------------------------------------------------------
# Temp directory. Everything a test writes goes here: under `make distcheck`
# the source tree is read-only.

tmp=$(mktemp -d "${TMPDIR:-/tmp}/evfcgi-$TEST_NAME.XXXXXX")
: >"$tmp/ports"

# A unix socket path must fit in sun_path (108 bytes). A deep $TMPDIR could
# exceed it, so sockets then go to a short directory of our own under /tmp,
# made here (not in sock_path, which is called in $(...) subshells whose
# variables are lost) and removed at teardown with $tmp.
_sock_dir=$tmp
_short_sock_dir=
if ((${#tmp} > 80)); then
    _short_sock_dir=$(mktemp -d /tmp/evf.XXXXXX)
    _sock_dir=$_short_sock_dir
fi

# sock_path NAME: print a usable unix socket path for NAME.
sock_path() { printf '%s/%s\n' "$_sock_dir" "$1"; }

# ---------------------------------------------------------------------------
# Process bookkeeping. Every process we start is recorded with a kind
# (evfcgid, nginx, other) and its log file, so teardown can stop it by PID and
# inspect the right log.

declare -a _pids=()
declare -A _pid_kind=() _pid_log=() _pid_name=() _pid_status=() _pid_orphans=()

# spawn_bg KIND NAME LOGFILE CMD...: start CMD in the background, output to
# LOGFILE. Sets LAST_PID.
spawn_bg() {
    local kind=$1 name=$2 logf=$3
    shift 3
    "$@" </dev/null >"$logf" 2>&1 &
    LAST_PID=$!
    _pids+=("$LAST_PID")
    _pid_kind[$LAST_PID]=$kind
    _pid_log[$LAST_PID]=$logf
    _pid_name[$LAST_PID]=$name
    log "started $name (pid $LAST_PID): $*"
}

# is_alive PID: running and not a zombie. Our children stay zombies until we
# wait for them and `kill -0` succeeds on zombies, so look at the state too.
is_alive() {
    local pid=$1 stat
    kill -0 "$pid" 2>/dev/null || return 1
    if [[ -r /proc/$pid/stat ]]; then
        { stat=$(<"/proc/$pid/stat"); } 2>/dev/null || return 1
        stat=${stat##*) }   # the command name may contain spaces and parens
        [[ ${stat%% *} != Z ]] || return 1
    fi
    return 0
}

# descendants PID: print the PIDs of all descendants of PID (children,
# grandchildren, ...), from /proc. Used to find evfcgid's and nginx's worker
# processes for CPU accounting and for teardown.
descendants() {
    local root=$1 f stat pid ppid
    local -A kids=()
    for f in /proc/[0-9]*/stat; do
        { stat=$(<"$f"); } 2>/dev/null || continue   # may vanish meanwhile
        pid=${stat%% *}
        stat=${stat##*) }          # skip "pid (comm) "; comm may hold spaces
        stat=${stat#* }            # skip the state field
        ppid=${stat%% *}
        # A process exiting meanwhile can leave a short read: skip it.
        [[ $pid =~ ^[0-9]+$ && $ppid =~ ^[0-9]+$ ]] || continue
        kids[$ppid]+=" $pid"
    done
    local -a queue=("$root")
    while ((${#queue[@]})); do
        pid=${queue[0]}
        queue=("${queue[@]:1}")
        for f in ${kids[$pid]:-}; do
            echo "$f"
            queue+=("$f")
        done
    done
}

# A PID names a process only while it runs: once it is gone, the kernel
# hands the number to a new process when its counter wraps, which takes
# 32768 forks where pid_max is 32768 -- seconds, while another test runs
# configure and make.  A process that is not our child (a daemon's
# worker, say) is therefore named by an id, PID@START, START being its
# start time (clock ticks since boot, /proc/PID/stat's 22nd field), and is
# only ever signalled under that id.

# proc_id PID: print PID's id (PID@START); fails when PID is not running
# or is a zombie.
proc_id() {
    local stat f
    { stat=$(<"/proc/$1/stat"); } 2>/dev/null || return 1
    read -ra f <<<"${stat##*) }"   # f[0] is the state, the 3rd field
    [[ ${f[0]} != Z && ${f[19]:-} =~ ^[0-9]+$ ]] || return 1
    printf '%s@%s\n' "$1" "${f[19]}"
}

# proc_ids PID...: the ids of those PIDs that are running, one a line.
proc_ids() {
    local p
    for p; do proc_id "$p" || true; done
}

# id_alive ID: the process named by ID (PID@START) is still running.
id_alive() { [[ $1 == *@* && $(proc_id "${1%@*}") == "$1" ]]; }

# kill_ids SIGNAL ID...: send SIGNAL to each process named by an ID that is
# still running (never to another process that got its PID since).
kill_ids() {
    local sig=$1 id
    shift
    for id; do
        id_alive "$id" || continue
        kill -s "$sig" "${id%@*}" 2>/dev/null || true
    done
}

# stop_pid PID [SIGNAL]: send SIGNAL (default TERM) to a process we started,
# wait up to STOP_TIMEOUT seconds, then SIGKILL it and whatever children it
# had. Reaps the process and sets STOP_STATUS (also kept in _pid_status[PID])
# to its exit status, 128+N for death by signal N. Always returns 0.
# Children still running after their parent exited (orphaned workers) are
# killed too, and noted in _pid_orphans[PID].
stop_pid() {
    local pid=$1 sig=${2:-TERM} i kids k left=
    STOP_STATUS=0
    [[ -n ${_pid_name[$pid]:-} ]] || { log "stop_pid: $pid is not ours"; return 0; }
    if [[ -n ${_pid_status[$pid]:-} ]]; then STOP_STATUS=${_pid_status[$pid]}; return 0; fi
    # shellcheck disable=SC2046 # a list of PIDs
    kids=$(proc_ids $(descendants "$pid"))
    if is_alive "$pid"; then
        kill -s "$sig" "$pid" 2>/dev/null || true
        for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
            is_alive "$pid" || break
            sleep 0.1
        done
        if is_alive "$pid"; then
            log "${_pid_name[$pid]} (pid $pid) ignored SIG$sig for ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -s KILL "$pid" 2>/dev/null || true
            # shellcheck disable=SC2086 # $kids: a list of ids
            kill_ids KILL $kids
        fi
    fi
    wait "$pid" 2>/dev/null || STOP_STATUS=$?
    _pid_status[$pid]=$STOP_STATUS
    # Give orphaned children (they are not ours to wait for) a moment to go.
    for k in $kids; do
        for ((i = 0; i < 20; i++)); do id_alive "$k" || break; sleep 0.1; done
        if id_alive "$k"; then
            left+=" ${k%@*}"
            kill_ids KILL "$k"
        fi
    done
    [[ -z $left ]] || _pid_orphans[$pid]=$left
    log "stopped ${_pid_name[$pid]} (pid $pid) with SIG$sig: exit status $STOP_STATUS${left:+; killed leftover children:$left}"
    return 0
}

# wait_pid PID: wait for a process we started that ends by itself (a
# client, say); sets STOP_STATUS and records it, like stop_pid.
wait_pid() {
    STOP_STATUS=0
    wait "$1" 2>/dev/null || STOP_STATUS=$?
    _pid_status[$1]=$STOP_STATUS
}

# dump_log FILE [LINES]: show the tail of a log, for diagnosing failures.
dump_log() {
    local f=$1 n=${2:-60}
    [[ -s $f ]] || { log "(log $f is empty)"; return 0; }
    printf '# ---- last %d lines of %s ----\n' "$n" "$f" >&2
    tail -n "$n" "$f" | sed 's/^/#   /' >&2
    printf '# ---- end of %s ----\n' "$f" >&2
}

# ---------------------------------------------------------------------------
# Ports and listening sockets

# port_in_use PORT: true if any TCP socket on loopback uses PORT locally.
port_in_use() {
    local port=$1
    if command -v ss >/dev/null 2>&1; then
        [[ -n $(ss -Htan "( sport = :$port )" 2>/dev/null) ]]
    else
        # Without ss, we can only detect listeners, by connecting.
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
    fi
}

# free_port: print a currently unused loopback TCP port.
# Ports come at random from below the kernel's ephemeral range, so outgoing
# connections (nginx->upstream, wrk) cannot be holding them, and parallel
# tests rarely pick the same one. A port is never handed out twice in one
# test. There is still a window between this check and the server's bind();
# start_evfcgid_tcp and start_nginx retry with a new port if bind fails.
free_port() {
    local lo=32768 hi=60999 base span port i
    if [[ -r /proc/sys/net/ipv4/ip_local_port_range ]]; then
        read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
    fi
    if ((lo > 12000)); then
        base=10000 span=$((lo - 10000))
    else
        base=$((hi + 1)) span=$((65535 - hi))
    fi
    for ((i = 0; i < 200; i++)); do
        port=$((base + ((RANDOM << 15) | RANDOM) % span))
        grep -qx "$port" "$tmp/ports" && continue
        port_in_use "$port" && continue
        echo "$port" >>"$tmp/ports"
        echo "$port"
        return 0
    done
    fail "free_port: no free port found in $base..$((base + span - 1))"
}

# is_listening PID ADDR: ADDR (HOST:PORT, [V6]:PORT or unix:/path) is
# accepting connections, and - where ss can tell - the listener belongs to
# PID, not to some other process that happened to grab the port.
is_listening() {
    local pid=$1 addr=$2 path port host
    if [[ $addr == unix:* ]]; then
        path=${addr#unix:}
        if command -v ss >/dev/null 2>&1; then
            ss -Hxlp src "$path" 2>/dev/null | grep "pid=$pid," >/dev/null
        else
            [[ -S $path ]]
        fi
    else
        port=${addr##*:}
        host=${addr%:*}
        host=${host#[}
        host=${host%]}
        if command -v ss >/dev/null 2>&1; then
            ss -Hltnp "( sport = :$port )" 2>/dev/null | grep "pid=$pid," >/dev/null
        else
            (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
        fi
    fi
}

# wait_listening PID ADDR: wait until PID listens on ADDR.
# Returns 0 when listening, 1 if the process exited first, 2 on timeout.
wait_listening() {
    local pid=$1 addr=$2 i
    for ((i = 0; i < START_TIMEOUT * 20; i++)); do
        is_listening "$pid" "$addr" && return 0
        is_alive "$pid" || return 1
        sleep 0.05
    done
    return 2
}

# ---------------------------------------------------------------------------
# evfcgid

_evfcgid_n=0

# start_evfcgid ARGS...: start "$EVFCGID" ARGS... in the background and wait
# until it listens on the address given with -l (or, when there is no -l, on
# $EVFCGID_WAIT_ADDR). Fails the test, with the daemon's log, if it does not
# come up. Sets EVFCGID_PID, EVFCGID_LOG, EVFCGID_ADDR.
start_evfcgid() {
    _try_start_evfcgid "$@" && return 0
    case $? in
    1) dump_log "$EVFCGID_LOG"; fail "evfcgid exited during startup: $EVFCGID $*" ;;
    *) dump_log "$EVFCGID_LOG"; fail "evfcgid did not listen on $EVFCGID_ADDR within ${START_TIMEOUT}s: $EVFCGID $*" ;;
    esac
}

# Same as start_evfcgid, but returns wait_listening's status instead of
# failing (the caller may retry).
_try_start_evfcgid() {
    local addr=${EVFCGID_WAIT_ADDR:-} a prev=
    for a in "$@"; do
        [[ $prev == -l ]] && addr=$a
        prev=$a
    done
    [[ -n $addr ]] || fail "start_evfcgid: no -l ADDR and no EVFCGID_WAIT_ADDR"
    _evfcgid_n=$((_evfcgid_n + 1))
    EVFCGID_LOG=$tmp/evfcgid.$_evfcgid_n.log
    EVFCGID_ADDR=$addr
    spawn_bg evfcgid "evfcgid#$_evfcgid_n" "$EVFCGID_LOG" "$EVFCGID" "$@"
    EVFCGID_PID=$LAST_PID
    wait_listening "$EVFCGID_PID" "$addr"
}

# start_evfcgid_tcp [ARGS...]: start evfcgid on a free 127.0.0.1 port
# (-l 127.0.0.1:PORT ARGS...). If it exits at startup (most likely another
# process took the port first), retry with another port a few times.
# Sets EVFCGID_PORT in addition to start_evfcgid's variables.
start_evfcgid_tcp() {
    local attempt rc
    for attempt in 1 2 3 4 5; do
        EVFCGID_PORT=$(free_port)
        rc=0
        _try_start_evfcgid -l "127.0.0.1:$EVFCGID_PORT" "$@" || rc=$?
        ((rc == 0)) && return 0
        if ((rc == 1)) && grep -qiE 'in use|EADDRINUSE' "$EVFCGID_LOG"; then
            stop_pid "$EVFCGID_PID"
            log "port $EVFCGID_PORT was taken; retrying"
            continue
        fi
        break
    done
    dump_log "$EVFCGID_LOG"
    fail "evfcgid did not come up on 127.0.0.1:$EVFCGID_PORT: $EVFCGID -l 127.0.0.1:$EVFCGID_PORT $*"
}

# assert_alive PID WHAT: check that a server survived what we did to it.
assert_alive() {
    if is_alive "$1"; then
        pass "$2: ${_pid_name[$1]:-pid $1} still running"
    else
        not_ok "$2: ${_pid_name[$1]:-pid $1} still running" "process $1 is gone"
        dump_log "${_pid_log[$1]:-/dev/null}"
    fi
}

# require_alive PID WHAT: like assert_alive, but stop the test right away:
# with the daemon gone every later check would only repeat the failure.
require_alive() {
    is_alive "$1" && return 0
    not_ok "$2: ${_pid_name[$1]:-pid $1} still running" "process $1 is gone; stopping the test here"
    exit 1
}

# ---------------------------------------------------------------------------
# nginx

_nginx_n=0

# _subst_escape STRING: escape for the replacement side of sed s|||.
_subst_escape() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

# render_nginx_conf TEMPLATE OUT: fill in @VARS@ from the NGINX_* variables.
render_nginx_conf() {
    local template=$1 out=$2 hard user_directive=
    # nginx raises its workers' RLIMIT_NOFILE to worker_rlimit_nofile; asking
    # for more than the hard limit makes it log an [alert], so cap it.
    hard=$(ulimit -Hn)
    [[ $hard == unlimited ]] && hard=1048576
    local want=$((NGINX_WORKER_CONNECTIONS * 2 + 64))
    ((want < 4096)) && want=4096
    ((want > hard)) && want=$hard
    # As root, nginx workers switch to 'nobody', who cannot enter our 0700
    # temp dir. As anybody else a 'user' directive only earns a warning.
    [[ $(id -u) == 0 ]] && user_directive='user root;'
    sed -e "s|@PORT@|$(_subst_escape "$NGINX_PORT")|g" \
        -e "s|@UPSTREAM@|$(_subst_escape "$NGINX_UPSTREAM")|g" \
        -e "s|@TMPDIR@|$(_subst_escape "$NGINX_DIR")|g" \
        -e "s|@USER_DIRECTIVE@|$(_subst_escape "$user_directive")|g" \
        -e "s|@WORKER_CONNECTIONS@|$(_subst_escape "$NGINX_WORKER_CONNECTIONS")|g" \
        -e "s|@RLIMIT_NOFILE@|$want|g" \
        -e "s|@KEEPALIVE@|$(_subst_escape "$NGINX_KEEPALIVE")|g" \
        -e "s|@ACCESS_LOG@|$(_subst_escape "$NGINX_ACCESS_LOG")|g" \
        "$template" >"$out"
    if grep -n '@[A-Z_]*@' "$out" >&2; then
        fail "render_nginx_conf: unsubstituted @VARS@ left in $out (from $template)"
    fi
}

# start_nginx TEMPLATE UPSTREAM: start an nginx in front of UPSTREAM (the
# fastcgi_pass target: HOST:PORT, [V6]:PORT or unix:/path) on a free port,
# with all its files in its own directory under $tmp. Several instances may
# run at once. Optional knobs, read at call time:
#   NGINX_WORKER_CONNECTIONS (default 1024), NGINX_KEEPALIVE (upstream
#   keepalive connections, default 32), NGINX_ACCESS_LOG (default a file in
#   the instance dir; 'off' for benchmarks).
# Sets NGINX_PID, NGINX_PORT, NGINX_DIR, NGINX_ERROR_LOG.
start_nginx() {
    local template=${1:-$NGINX_CONF_TEMPLATE} upstream=$2 attempt rc d
    _nginx_n=$((_nginx_n + 1))
    NGINX_DIR=$tmp/nginx.$_nginx_n
    NGINX_UPSTREAM=$upstream
    NGINX_WORKER_CONNECTIONS=${NGINX_WORKER_CONNECTIONS:-1024}
    NGINX_KEEPALIVE=${NGINX_KEEPALIVE:-32}
    NGINX_ACCESS_LOG=${NGINX_ACCESS_LOG:-$NGINX_DIR/access.log}
    NGINX_ERROR_LOG=$NGINX_DIR/error.log
    for d in client_body fastcgi proxy uwsgi scgi; do mkdir -p "$NGINX_DIR/$d"; done
    for attempt in 1 2 3 4 5; do
        NGINX_PORT=$(free_port)
        render_nginx_conf "$template" "$NGINX_DIR/nginx.conf"
        # -e: the startup error log, before the config's error_log applies;
        # without it nginx tries /var/log/nginx/error.log.
        spawn_bg nginx "nginx#$_nginx_n" "$NGINX_DIR/stderr.log" \
            "$NGINX" -p "$NGINX_DIR/" -c "$NGINX_DIR/nginx.conf" -e "$NGINX_ERROR_LOG"
        NGINX_PID=$LAST_PID
        _nginx_error_logs+=("$NGINX_ERROR_LOG")
        rc=0
        wait_listening "$NGINX_PID" "127.0.0.1:$NGINX_PORT" || rc=$?
        ((rc == 0)) && return 0
        if ((rc == 1)) && grep -q 'Address already in use' "$NGINX_ERROR_LOG" "$NGINX_DIR/stderr.log" 2>/dev/null; then
            stop_pid "$NGINX_PID"
            # This instance's bind failure is not a finding of the test.
            mv "$NGINX_ERROR_LOG" "$NGINX_ERROR_LOG.bind-retry-$attempt"
            log "port $NGINX_PORT was taken; retrying"
            continue
        fi
        break
    done
    dump_log "$NGINX_DIR/stderr.log"
    dump_log "$NGINX_ERROR_LOG"
    fail "nginx did not come up on 127.0.0.1:$NGINX_PORT (config $NGINX_DIR/nginx.conf)"
}
declare -a _nginx_error_logs=()

# ---------------------------------------------------------------------------
# HTTP client helpers (curl, loopback only)

# Never read ~/.curlrc (-q must come first) and never use a proxy. A hung
# server must fail the test, not hang it: every transfer gets a time limit
# (a later --max-time in "$@" overrides this one).
curl_() { curl -q --noproxy '*' -sS --max-time "${CURL_MAX_TIME:-60}" "$@"; }

# fetch CURL_ARGS... URL: perform one request. Sets HTTP_STATUS, HTTP_CTYPE,
# CURL_RC; the body is in $tmp/body, the headers in $tmp/headers. Never
# fails the script: callers check CURL_RC/HTTP_STATUS themselves.
fetch() {
    local out
    CURL_RC=0
    out=$(curl_ -o "$tmp/body" -D "$tmp/headers" -w '%{http_code} %{content_type}' "$@") || CURL_RC=$?
    HTTP_STATUS=${out%% *}
    HTTP_CTYPE=${out#* }
    [[ $out == *' '* ]] || HTTP_CTYPE=
    ((CURL_RC == 0)) || log "curl exit status $CURL_RC for: $*"
}

# body: print the last fetched body.
body() { cat "$tmp/body"; }

# header_value NAME: value of the last NAME header of the last fetch (the
# header dump may hold a "100 Continue" block first).
header_value() {
    grep -i "^$1:" "$tmp/headers" | tail -n 1 | sed -e 's/^[^:]*:[[:space:]]*//' -e 's/\r$//'
}

# ---------------------------------------------------------------------------
# A private copy of the package, for the installation tests
#
# `make install' relinks libtool libraries in the tree it runs in, and
# while it relinks apps/demo.la, libtool has moved apps/.libs/demo.so
# aside: a test starting the build tree's daemon then finds no app ("cannot
# open shared object file").  So the installation tests build and install
# a copy of their own, never the build tree the other tests are running.

# clean_make ARGS...: make with none of the flags or variables (MAKEFLAGS,
# DESTDIR, ...) of the make running the tests.
clean_make() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u DESTDIR "${MAKE:-make}" "$@"
}

# package_copy DIR: the package's distributed files, copied to DIR by the
# build tree's `make distdir' (which only reads the build tree).
package_copy() {
    clean_make -C "$top_builddir" distdir distdir="$1" >"$tmp/distdir.log" 2>&1 &&
        return 0
    dump_log "$tmp/distdir.log" 40
    fail "make distdir failed"
}

# in_dir DIR LOG CMD...: run CMD in DIR, its output in $tmp/LOG, shown when
# it fails.
in_dir() {
    local dir=$1 logf=$tmp/$2
    shift 2
    if (cd "$dir" && "$@") >"$logf" 2>&1; then
        return 0
    fi
    dump_log "$logf" 60
    return 1
}

# ---------------------------------------------------------------------------
# Teardown

_sanitizer_re='AddressSanitizer|LeakSanitizer|ThreadSanitizer|MemorySanitizer|runtime error'

# _check_logs: findings that fail the test even if every check passed.
_check_logs() {
    local bad=0 pid f st
    for f in "${_nginx_error_logs[@]}"; do
        [[ -f $f ]] || continue
        if grep -E '\[(alert|crit|emerg)\]' "$f" >/dev/null; then
            printf 'FAIL: %s: nginx logged [alert]/[crit]/[emerg] in %s:\n' "$TEST_NAME" "$f" >&2
            grep -E '\[(alert|crit|emerg)\]' "$f" | head -n 20 | sed 's/^/#   /' >&2
            bad=1
        fi
    done
    for pid in "${_pids[@]}"; do
        [[ ${_pid_kind[$pid]} == evfcgid ]] || continue
        f=${_pid_log[$pid]}
        if grep -qE "$_sanitizer_re" "$f" 2>/dev/null; then
            # Show where the first report starts; the tail follows below.
            printf 'FAIL: %s: sanitizer report in %s, starting:\n' "$TEST_NAME" "$f" >&2
            grep -m 1 -A 40 -E "$_sanitizer_re" "$f" | sed 's/^/#   /' >&2
            bad=1
        fi
        # A crash or an ignored SIGTERM (we had to SIGKILL) is a bug even if
        # nothing was logged. 132 ILL, 133 TRAP, 134 ABRT, 135 BUS, 136 FPE,
        # 137 KILL, 139 SEGV.
        st=${_pid_status[$pid]:-}
        case $st in
        132 | 133 | 134 | 135 | 136 | 137 | 139)
            printf 'FAIL: %s: %s (pid %s) ended with status %s (signal %s)\n' \
                "$TEST_NAME" "${_pid_name[$pid]}" "$pid" "$st" "$((st - 128))" >&2
            bad=1
            ;;
        esac
        if [[ -n ${_pid_orphans[$pid]:-} ]]; then
            printf 'FAIL: %s: %s (pid %s) exited but left children running:%s\n' \
                "$TEST_NAME" "${_pid_name[$pid]}" "$pid" "${_pid_orphans[$pid]}" >&2
            bad=1
        fi
    done
    return "$bad"
}

_teardown() {
    local rc=$? i pid f
    set +e
    trap - EXIT INT TERM HUP
    # If stdout is a closed pipe (`| head`), writing must not kill us before
    # everything is stopped.
    trap '' PIPE
    # Stop in reverse start order: front ends (nginx) before the daemons
    # behind them, so no request is in flight when a daemon stops.
    for ((i = ${#_pids[@]} - 1; i >= 0; i--)); do
        pid=${_pids[$i]}
        [[ -n ${_pid_status[$pid]:-} ]] || stop_pid "$pid" TERM
    done
    _check_logs || { ((rc == 0 || rc == 77)) && rc=1; }
    if ((FAILURES > 0)); then
        printf 'FAIL: %s: %d of %d checks failed\n' "$TEST_NAME" "$FAILURES" "$CHECKS" >&2
        ((rc == 0)) && rc=1
    fi
    if ((rc != 0 && rc != 77)); then
        # Show every log so the automake .log file explains the failure.
        for pid in "${_pids[@]}"; do [[ -s ${_pid_log[$pid]} ]] && dump_log "${_pid_log[$pid]}" 60; done
        for f in "${_nginx_error_logs[@]}"; do [[ -f $f ]] && dump_log "$f" 40; done
        [[ ${KEEP_TMP:-0} == 1 ]] || log "set KEEP_TMP=1 to keep the logs and configs"
    fi
    if [[ ${KEEP_TMP:-0} == 1 ]]; then
        log "kept $tmp"
    else
        rm -rf "$tmp" ${_short_sock_dir:+"$_short_sock_dir"}
    fi
    exit "$rc"
}

trap _teardown EXIT
# Turn signals into an ordinary exit so the EXIT trap cleans up.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

# ---------------------------------------------------------------------------
# Apache httpd with mod_proxy_fcgi (tests/integration/test_apache.sh)
#
# Knobs: APACHE (default: /usr/sbin/apache2, else apache2 or httpd on PATH),
# APACHE_MODULES (default /usr/lib/apache2/modules), APACHE_USER (the user
# the children run as when we are root; default www-data, else nobody).

# need_apache: set APACHE and APACHE_MODULES, or skip the test (77) when
# there is no Apache httpd with mod_proxy_fcgi.
need_apache() {
    local c
    if [[ -z ${APACHE:-} ]]; then
        for c in /usr/sbin/apache2 apache2 httpd; do
            if command -v "$c" >/dev/null 2>&1; then APACHE=$(command -v "$c"); break; fi
        done
    fi
    : "${APACHE_MODULES:=/usr/lib/apache2/modules}"
    if [[ -z ${APACHE:-} ]] || ! command -v "$APACHE" >/dev/null 2>&1; then
        log "SKIP: Apache httpd not found (set APACHE=path/to/apache2)"
        exit 77
    fi
    for c in mpm_event authz_core proxy proxy_fcgi; do
        if [[ ! -r $APACHE_MODULES/mod_$c.so ]]; then
            log "SKIP: $APACHE_MODULES/mod_$c.so not found (set APACHE_MODULES)"
            exit 77
        fi
    done
}

# _apache_user: print "USER GROUP" for Apache's User/Group directives. As
# root, Apache refuses to serve as root: an unprivileged user. Otherwise
# the current user (Apache then ignores the directives).
_apache_user() {
    local u
    if [[ $(id -u) == 0 ]]; then
        u=${APACHE_USER:-}
        if [[ -z $u ]]; then
            if id www-data >/dev/null 2>&1; then u=www-data; else u=nobody; fi
        fi
    else
        u=$(id -un)
    fi
    printf '%s %s\n' "$u" "$(id -gn "$u")"
}

# apache_sock_path NAME: a unix socket path that Apache's children (another
# user, when we run as root) can connect to: in a 0755 directory under the
# socket directory, which becomes 0711 (others may pass, not list). The
# daemon must create the socket with mode 0666 (evfcgid -m 0666).
apache_sock_path() {
    local d=$_sock_dir/public
    mkdir -p "$d"
    chmod 0711 "$_sock_dir"
    chmod 0755 "$d"
    printf '%s/%s\n' "$d" "$1"
}

_apache_n=0

# start_apache TEMPLATE BACKEND: start Apache httpd in front of BACKEND (the
# ProxyPass target: fcgi://HOST:PORT/ or unix:/path|fcgi://localhost/) on a
# free port, in the foreground (-DFOREGROUND), with all its files in its own
# directory under $tmp. Stopping the parent (stop_pid, SIGTERM) stops its
# children; stop_pid kills and reports any left over.
# Sets APACHE_PID, APACHE_PORT, APACHE_DIR, APACHE_ERROR_LOG.
start_apache() {
    local template=$1 backend=$2 attempt rc user group
    read -r user group < <(_apache_user)
    _apache_n=$((_apache_n + 1))
    APACHE_DIR=$tmp/apache.$_apache_n
    APACHE_ERROR_LOG=$APACHE_DIR/error.log
    mkdir -p "$APACHE_DIR"
    if [[ $(id -u) == 0 ]]; then
        # The children ($user) open the mutex files in APACHE_DIR.
        chmod 0711 "$tmp"
        chmod 0755 "$APACHE_DIR"
    fi
    for attempt in 1 2 3 4 5; do
        APACHE_PORT=$(free_port)
        sed -e "s|@PORT@|$(_subst_escape "$APACHE_PORT")|g" \
            -e "s|@DIR@|$(_subst_escape "$APACHE_DIR")|g" \
            -e "s|@MODULES@|$(_subst_escape "$APACHE_MODULES")|g" \
            -e "s|@BACKEND@|$(_subst_escape "$backend")|g" \
            -e "s|@USER@|$(_subst_escape "$user")|g" \
            -e "s|@GROUP@|$(_subst_escape "$group")|g" \
            "$template" >"$APACHE_DIR/httpd.conf"
        if grep -n '@[A-Z_]*@' "$APACHE_DIR/httpd.conf" >&2; then
            fail "start_apache: unsubstituted @VARS@ left in $APACHE_DIR/httpd.conf (from $template)"
        fi
        spawn_bg apache "apache#$_apache_n" "$APACHE_DIR/stderr.log" \
            "$APACHE" -f "$APACHE_DIR/httpd.conf" -DFOREGROUND
        APACHE_PID=$LAST_PID
        rc=0
        wait_listening "$APACHE_PID" "127.0.0.1:$APACHE_PORT" || rc=$?
        ((rc == 0)) && return 0
        if ((rc == 1)) && grep -q 'Address already in use' "$APACHE_DIR/stderr.log" "$APACHE_ERROR_LOG" 2>/dev/null; then
            stop_pid "$APACHE_PID"
            mv "$APACHE_ERROR_LOG" "$APACHE_ERROR_LOG.bind-retry-$attempt" 2>/dev/null || true
            log "port $APACHE_PORT was taken; retrying"
            continue
        fi
        break
    done
    dump_log "$APACHE_DIR/stderr.log"
    dump_log "$APACHE_ERROR_LOG"
    fail "Apache did not come up on 127.0.0.1:$APACHE_PORT (config $APACHE_DIR/httpd.conf)"
}

# ---------------------------------------------------------------------------
# Timing and streaming checks shared by the tests

# now_us: wall-clock microseconds.
now_us() {
    local t=${EPOCHREALTIME:-}
    if [[ -n $t ]]; then echo "${t/[.,]/}"; else echo $(($(date +%s%N) / 1000)); fi
}

# check_events BASE PREFIX: GET BASE/events?n=5&interval_ms=300 streams one
# event every 300 ms; the front-end must hand each to the client as it
# comes (nginx: the app's X-Accel-Buffering: no; Apache: a flushpackets=on
# worker), not all five at the end.  PREFIX starts the check names.
check_events() {
    local base=$1 p=$2 t0 out i line prev ms gaps='' first ok=1
    local -a stamps=() lines=()
    t0=$(now_us)
    # Foreground pipeline: curl ends by itself; each data line is stamped
    # when it is read.
    out=$(CURL_MAX_TIME=10 curl_ -N -D "$tmp/sse.headers" "$base/events?n=5&interval_ms=300" |
        while IFS= read -r line; do
            [[ $line == data:* ]] && printf '%s %s\n' "$(now_us)" "$line"
        done) || true
    while read -r i line; do
        [[ -n $i ]] || continue
        stamps+=("$i")
        lines+=("$line")
    done <<<"$out"
    check_eq "${p}GET /events: Content-Type" text/event-stream \
        "$(grep -i '^content-type:' "$tmp/sse.headers" | sed -e 's/^[^:]*:[[:space:]]*//' -e 's/\r$//' | tail -n 1)"
    check_eq "${p}GET /events: the five events, in order" \
        'data: {"n":0}|data: {"n":1}|data: {"n":2}|data: {"n":3}|data: {"n":4}' \
        "$(IFS='|'; printf '%s' "${lines[*]}")"
    ((${#stamps[@]} == 5)) || return 0
    first=$(((stamps[0] - t0) / 1000))
    # Buffered, it would come with the last, 1200 ms in.
    check_true "${p}GET /events: first event after $first ms (want < 1000)" test "$first" -lt 1000
    prev=${stamps[0]}
    for ((i = 1; i < 5; i++)); do
        ms=$(((stamps[i] - prev) / 1000))
        gaps+=" $ms"
        ((ms >= 200)) || ok=0
        prev=${stamps[i]}
    done
    log "${p}events: first at $first ms, then gaps of$gaps ms (interval 300)"
    check_true "${p}GET /events: events arrive one by one, >= 200 ms apart (gaps:$gaps ms)" test "$ok" = 1
}

# ---------------------------------------------------------------------------
# The demo app's basic routes, through a web server at BASE (nginx or
# Apache); the optional PREFIX starts the check names.

# GET /hello: the smallest answer, JSON.
check_hello() {
    local base=$1 what="${2:-}GET /hello"
    fetch "$base/hello"
    check_eq "$what: status" 200 "$HTTP_STATUS"
    check_eq "$what: body" '{"message":"hello"}' "$(body)"
    check_eq "$what: Content-Type" application/json "$HTTP_CTYPE"
}

# POST /echo must return the body byte for byte with the request's
# Content-Type. 1 MB of random bytes covers binary data (NULs, invalid
# UTF-8), many FastCGI records (64 KB max each) and nginx buffering the
# request body to a temp file.
check_echo() {
    local base=$1 what="${2:-}POST /echo 1 MB" in=$tmp/echo.in
    [[ -f $in ]] || head -c 1048576 /dev/urandom >"$in"
    fetch -X POST --data-binary "@$in" -H 'Content-Type: application/x-evfcgi-test' "$base/echo"
    check_eq "$what: status" 200 "$HTTP_STATUS"
    check_eq "$what: body length" 1048576 "$(wc -c <"$tmp/body" | tr -d ' ')"
    check_eq "$what: body sha256" "$(sha256sum <"$in" | cut -d' ' -f1)" "$(sha256sum <"$tmp/body" | cut -d' ' -f1)"
    check_eq "$what: Content-Type echoed" application/x-evfcgi-test "$HTTP_CTYPE"
}

# GET of an unknown path: FastAPI's 404 body.
check_not_found() {
    local base=$1 p=${2:-}
    fetch "$base/no/such/path"
    check_eq "${p}GET /no/such/path: status" 404 "$HTTP_STATUS"
    check_eq "${p}GET /no/such/path: body" '{"detail":"Not Found"}' "$(body)"
    check_match "${p}GET /no/such/path: Content-Type" '^application/json' "$HTTP_CTYPE"
}

# POST to a GET route: FastAPI's 405 body, with Allow.
check_method_not_allowed() {
    local base=$1 p=${2:-}
    fetch -X POST --data-binary 'x' "$base/hello"
    check_eq "${p}POST /hello: status" 405 "$HTTP_STATUS"
    check_eq "${p}POST /hello: body" '{"detail":"Method Not Allowed"}' "$(body)"
    check_match "${p}POST /hello: Allow header lists GET" '(^|[ ,])GET($|[ ,])' "$(header_value Allow)"
}
