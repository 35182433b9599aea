#!/usr/bin/env bash
#
# The daemon as it is deployed: the shipped files under conf/ (evfcgid.conf,
# nginx-evfcgi.conf, evfcgid.service, spawn-fcgi.sh) and the process model
# behind nginx: several workers, graceful reload and stop under load, a
# worker killed, two instances behind one nginx, recycling after
# max_requests, log reopening.
#
#   a. evfcgid -t accepts the shipped configuration; every commented
#      directive is a valid value; errors read FILE:LINE: message
#   b. -w 3: the status page sums three workers; requests spread over them
#   c. SIGHUP under load (wrk): no failed request, a new generation
#   d. SIGQUIT with 20 requests in flight: all answered, exit 0 in the grace
#   e. SIGKILL to a worker under load: replaced, few failures, then none
#   f. nginx-evfcgi.conf's TCP upstream of two instances: one stops, the
#      other serves everything
#   g. max_requests: workers retire and are replaced, no request fails
#   h. SIGUSR1: the access log is reopened by every worker
#   i. spawn-fcgi.sh starts it; /hello works
#   j. evfcgid.service: systemd-analyze verify; its ExecStartPre,
#      ExecStart, ExecReload and KillSignal run as systemd would, with the
#      shipped evfcgid.conf, behind the shipped nginx-evfcgi.conf (unix
#      upstream, /events streaming, /status, /ping)
#   k. a reload refused (bad value, unknown directive, an app that does
#      not load) keeps the running generation: workers killed by PID or
#      recycled afterwards still serve every route; the reason
#      (FILE:LINE: message) is in the error log, also when daemonised;
#      the status page shows the last reload's time and result
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_daemon.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need "$NGINX"
need curl
need wrk
need_daemon

CONF_DIR=$top_srcdir/conf
for f in evfcgid.conf.in nginx-evfcgi.conf evfcgid.service spawn-fcgi.sh; do
    [[ -r $CONF_DIR/$f ]] || { log "ERROR: $CONF_DIR/$f is missing"; exit 99; }
done
APPS_DIR=$(dirname "$DEMO_APP")     # plays $(pkglibdir): demo.so is there
SBIN_DIR=$(dirname "$EVFCGID")      # plays $(sbindir)

# ---------------------------------------------------------------------------
# Helpers

log_has() { grep -qE -- "$2" "$1" 2>/dev/null; }

# workers PID: the worker processes of the master PID, sorted (the blocking
# pool's threads are not processes).
workers() { descendants "$1" | sort -n | tr '\n' ' ' | sed 's/ $//'; }

nworkers_is() { local w; w=$(workers "$1"); [[ $(wc -w <<<"$w") -eq $2 ]]; }

# The shipped configuration as `make install` writes it, with the
# installation directories pointed into the build tree and $tmp:
# @pkglibdir@ -> the build's demo.so directory; the runtime directory
# (/run/evfcgi, made by systemd's RuntimeDirectory=) -> RUN_ROOT/evfcgi.
RUN_ROOT=$(sock_path run)
render_conf() {
    sed -e "s|@pkglibdir@|$(_subst_escape "$APPS_DIR")|g" \
        -e "s|@localstatedir@|$(_subst_escape "$tmp/var")|g" \
        -e "s|/run/evfcgi/|$(_subst_escape "$RUN_ROOT/evfcgi/")|g" \
        "$CONF_DIR/evfcgid.conf.in" >"$1"
}

# A full nginx configuration around the shipped site conf/nginx-evfcgi.conf
# (which belongs in nginx's http{} block), for start_nginx. The site is
# changed only where a test must: the listen port, the unix socket path,
# the two TCP ports, the absolute path of fastcgi_params, and (for the TCP
# test) fastcgi_pass evfcgi_unix -> evfcgi_tcp as its comment says.
# render_site_template OUT SOCKET PORT_A PORT_B UPSTREAM_NAME
FASTCGI_PARAMS=$tmp/fastcgi_params
render_site_template() {
    local out=$1 sock=$2 port_a=$3 port_b=$4 upstream=$5 conf_dir
    if [[ ! -f $FASTCGI_PARAMS ]]; then
        conf_dir=$("$NGINX" -V 2>&1 | sed -n 's/.*--conf-path=\([^ ]*\).*/\1/p')
        conf_dir=$(dirname "${conf_dir:-/etc/nginx/nginx.conf}")
        if [[ -r $conf_dir/fastcgi_params ]]; then
            cp "$conf_dir/fastcgi_params" "$FASTCGI_PARAMS"
        else
            # nginx's own fastcgi_params, for an nginx installed without it.
            sed -n 's/^ *\(fastcgi_param .*;\)$/\1/p' "$NGINX_CONF_TEMPLATE" >"$FASTCGI_PARAMS"
        fi
    fi
    {
        cat <<EOF
@USER_DIRECTIVE@
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile @RLIMIT_NOFILE@;
pid @TMPDIR@/nginx.pid;
error_log @TMPDIR@/error.log notice;
events { worker_connections @WORKER_CONNECTIONS@; }
http {
access_log @ACCESS_LOG@;
client_body_temp_path @TMPDIR@/client_body;
fastcgi_temp_path @TMPDIR@/fastcgi;
proxy_temp_path @TMPDIR@/proxy;
uwsgi_temp_path @TMPDIR@/uwsgi;
scgi_temp_path @TMPDIR@/scgi;
# ---- conf/nginx-evfcgi.conf, derived ----
EOF
        sed -e 's|^\( *listen\) 80;|\1 127.0.0.1:@PORT@;|' \
            -e "s|unix:/run/evfcgi/evfcgid.sock|unix:$(_subst_escape "$sock")|" \
            -e "s|127\.0\.0\.1:9000;|127.0.0.1:$port_a;|" \
            -e "s|127\.0\.0\.1:9001;|127.0.0.1:$port_b;|" \
            -e "s|include fastcgi_params;|include $(_subst_escape "$FASTCGI_PARAMS");|" \
            -e "s|fastcgi_pass evfcgi_unix;|fastcgi_pass $upstream;|" \
            "$CONF_DIR/nginx-evfcgi.conf"
        echo '}'
    } >"$out"
    grep -q "listen 127.0.0.1:@PORT@;" "$out" ||
        fail "render_site_template: no 'listen 80;' line in conf/nginx-evfcgi.conf to point at our port"
}

# run_wrk OUT ARGS...: run wrk (bounded by its -d) in the background; sets
# WRK_PID. wrk_result OUT: after wait_pid, sets WRK_REQUESTS, WRK_NON2XX and
# WRK_SOCKERR (the sum of connect/read/write/timeout errors).
run_wrk() {
    local out=$1
    shift
    spawn_bg other "wrk $*" "$out" wrk "$@"
    WRK_PID=$LAST_PID
}
wrk_result() {
    local out=$1 line
    WRK_REQUESTS=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$out")
    WRK_REQUESTS=${WRK_REQUESTS:-0}
    WRK_NON2XX=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
    WRK_NON2XX=${WRK_NON2XX:-0}
    WRK_SOCKERR=0
    line=$(grep 'Socket errors:' "$out" || true)
    if [[ -n $line ]]; then
        # "Socket errors: connect 0, read 3, write 0, timeout 0"
        WRK_SOCKERR=$(sed 's/[^0-9 ]//g' <<<"${line#*:}" | awk '{ s = 0; for (i = 1; i <= NF; i++) s += $i; print s }')
    fi
}

# seq_get N URL: N sequential GETs over one client connection; prints
# "COUNT STATUS" lines (all fine: "N 200").
seq_get() {
    local n=$1 url=$2 cfg=$tmp/seq.curl i
    : >"$cfg"
    for ((i = 0; i < n; i++)); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"; done
    curl_ -K "$cfg" -w '%{http_code}\n' | sort | uniq -c | sed 's/^ *//' || true
}

# json_num KEY: the number after "KEY": in the last fetched body (the
# status page is one line of plain JSON; the keys used here are unique).
json_num() { grep -o "\"$1\":[0-9]*" "$tmp/body" | head -n 1 | cut -d: -f2; }

# has_word LIST WORD
has_word() { [[ " $1 " == *" $2 "* ]]; }

# ---------------------------------------------------------------------------
# a. evfcgid -t and the shipped configuration

conf=$tmp/evfcgid.conf
render_conf "$conf"
check_eq "a: conf/evfcgid.conf.in has no @VAR@ besides @pkglibdir@/@localstatedir@" "" \
    "$(grep -n '@[a-zA-Z_]*@' "$conf" || true)"
# The runtime directory does not exist on a fresh machine: -t says so
# (a start would fail to bind); systemd's RuntimeDirectory= makes it.
out=$("$EVFCGID" -t -c "$conf" 2>&1) && rc=0 || rc=$?
check_eq "a: -t without the socket's directory: exit status 1" 1 "$rc"
check_match "a: ... and says so" "listen $RUN_ROOT/evfcgi/evfcgid.sock: cannot write in $RUN_ROOT/evfcgi" "$out"
mkdir -p "$RUN_ROOT/evfcgi"
out=$("$EVFCGID" -t -c "$conf" 2>&1) && rc=0 || rc=$?
check_eq "a: evfcgid -t -c evfcgid.conf (shipped): exit status" 0 "$rc"
check_match "a: evfcgid -t -c evfcgid.conf (shipped): says valid" 'configuration and apps are valid' "$out"

# Every directive of `evfcgid --directives` is in the file, set or commented
# out; and every commented-out line is a valid setting once uncommented.
missing=
while read -r name _; do
    grep -qE "^(; )?${name//./\\.} = " "$conf" || missing+=" $name"
done < <("$EVFCGID" --directives)
check_eq "a: every directive of --directives appears in evfcgid.conf.in" "" "$missing"
# Users, groups and log directories name things of the target machine,
# which -t checks for (below); the other settings must pass as written.
bad=
n=0
while IFS=: read -r lineno text; do
    case ${text#; } in
    user\ =* | group\ =* | listen.owner\ =* | listen.group\ =* | log\ =* | access_log\ =*) continue ;;
    esac
    n=$((n + 1))
    sed "${lineno}s/^; //" "$conf" >"$tmp/one.conf"
    "$EVFCGID" -t -c "$tmp/one.conf" >/dev/null 2>"$tmp/one.err" || bad+=" [line $lineno: ${text#; } -> $(head -n 1 "$tmp/one.err")]"
done < <(grep -nE '^; [a-z_.]+ = ' "$conf")
check_true "a: found commented-out settings to try ($n)" test "$n" -ge 20
out=$("$EVFCGID" -t -c "$conf" --user no-such-user-here 2>&1 >/dev/null) && rc=0 || rc=$?
check_eq "a: -t checks that the user exists: exit 1" 1 "$rc"
check_match "a: ... and says so" 'user no-such-user-here: no such user' "$out"
out=$("$EVFCGID" -t -c "$conf" -l not-an-address 2>&1 >/dev/null) && rc=0 || rc=$?
check_eq "a: -t checks listen addresses: exit 1" 1 "$rc"
out=$("$EVFCGID" -t -c "$conf" --log /nonexistent-dir/e.log 2>&1 >/dev/null) && rc=0 || rc=$?
check_match "a: -t checks the log directory" 'cannot write in /nonexistent-dir' "$out"
out=$("$EVFCGID" -t -c "$conf" --pid-file /nonexistent-dir/e.pid 2>&1 >/dev/null) && rc=0 || rc=$?
check_eq "a: -t checks the pid file's directory: exit 1" 1 "$rc"
check_match "a: ... and says so" 'pid_file /nonexistent-dir/e.pid: cannot write in /nonexistent-dir' "$out"
# A start that fails after binding (here: the pid file) removes the
# socket file it made.
a_sock=$(sock_path a.sock)
out=$("$EVFCGID" -l "unix:$a_sock" -a "$DEMO_APP" --pid-file /nonexistent-dir/e.pid 2>&1) && rc=0 || rc=$?
check_eq "a: a start with an unwritable pid file: exit 1" 1 "$rc"
check_match "a: ... says why" 'cannot write pid file /nonexistent-dir/e.pid' "$out"
check_true "a: ... and leaves no socket file behind" test ! -e "$a_sock"
check_eq "a: each commented-out setting, uncommented, passes evfcgid -t" "" "$bad"

# An unknown directive, and a bad value, each on a known line.
line=$(grep -n '^\[evfcgid\]' "$conf" | cut -d: -f1)
sed "${line}a no_such_directive = 1" "$conf" >"$tmp/bad1.conf"
out=$("$EVFCGID" -t -c "$tmp/bad1.conf" 2>&1 >/dev/null) && rc=0 || rc=$?
check_true "a: unknown directive: exit status 1 or 2 (got $rc)" test "$rc" -eq 1 -o "$rc" -eq 2
check_match "a: unknown directive: FILE:LINE: message" \
    "^$tmp/bad1.conf:$((line + 1)): unknown directive 'no_such_directive'" "$out"
line=$(grep -n '^; workers = ' "$conf" | cut -d: -f1)
sed "${line}s/.*/workers = lots/" "$conf" >"$tmp/bad2.conf"
out=$("$EVFCGID" -t -c "$tmp/bad2.conf" 2>&1 >/dev/null) && rc=0 || rc=$?
check_true "a: bad value: exit status 1 or 2 (got $rc)" test "$rc" -eq 1 -o "$rc" -eq 2
check_match "a: bad value: FILE:LINE: message" "^$tmp/bad2.conf:$line: workers: 'lots' is not a number" "$out"
sed 's|^path = .*|path = /nonexistent/demo.so|' "$conf" >"$tmp/bad3.conf"
"$EVFCGID" -t -c "$tmp/bad3.conf" >/dev/null 2>&1 && rc=0 || rc=$?
check_true "a: missing app: evfcgid -t fails (got $rc)" test "$rc" -ne 0

# ---------------------------------------------------------------------------
# b. Three workers: the status page, requests spread over the workers
# (access_log_format has no command-line option: a small file sets it).

access_b=$tmp/access.b.log
cat >"$tmp/b.conf" <<EOF
[evfcgid]
access_log = $access_b
access_log_format = \$pid \$status \$uri
EOF
start_evfcgid_tcp -c "$tmp/b.conf" -w 3 --status-path /status -a "$DEMO_APP"
b_daemon=$EVFCGID_PID
b_log=$EVFCGID_LOG
check_true "b: '3 workers ready' logged" poll_until 5 log_has "$b_log" 'master [0-9]+: 3 workers ready'
b_workers=$(workers "$b_daemon")
check_eq "b: the master has 3 worker processes" 3 "$(wc -w <<<"$b_workers")"
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
b_base=http://127.0.0.1:$NGINX_PORT

fetch "$b_base/status"
check_eq "b: GET /status: 200 JSON" "200 application/json" "$HTTP_STATUS $HTTP_CTYPE"
check_eq 'b: status "total processes"' 3 "$(json_num 'total processes')"
check_eq 'b: status "configured workers"' 3 "$(json_num 'configured workers')"

run_wrk "$tmp/wrk.b.out" -t 2 -c 30 -d 1s "$b_base/hello"
wait_pid "$WRK_PID"
wrk_result "$tmp/wrk.b.out"
check_true "b: wrk got answers ($WRK_REQUESTS)" test "$WRK_REQUESTS" -gt 100
check_eq "b: wrk: no failures" "0 0" "$WRK_NON2XX $WRK_SOCKERR"
fetch "$b_base/status"
ok2xx=$(json_num 2xx)
check_true "b: status 2xx ($ok2xx) counts every worker's requests (wrk: $WRK_REQUESTS)" \
    test "$ok2xx" -ge "$WRK_REQUESTS"
pids_served=$(awk '$2 == 200 && $3 == "/hello" { print $1 }' "$access_b" | sort -u | tr '\n' ' ' | sed 's/ $//')
check_true "b: /hello served by more than one worker (access log \$pid: $pids_served)" \
    test "$(wc -w <<<"$pids_served")" -ge 2
strays=
for p in $pids_served; do has_word "$b_workers" "$p" || strays+=" $p"; done
check_eq "b: every serving pid is one of the master's workers ($b_workers)" "" "$strays"

# ---------------------------------------------------------------------------
# h. SIGUSR1 reopens the access log (same daemon): move the file away, the
# next requests create it anew, in every worker.

mv "$access_b" "$access_b.1"
kill -USR1 "$b_daemon"
usr1_reopened() {
    fetch "$b_base/hello?usr1=$RANDOM"
    [[ -s $access_b ]] && grep -q ' 200 /hello?usr1=' "$access_b"
}
check_true "h: after SIGUSR1 a new access log appears with the request" poll_until 3 usr1_reopened
sleep 0.3   # the master passed the signal on to every worker by now
size_old=$(wc -c <"$access_b.1")
run_wrk "$tmp/wrk.h.out" -t 2 -c 30 -d 1s "$b_base/hello?after=usr1"
wait_pid "$WRK_PID"
wrk_result "$tmp/wrk.h.out"
check_eq "h: the moved log got nothing more (every worker reopened)" "$size_old" "$(wc -c <"$access_b.1")"
pids_new=$(awk '$3 == "/hello?after=usr1" { print $1 }' "$access_b" | sort -u | wc -l)
check_true "h: the new log has the requests of several workers ($pids_new)" test "$pids_new" -ge 2
logged=$(grep -c ' /hello?after=usr1$' "$access_b" || true)
check_true "h: every request wrk got an answer to is in the new log ($logged >= $WRK_REQUESTS)" \
    test "$logged" -ge "$WRK_REQUESTS"
stop_pid "$NGINX_PID"
stop_pid "$b_daemon" TERM
check_eq "b: evfcgid -w 3 exit status after SIGTERM" 0 "$STOP_STATUS"

# ---------------------------------------------------------------------------
# c. Graceful reload under load: SIGHUP 2 s into a 6 s wrk run on
# /items/1 (100 ms each) through nginx with upstream keep-alive.

start_evfcgid_tcp -w 2 -a "$DEMO_APP"
c_daemon=$EVFCGID_PID
c_log=$EVFCGID_LOG
check_true "c: 2 workers ready" poll_until 5 log_has "$c_log" '2 workers ready'
c_old=$(workers "$c_daemon")
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
run_wrk "$tmp/wrk.c.out" -t 2 -c 50 -d 6s "http://127.0.0.1:$NGINX_PORT/items/1"
sleep 2
kill -HUP "$c_daemon"
check_true "c: 'reload: 2 new workers ready' logged" poll_until 5 log_has "$c_log" 'reload: 2 new workers ready'
check_true "c: the old workers had requests in flight to finish" \
    log_has "$c_log" 'graceful stop: finishing [1-9][0-9]* requests'
wait_pid "$WRK_PID"
wrk_result "$tmp/wrk.c.out"
check_true "c: wrk got answers through the reload ($WRK_REQUESTS)" test "$WRK_REQUESTS" -gt 1000
check_eq "c: no 'Non-2xx or 3xx responses' line in wrk's output" "" "$(grep 'Non-2xx' "$tmp/wrk.c.out" || true)"
check_eq "c: no 'Socket errors' line in wrk's output" "" "$(grep 'Socket errors' "$tmp/wrk.c.out" || true)"
old_gone() {
    local p
    for p in $c_old; do is_alive "$p" && [[ $(ps -o ppid= -p "$p" | tr -d ' ') == "$c_daemon" ]] && return 1; done
    return 0
}
check_true "c: the old workers ($c_old) are gone" poll_until 5 old_gone
c_new=$(workers "$c_daemon")
check_eq "c: two workers after the reload" 2 "$(wc -w <<<"$c_new")"
common=
for p in $c_new; do has_word "$c_old" "$p" && common+=" $p"; done
check_eq "c: a new generation of workers ($c_old -> $c_new)" "" "$common"
fetch "http://127.0.0.1:$NGINX_PORT/items/2"
check_eq "c: GET /items/2 after the reload" 200 "$HTTP_STATUS"
stop_pid "$NGINX_PID"
stop_pid "$c_daemon" TERM
check_eq "c: exit status after SIGTERM" 0 "$STOP_STATUS"

# ---------------------------------------------------------------------------
# d. Graceful stop: 20 requests of 1 s in flight, SIGQUIT; all answered,
# the master exits 0 before the grace period (5 s) is over.

start_evfcgid_tcp -w 2 --grace 5 --status-path /status -a "$DEMO_APP"
d_daemon=$EVFCGID_PID
check_true "d: 2 workers ready" poll_until 5 log_has "$EVFCGID_LOG" '2 workers ready'
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
d_base=http://127.0.0.1:$NGINX_PORT
cfg=$tmp/d.curl
: >"$cfg"
for ((i = 0; i < 20; i++)); do printf 'url = "%s/sleep?ms=1000"\noutput = "/dev/null"\n' "$d_base" >>"$cfg"; done
spawn_bg other "20 x curl /sleep?ms=1000" "$tmp/d.codes" \
    curl_ --no-progress-meter --parallel --parallel-immediate --parallel-max 20 -K "$cfg" -w '%{http_code}\n'
d_curls=$LAST_PID
in_flight_20() {
    fetch "$d_base/status"
    [[ $HTTP_STATUS == 200 ]] && (($(json_num 'in flight') >= 21))   # 20 + this one
}
check_true "d: 20 requests in flight before SIGQUIT" poll_until 1 in_flight_20
t0=$(date +%s%N)
stop_pid "$d_daemon" QUIT
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "d: master's exit status after SIGQUIT" 0 "$STOP_STATUS"
check_true "d: the master exited within the grace period (${ms} ms < 5000)" test "$ms" -lt 5000
wait_pid "$d_curls"
check_eq "d: all 20 in-flight requests answered 200" "20 200" "$(sort "$tmp/d.codes" | uniq -c | sed 's/^ *//')"
check_true "d: 'graceful stop' logged" log_has "$EVFCGID_LOG" 'graceful stop'
stop_pid "$NGINX_PID"

# ---------------------------------------------------------------------------
# e. A worker killed (SIGKILL) under load: the master replaces it; what
# fails is at most what that worker had in hand; then nothing fails.

start_evfcgid_tcp -w 2 -a "$DEMO_APP"
e_daemon=$EVFCGID_PID
e_log=$EVFCGID_LOG
check_true "e: 2 workers ready" poll_until 5 log_has "$e_log" '2 workers ready'
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
e_base=http://127.0.0.1:$NGINX_PORT
e_old=$(workers "$e_daemon")
victim=${e_old%% *}
survivor=${e_old##* }
run_wrk "$tmp/wrk.e.out" -t 2 -c 50 -d 4s "$e_base/hello"
sleep 1.5
kill -KILL "$victim"
replaced() { ! is_alive "$victim" && nworkers_is "$e_daemon" 2; }
check_true "e: two workers again after killing $victim" poll_until 5 replaced
e_new=$(workers "$e_daemon")
check_true "e: a new worker replaced $victim ($e_old -> $e_new)" eval '! has_word "$e_new" "$victim"'
check_true "e: the other worker ($survivor) kept running" has_word "$e_new" "$survivor"
check_true "e: 'worker $victim killed by signal 9' logged" \
    poll_until 2 log_has "$e_log" "worker $victim killed by signal 9"
wait_pid "$WRK_PID"
wrk_result "$tmp/wrk.e.out"
check_true "e: wrk got answers ($WRK_REQUESTS)" test "$WRK_REQUESTS" -gt 1000
e_fail=$((WRK_NON2XX + WRK_SOCKERR))
check_true "e: failures ($WRK_NON2XX non-2xx, $WRK_SOCKERR socket errors) at most 50 of $WRK_REQUESTS" \
    test "$e_fail" -le 50
check_eq "e: then 100 sequential GET /hello all 200" "100 200" "$(seq_get 100 "$e_base/hello")"
assert_alive "$e_daemon" "e"
stop_pid "$NGINX_PID"
stop_pid "$e_daemon" TERM
check_eq "e: exit status after SIGTERM" 0 "$STOP_STATUS"

# ---------------------------------------------------------------------------
# f. conf/nginx-evfcgi.conf's TCP upstream over two instances (A, B): both
# serve; A stops; B serves everything.

start_evfcgid_tcp --access-log "$tmp/access.A.log" --status-path /status -a "$DEMO_APP"
f_a=$EVFCGID_PID
port_a=$EVFCGID_PORT
start_evfcgid_tcp --access-log "$tmp/access.B.log" --status-path /status -a "$DEMO_APP"
f_b=$EVFCGID_PID
port_b=$EVFCGID_PORT
render_site_template "$tmp/nginx-site-tcp.conf.in" /nonexistent.sock "$port_a" "$port_b" evfcgi_tcp
start_nginx "$tmp/nginx-site-tcp.conf.in" -
f_base=http://127.0.0.1:$NGINX_PORT
check_eq "f: 20 GET /hello over the two instances: all 200" "20 200" "$(seq_get 20 "$f_base/hello")"
check_true "f: instance A served some" poll_until 1 test -s "$tmp/access.A.log"
check_true "f: instance B served some" poll_until 1 test -s "$tmp/access.B.log"
stop_pid "$f_a" TERM
check_eq "f: instance A's exit status after SIGTERM" 0 "$STOP_STATUS"
b_before=$(wc -l <"$tmp/access.B.log")
check_eq "f: A stopped: 100 GET /hello through nginx all 200" "100 200" "$(seq_get 100 "$f_base/hello")"
check_true "f: B served them all" poll_until 1 test "$(($(wc -l <"$tmp/access.B.log") - b_before))" -ge 100
fetch "$f_base/status"
check_eq "f: GET /status (the site's status location) from B" "200 1" "$HTTP_STATUS $(json_num 'total processes')"
stop_pid "$NGINX_PID"
stop_pid "$f_b" TERM

# ---------------------------------------------------------------------------
# g. Recycling: --max-requests 50 -w 1, 200 requests; the worker retires
# every 50 requests, a new one takes over, none fails.

start_evfcgid_tcp -w 1 --max-requests 50 --status-path /status -a "$DEMO_APP"
g_daemon=$EVFCGID_PID
g_log=$EVFCGID_LOG
check_true "g: 1 worker ready" poll_until 5 log_has "$g_log" '1 workers ready'
g_first=$(workers "$g_daemon")
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
check_eq "g: 200 GET /hello: all 200" "200 200" "$(seq_get 200 "http://127.0.0.1:$NGINX_PORT/hello")"
retired_3() { (($(grep -c 'retired; starting a new one' "$g_log") >= 3)); }
check_true "g: 'worker N retired' logged at least 3 times" poll_until 3 retired_3
log "g: $(grep -c 'retired; starting a new one' "$g_log") retirements logged"
check_true "g: recycling is logged by the worker" log_has "$g_log" 'served max_requests: recycling this worker'
check_true "g: one live worker, not the first one ($g_first)" \
    poll_until 3 eval 'nworkers_is "$g_daemon" 1 && [[ $(workers "$g_daemon") != "$g_first" ]]'
# The status page's counters are the pool's, since its start: they keep
# what retired workers served.
fetch "http://127.0.0.1:$NGINX_PORT/status"
check_true "g: status \"requests\" ($(json_num requests)) keeps the retired workers' 200 requests" \
    test "$(json_num 2xx)" -ge 200
check_eq 'g: status "total processes"' 1 "$(json_num 'total processes')"
stop_pid "$NGINX_PID"
stop_pid "$g_daemon" TERM
check_eq "g: exit status after SIGTERM" 0 "$STOP_STATUS"

# ---------------------------------------------------------------------------
# i. conf/spawn-fcgi.sh: refuses a configuration with listen lines; with
# the shipped configuration minus them (the recipe in its comment), it
# starts evfcgid on spawn-fcgi's socket.

if command -v "$SPAWN_FCGI" >/dev/null 2>&1; then
    out=$(EVFCGID=$EVFCGID EVFCGID_CONF=$conf SPAWN_FCGI=$SPAWN_FCGI sh "$CONF_DIR/spawn-fcgi.sh" 2>&1) && rc=0 || rc=$?
    check_eq "i: spawn-fcgi.sh refuses a conf with listen lines: exit status" 2 "$rc"
    check_match "i: ... and says why" 'has listen lines' "$out"
    sed 's/^listen *=/; &/' "$conf" >"$tmp/spawn.conf"
    for attempt in 1 2 3; do
        i_port=$(free_port)
        i_log=$tmp/evfcgid.spawn.$attempt.log
        spawn_bg evfcgid "spawn-fcgi.sh#$attempt" "$i_log" \
            env EVFCGI_ADDR=127.0.0.1 EVFCGI_PORT="$i_port" EVFCGID="$EVFCGID" \
            EVFCGID_CONF="$tmp/spawn.conf" SPAWN_FCGI="$SPAWN_FCGI" \
            sh "$CONF_DIR/spawn-fcgi.sh"
        i_pid=$LAST_PID
        rc=0
        wait_listening "$i_pid" "127.0.0.1:$i_port" || rc=$?
        if ((rc == 1)) && grep -qi 'in use' "$i_log"; then stop_pid "$i_pid"; continue; fi
        break
    done
    check_true "i: evfcgid under spawn-fcgi.sh accepts on the inherited socket" \
        poll_until 5 log_has "$i_log" 'listening on the socket inherited on fd 0'
    check_true "i: the process started (spawn-fcgi.sh, pid $i_pid) is the evfcgid master, its workers ready" \
        poll_until 5 log_has "$i_log" "master $i_pid: 1 workers ready"
    start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$i_port"
    fetch "http://127.0.0.1:$NGINX_PORT/hello"
    check_eq "i: GET /hello via spawn-fcgi.sh" '200 {"message":"hello"}' "$HTTP_STATUS $(body)"
    fetch "http://127.0.0.1:$NGINX_PORT/ping"
    check_eq "i: GET /ping (ping_path of the shipped conf)" '200 pong' "$HTTP_STATUS $(body)"
    stop_pid "$NGINX_PID"
    stop_pid "$i_pid" TERM
    check_eq "i: exit status after SIGTERM" 0 "$STOP_STATUS"
else
    log "i: $SPAWN_FCGI not found: spawn-fcgi.sh not tested"
fi

# ---------------------------------------------------------------------------
# j. evfcgid.service, run as systemd would run it: ExecStartPre, then
# ExecStart as the service's main process (no shell: words split on
# blanks), ExecReload with $MAINPID, KillSignal to stop; the shipped
# evfcgid.conf as /etc/evfcgi/evfcgid.conf; the runtime directory made as
# RuntimeDirectory= would. In front: the shipped nginx-evfcgi.conf's unix
# upstream.

unit=$tmp/evfcgid.service
etc=$tmp/etc
mkdir -p "$etc/evfcgi"
sed -e "s|@sbindir@|$(_subst_escape "$SBIN_DIR")|g" \
    -e "s|@sysconfdir@|$(_subst_escape "$etc")|g" \
    "$CONF_DIR/evfcgid.service" >"$unit"
render_conf "$etc/evfcgi/evfcgid.conf"
check_eq "j: no @VAR@ left in the unit" "" "$(grep -n '@[a-zA-Z_]*@' "$unit" || true)"

if command -v systemd-analyze >/dev/null 2>&1; then
    # --man=no: the man pages named in Documentation= are not installed here.
    out=$(systemd-analyze verify --man=no "$unit" 2>&1) && rc=0 || rc=$?
    check_eq "j: systemd-analyze verify evfcgid.service: exit status" 0 "$rc"
    check_eq "j: systemd-analyze verify evfcgid.service: no complaint" "" "$out"
else
    log "j: systemd-analyze not found: unit not verified"
fi

unit_key() { sed -n "s/^$1=//p" "$unit"; }
runtime_dir=$(unit_key RuntimeDirectory)
check_eq "j: RuntimeDirectory= matches the conf's socket directory" evfcgi "$runtime_dir"
mkdir -p "$RUN_ROOT/$runtime_dir"
sock=$(sed -n 's/^listen = unix://p' "$etc/evfcgi/evfcgid.conf")
check_eq "j: the shipped conf listens in the runtime directory" "$RUN_ROOT/evfcgi/evfcgid.sock" "$sock"
for key in ExecStartPre ExecStart ExecReload; do
    check_match "j: $key= is one plain command (no quotes, specifiers or prefixes)" \
        '^/[^"'"'"'%;\\]*$' "$(unit_key "$key")"
done

read -ra cmd <<<"$(unit_key ExecStartPre)"
out=$("${cmd[@]}" 2>&1) && rc=0 || rc=$?
check_eq "j: ExecStartPre ($(unit_key ExecStartPre)): exit status" 0 "$rc"

read -ra cmd <<<"$(unit_key ExecStart)"
j_log=$tmp/evfcgid.service.log
spawn_bg evfcgid "evfcgid.service" "$j_log" "${cmd[@]}"
j_pid=$LAST_PID
wait_listening "$j_pid" "unix:$sock" || { dump_log "$j_log"; fail "j: ExecStart did not listen on unix:$sock"; }
check_true "j: ExecStart's process (pid $j_pid, systemd's MAINPID) is the master, its workers ready" \
    poll_until 5 log_has "$j_log" "master $j_pid: 1 workers ready"
check_eq "j: socket mode (listen.mode of the shipped conf)" 666 "$(stat -c %a "$sock")"

render_site_template "$tmp/nginx-site-unix.conf.in" "$sock" 9 9 evfcgi_unix
start_nginx "$tmp/nginx-site-unix.conf.in" -
j_base=http://127.0.0.1:$NGINX_PORT
fetch "$j_base/hello"
check_eq "j: GET /hello" '200 {"message":"hello"}' "$HTTP_STATUS $(body)"
fetch "$j_base/items/5"
check_eq "j: GET /items/5" '200 {"item_id":5,"data":"some data"}' "$HTTP_STATUS $(body)"
fetch "$j_base/ping"
check_eq "j: GET /ping" '200 pong' "$HTTP_STATUS $(body)"
fetch "$j_base/status"
check_eq "j: GET /status" "200 application/json" "$HTTP_STATUS $HTTP_CTYPE"
check_eq 'j: status "total processes" (workers default: 1)' 1 "$(json_num 'total processes')"
fetch "$j_base/events?n=3&interval_ms=0"
check_eq "j: GET /events: status, type" "200 text/event-stream" "$HTTP_STATUS $HTTP_CTYPE"
check_eq "j: GET /events: three events" 3 "$(grep -c '^data: {"n":[0-9]}' "$tmp/body")"
# Unbuffered (fastcgi_buffering off): the first event reaches the client
# while the stream is still open. A client that gives up after 0.5 s of a
# stream with events 1 s apart has event 0 and not event 1.
out=$(curl_ -N --max-time 0.5 "$j_base/events?n=3&interval_ms=1000" 2>/dev/null || true)
check_eq "j: GET /events is streamed (event 0 within 0.5 s, event 1 not yet)" \
    'id: 0|data: {"n":0}|' "$(tr '\n' '|' <<<"$out")"

j_workers=$(workers "$j_pid")
read -ra cmd <<<"$(unit_key ExecReload | sed "s/[$]MAINPID/$j_pid/")"
if [[ -x ${cmd[0]} ]]; then
    "${cmd[@]}" && rc=0 || rc=$?
    check_eq "j: ExecReload ($(unit_key ExecReload)): exit status" 0 "$rc"
    check_true "j: 'reload: 1 new workers ready' logged" poll_until 5 log_has "$j_log" 'reload: 1 new workers ready'
    reloaded() { nworkers_is "$j_pid" 1 && [[ $(workers "$j_pid") != "$j_workers" ]]; }
    check_true "j: a new worker replaced $j_workers" poll_until 5 reloaded
    fetch "$j_base/hello"
    check_eq "j: GET /hello after the reload" 200 "$HTTP_STATUS"
else
    not_ok "j: ExecReload's program ${cmd[0]} exists"
fi

kill_signal=$(unit_key KillSignal)
check_eq "j: KillSignal" SIGQUIT "$kill_signal"
stop_timeout=$(unit_key TimeoutStopSec)
stop_timeout=${stop_timeout%s}
grace=$(sed -n 's/^;\{0,1\} *grace = //p' "$etc/evfcgi/evfcgid.conf")
check_true "j: TimeoutStopSec ($stop_timeout s) > grace ($grace s)" test "$stop_timeout" -gt "$grace"
stop_pid "$NGINX_PID"
t0=$(date +%s%N)
stop_pid "$j_pid" "${kill_signal#SIG}"
ms=$((($(date +%s%N) - t0) / 1000000))
check_eq "j: exit status after KillSignal (0: Restart=on-failure does not restart)" 0 "$STOP_STATUS"
check_true "j: stopped in ${ms} ms (< TimeoutStopSec)" test "$ms" -lt $((stop_timeout * 1000))
check_true "j: the socket file is removed at exit" test ! -e "$sock"

# ---------------------------------------------------------------------------
# k. A refused reload keeps the running generation.  Two workers recycled
# every 20 requests; after each broken reload both are killed by PID, so
# every later answer comes from a worker started after the refusal.

k_conf=$tmp/k.conf
write_k_conf() {    # write_k_conf [EXTRA_LINE_IN_EVFCGID [APP_PATH]]
    {
        echo '[evfcgid]'
        echo 'workers = 2'
        echo 'max_requests = 20'
        echo 'status_path = /status'
        echo 'log_level = notice'
        echo "${1:-}"
        echo '[app demo]'
        echo "path = ${2:-$DEMO_APP}"
    } >"$k_conf"
}
write_k_conf
start_evfcgid_tcp -c "$k_conf"
k_daemon=$EVFCGID_PID
k_log=$EVFCGID_LOG
check_true "k: '2 workers ready' logged" poll_until 5 log_has "$k_log" '2 workers ready'
start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
k_base=http://127.0.0.1:$NGINX_PORT
fetch "$k_base/status"
check_match "k: status before any reload: no reload yet" '"last reload result":"none"' "$(body)"

# routes_answer: /hello and /items/N answer 200 for 60 requests (three
# recyclings of each worker at max_requests = 20).
routes_answer() {
    local i bad=
    for ((i = 0; i < 30; i++)); do
        fetch "$k_base/hello"
        [[ $HTTP_STATUS == 200 ]] || bad+=" /hello:$HTTP_STATUS"
        fetch "$k_base/items/$i"
        [[ $HTTP_STATUS == 200 ]] || bad+=" /items/$i:$HTTP_STATUS"
    done
    printf '%s' "$bad"
}
refusals=0
refusals_logged() { [[ $(grep -c 'reload failed' "$k_log") -ge $1 ]]; }
refused_reload() {  # refused_reload WHAT EXPECTED_LOG_RE
    local what=$1 re=$2 before p
    refusals=$((refusals + 1))
    kill -HUP "$k_daemon"
    check_true "k: $what: the reload is refused" \
        poll_until 10 refusals_logged "$refusals"
    check_true "k: $what: the error log says why" log_has "$k_log" "$re"
    before=$(workers "$k_daemon")
    # (one may have just retired by itself: max_requests)
    for p in $before; do kill -KILL "$p" 2>/dev/null || true; done
    replaced() {
        local w
        w=$(workers "$k_daemon")
        nworkers_is "$k_daemon" 2 || return 1
        for p in $before; do has_word "$w" "$p" && return 1; done
        return 0
    }
    check_true "k: $what: both killed workers ($before) replaced" poll_until 10 replaced
    check_eq "k: $what: routes still answer 200 from the replacements" "" "$(routes_answer)"
    fetch "$k_base/status"
    check_match "k: $what: the status page reports the refused reload" \
        '"last reload result":"failed: ' "$(body)"
    check_true "k: $what: ... and its time" \
        test "$(json_num 'last reload')" -ge "$(($(date +%s) - 60))"
}
write_k_conf 'workers = two'
refused_reload "workers = two" "$k_conf:6: workers: 'two' is not a number"
write_k_conf 'no_such_directive = 1'
refused_reload "unknown directive" "$k_conf:6: unknown directive 'no_such_directive'"
write_k_conf '' "$tmp/no-such-dir/demo.so"
refused_reload "an app that does not load" "cannot load app $tmp/no-such-dir/demo.so"
# Settings of a refused file do not take effect, not even for a moment:
# with its log_level = info applied, loading its first app would log
# "loaded app" at info before its second app fails.
write_k_conf 'log_level = info'
printf '[app other]\npath = %s\n' "$tmp/no-such-dir/other.so" >>"$k_conf"
refused_reload "a refused file's log_level" "cannot load app $tmp/no-such-dir/other.so"
check_eq "k: a refused file's log_level = info was never applied" "" \
    "$(grep -m 3 ' info: ' "$k_log" || true)"
# A good file again: the reload goes through, and says so.
write_k_conf
kill -HUP "$k_daemon"
check_true "k: a good reload after the refused ones" \
    poll_until 10 log_has "$k_log" 'reload: 2 new workers ready'
fetch "$k_base/status"
check_match "k: the status page reports the good reload" '"last reload result":"ok"' "$(body)"
check_eq "k: routes answer after the good reload" "" "$(routes_answer)"
stop_pid "$NGINX_PID"
stop_pid "$k_daemon" TERM
check_eq "k: exit status after SIGTERM" 0 "$STOP_STATUS"

# Daemonised (stderr is /dev/null): the reason goes to the log file.
kd_port=$(free_port)
kd_pid=$tmp/kd.pid
kd_log=$tmp/kd.log
write_k_conf
"$EVFCGID" -d -c "$k_conf" -l "127.0.0.1:$kd_port" --pid-file "$kd_pid" \
    --log "$kd_log" </dev/null >/dev/null 2>&1 || fail "k: evfcgid -d did not start"
check_true "k: -d: the pid file appears" poll_until 10 test -s "$kd_pid"
kd=$(cat "$kd_pid")
# Not our child: recorded so that teardown stops it on failure too.
_pids+=("$kd")
_pid_kind[$kd]=other
_pid_name[$kd]="evfcgid -d"
_pid_log[$kd]=$kd_log
check_true "k: -d: workers ready" poll_until 10 log_has "$kd_log" '2 workers ready'
write_k_conf 'workers = two'
kill -HUP "$kd"
check_true "k: -d: the refused reload's FILE:LINE: message is in the log file" \
    poll_until 10 log_has "$kd_log" "$k_conf:6: workers: 'two' is not a number"
stop_pid "$kd" TERM
check_true "k: -d: stopped by SIGTERM, the pid file removed" test ! -e "$kd_pid"
