#!/usr/bin/env bash
#
# evfcgid behind a real Apache httpd (mod_proxy_fcgi, ProxyPass ... fcgi://,
# enablereuse=on) over TCP and a unix socket: the demo app's routes, and
# the same answers as behind nginx for the same URIs. Apache and nginx fill
# SCRIPT_NAME/PATH_INFO differently; evfcgid routes on REQUEST_URI, so the
# path (percent-encoding, query string) must come out the same.
#
#   1. TCP: ProxyPass "/" "fcgi://127.0.0.1:PORT/"; then nginx in front of
#      the same daemon, for comparison
#   2. unix socket: ProxyPass "/" "unix:/path|fcgi://localhost/"
#   3. the shipped example site conf/apache-evfcgi.conf (unix socket):
#      the routes, /ping and /status (its "Require local" locations), and
#      /events streamed by its flushpackets worker
#   4. the same example's TCP balancer over two instances: one stops, the
#      other serves everything
#
# Run by `make check`, or by hand:
#   EVFCGID=src/evfcgid DEMO_APP=apps/.libs/demo.so tests/integration/test_apache.sh
# Knobs: APACHE, APACHE_MODULES, APACHE_USER (see lib.sh).

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"

need_apache
need curl
need sha256sum
need_daemon

CONF_DIR=$top_srcdir/conf
[[ -r $CONF_DIR/apache-evfcgi.conf ]] || { log "ERROR: $CONF_DIR/apache-evfcgi.conf is missing"; exit 99; }
# The modules the example site needs besides those of apache.conf.in (its
# header lists them): authz_host for "Require local"; the balancer and
# what it uses.
SITE_MODULES=(authz_host proxy_balancer slotmem_shm lbmethod_byrequests)
for m in "${SITE_MODULES[@]}"; do
    if [[ ! -r $APACHE_MODULES/mod_$m.so ]]; then
        log "SKIP: $APACHE_MODULES/mod_$m.so not found (set APACHE_MODULES)"
        exit 77
    fi
done

# apache_template SITE: write the template for start_apache, apache.conf.in
# with @SITE@ (the file it includes) filled in; sets APACHE_CONF_TEMPLATE.
# Everything is written under $tmp: under `make distcheck` the source tree
# is read-only.
_template_n=0
apache_template() {
    _template_n=$((_template_n + 1))
    APACHE_CONF_TEMPLATE=$tmp/apache.$_template_n.conf.in
    sed -e "s|@SITE@|$(_subst_escape "$1")|g" "$LIB_DIR/apache.conf.in" >"$APACHE_CONF_TEMPLATE"
}
NO_SITE=$tmp/no-site.conf
echo '# No site: apache.conf.in ProxyPasses "/" to the backend.' >"$NO_SITE"

# render_site OUT MODE SOCKET [PORT_A PORT_B]: the shipped example site
# conf/apache-evfcgi.conf, for apache.conf.in's @SITE@, changed only where
# a test must: its <VirtualHost *:80> listens on our port, its unix socket
# path is SOCKET, and the balancer members' ports 9000 and 9001 are PORT_A
# and PORT_B. MODE unix: as shipped; MODE balancer: what its comment says
# for the TCP balancer (the balancer's ProxyPass "/" uncommented, the unix
# one removed; /events stays on the unix socket).
render_site() {
    local out=$1 mode=$2 sock=$3 port_a=${4:-9000} port_b=${5:-9001} m
    # ${EVFCGI_PORT}: Apache's, defined by apache.conf.in.
    # shellcheck disable=SC2016
    local -a edits=(
        -e 's|^\( *\)<VirtualHost \*:80>|\1<VirtualHost 127.0.0.1:${EVFCGI_PORT}>|'
        -e "s|unix:/run/evfcgi/evfcgid\.sock|unix:$(_subst_escape "$sock")|g"
        -e "s|\(BalancerMember \"fcgi://127\.0\.0\.1\):9000\"|\1:$port_a\"|"
        -e "s|\(BalancerMember \"fcgi://127\.0\.0\.1\):9001\"|\1:$port_b\"|"
    )
    if [[ $mode == balancer ]]; then
        edits+=(-e 's|^\( *\)#\(ProxyPass "/" "balancer://evfcgi_tcp/"\)|\1\2|'
            -e '/^ *ProxyPass "\/" "unix:/d')
    fi
    {
        echo "# conf/apache-evfcgi.conf as test_apache.sh runs it ($mode)."
        echo "# Tells apache.conf.in to leave out its own ProxyPass."
        echo 'Define EVFCGI_SITE'
        for m in "${SITE_MODULES[@]}"; do
            printf '<IfModule !%s_module>\n    LoadModule %s_module %s/mod_%s.so\n</IfModule>\n' \
                "$m" "$m" "$APACHE_MODULES" "$m"
        done
        echo '# ---- conf/apache-evfcgi.conf, derived ----'
        sed "${edits[@]}" "$CONF_DIR/apache-evfcgi.conf"
    } >"$out"
    # The example must still have the lines the edits are for.
    site_has '^ *<VirtualHost 127\.0\.0\.1:\$\{EVFCGI_PORT\}>' "its <VirtualHost *:80>, pointed at our port"
    site_has '^ *ProxyPass "/events" "unix:[^|"]*\|fcgi://[^"]*".* flushpackets=on' "the /events streaming worker"
    site_has "^ *BalancerMember \"fcgi://127\\.0\\.0\\.1:$port_a\"" "the first balancer member"
    site_has "^ *BalancerMember \"fcgi://127\\.0\\.0\\.1:$port_b\"" "the second balancer member"
    if [[ $mode == balancer ]]; then
        site_has '^ *ProxyPass "/" "balancer://evfcgi_tcp/"' "the balancer's ProxyPass, uncommented"
        ! grep -qE '^ *ProxyPass "/" "unix:' "$out" ||
            fail "render_site: the unix ProxyPass \"/\" is still in $out"
    else
        site_has '^ *ProxyPass "/" "unix:[^|"]*\|fcgi://' "the unix ProxyPass \"/\""
    fi
    grep -qF "\"unix:$sock|" "$out" || fail "render_site: the socket path of conf/apache-evfcgi.conf is not /run/evfcgi/evfcgid.sock any more"
    ! grep -n '/run/evfcgi' "$out" >&2 || fail "render_site: a socket path is left in $out"
}
# site_has ERE WHAT: the rendered site ($out of render_site) has a line
# matching ERE; if not, the example changed and the test must follow.
site_has() {
    grep -qE -- "$1" "$out" ||
        fail "render_site: conf/apache-evfcgi.conf changed: no line matching /$1/ in $out ($2)"
}

# ---------------------------------------------------------------------------
# Checks. Each takes the base URL of the web server and a label prefix.



# 5 MB streamed under backpressure.
check_big() {
    local base=$1 what="${2}GET /big?bytes=5000000" out
    out=$(curl_ -o "$tmp/big" -w '%{http_code} %{size_download}' "$base/big?bytes=5000000") ||
        not_ok "$what: curl exit status $?"
    check_eq "$what: status and size" "200 5000000" "$out"
    check_eq "$what: content" "$(printf '%s' {a..z} | head -c 26)" "$(head -c 26 "$tmp/big")"
}

ITEMS_422='{"detail":[{"type":"int_parsing","loc":["path","item_id"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"abc"}]}'

check_items() {
    local base=$1 p=$2
    fetch "$base/items/7"
    check_eq "${p}GET /items/7: status" 200 "$HTTP_STATUS"
    check_eq "${p}GET /items/7: body" '{"item_id":7,"data":"some data"}' "$(body)"
    check_eq "${p}GET /items/7: Content-Type" application/json "$HTTP_CTYPE"

    fetch "$base/items/abc"
    check_eq "${p}GET /items/abc: status" 422 "$HTTP_STATUS"
    check_eq "${p}GET /items/abc: body" "$ITEMS_422" "$(body)"
    check_eq "${p}GET /items/abc: Content-Type" application/json "$HTTP_CTYPE"

    # Percent-encoded path: %37 is '7'. The route sees the decoded path.
    fetch "$base/items/%37"
    check_eq "${p}GET /items/%37: status" 200 "$HTTP_STATUS"
    check_eq "${p}GET /items/%37: body (item 7)" '{"item_id":7,"data":"some data"}' "$(body)"
    fetch "$base/hel%6Co"
    check_eq "${p}GET /hel%6Co: routed to /hello" '200 {"message":"hello"}' "$HTTP_STATUS $(body)"
}



# The query string reaches the app undamaged: '+' and %20 both decode to a
# space (the 422 body echoes the decoded input), %31%30 is "10", and a
# query on a path route does not disturb routing.
check_query() {
    local base=$1 p=$2
    fetch "$base/sleep?ms=a+b%20c"
    check_eq "${p}GET /sleep?ms=a+b%20c: status" 422 "$HTTP_STATUS"
    check_eq "${p}GET /sleep?ms=a+b%20c: input decoded" \
        '{"detail":[{"type":"int_parsing","loc":["query","ms"],"msg":"Input should be a valid integer, unable to parse string as an integer","input":"a b c"}]}' \
        "$(body)"
    fetch "$base/sleep?x=a+b&ms=%31%30"
    check_eq "${p}GET /sleep?x=a+b&ms=%31%30" '200 {"slept_ms":10}' "$HTTP_STATUS $(body)"
    fetch "$base/items/8?q=a+b%20c"
    check_eq "${p}GET /items/8?q=a+b%20c" '200 {"item_id":8,"data":"some data"}' "$HTTP_STATUS $(body)"
}

run_suite() {
    local base=$1 p=$2
    check_hello "$base" "$p"
    check_echo "$base" "$p"
    check_big "$base" "$p"
    check_items "$base" "$p"
    check_not_found "$base" "$p"
    check_method_not_allowed "$base" "$p"
    check_query "$base" "$p"
    require_alive "$EVFCGID_PID" "${p}after the route suite"
}

# Every URI answered byte for byte alike (status, Content-Type, Allow, body)
# by the two web servers in front of the same daemon: encoded characters
# (%3F is a '?' inside the path, %25 a '%'), UTF-8, and dot segments and
# double slashes, which neither server normalizes in REQUEST_URI (curl
# --path-as-is sends them as they are).
PARITY_URIS=(
    /hello /hel%6Co /items/7 /items/%37 /items/%37%37 /items/abc /items/-3
    /items/7?q=a+b%20c /no/such/path /items /items/ /sleep?ms=a+b%20c
    '/sleep?x=a+b&ms=%31%30' '/sleep?ms=1%2B1' /big?bytes=26 /gather
    '/events?n=2&interval_ms=0' /items/7%3Fx /items/%E2%82%AC /items/7%25
    /a/../hello /./hello //hello /hello/
)
answer() {
    local out
    out=$(curl_ --path-as-is -o "$tmp/parity.body" -D "$tmp/parity.headers" -w '%{http_code} %{content_type}' "$@") ||
        out="curl exit status $?"
    printf '%s allow=%s %s' "$out" \
        "$(grep -i '^allow:' "$tmp/parity.headers" | sed -e 's/^[^:]*:[[:space:]]*//' -e 's/\r$//')" \
        "$(cat "$tmp/parity.body")"
}
check_parity() {
    local apache=$1 nginx=$2 u
    for u in "${PARITY_URIS[@]}"; do
        check_eq "same answer behind Apache and nginx: GET $u" "$(answer "$nginx$u")" "$(answer "$apache$u")"
    done
    check_eq "same answer behind Apache and nginx: POST /hello" \
        "$(answer -X POST --data-binary x "$nginx/hello")" "$(answer -X POST --data-binary x "$apache/hello")"
}

# stop_apache PID: SIGTERM to the parent must take its children along.
stop_apache() {
    local pid=$1 what=$2 kids k left=
    # shellcheck disable=SC2046 # a list of PIDs
    kids=$(proc_ids $(descendants "$pid"))
    check_true "$what: Apache runs children (pid $pid has: ${kids//$'\n'/ })" test -n "$kids"
    stop_pid "$pid" TERM
    check_eq "$what: Apache exit status after SIGTERM" 0 "$STOP_STATUS"
    # stop_pid waited for them (and killed any that stayed).
    check_eq "$what: no Apache child outlived the parent" "" "${_pid_orphans[$pid]:-}"
    for k in $kids; do id_alive "$k" && left+=" ${k%@*}"; done
    check_eq "$what: Apache children gone" "" "$left"
}

# Apache logs proxy trouble (backend refused, reset, malformed headers) as
# [proxy:error] / [proxy_fcgi:error]; none is expected. Except, given DEAD
# (HOST:PORT of a backend stopped on purpose, the balancer phase): its
# refused connections, which Apache logs per failed attempt as
#   [proxy:error] ... AH00957: FCGI: attempt to connect to DEAD (DEAD) failed
#   [proxy:error] ... AH00959: ap_proxy_connect_backend disabling worker for (DEAD) for 5s
#   [proxy_fcgi:error] ... AH01079: failed to make connection to backend: HOST
# AH01079 names no port: it is let through only right after one of the
# others from the same thread.
# check_apache_log FILE WHAT [DEAD]
check_apache_log() {
    local f=$1 what=$2 dead=${3:-} bad
    bad=$(awk -v dead="$dead" -v tolerated="$tmp/tolerated" '
        !/\[[a-z_0-9]*:(error|crit|alert|emerg)\]/ { next }
        {
            who = ""
            if (match($0, /\[pid [0-9]+:tid [0-9]+\]/)) who = substr($0, RSTART, RLENGTH)
            if (dead != "" && /AH0095[79]: / && index($0, "(" dead ")")) { after[who] = 1; n++; next }
            if (dead != "" && after[who] && /AH01079: failed to make connection to backend: /) { after[who] = 0; n++; next }
            after[who] = 0
            print
        }
        END { print n + 0 >tolerated }' "$f")
    [[ -z $dead ]] || log "$what: $(<"$tmp/tolerated") error line(s) about the stopped backend $dead tolerated"
    check_eq "$what: no errors in Apache's error log" "" "$bad"
}



# seq_get N URL: N requests in a row (one curl, keep-alive); prints
# "COUNT STATUS" per status seen.
seq_get() {
    local n=$1 url=$2 cfg=$tmp/seq.curl i
    : >"$cfg"
    for ((i = 0; i < n; i++)); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$cfg"; done
    curl_ -K "$cfg" -w '%{http_code}\n' | sort | uniq -c | sed 's/^ *//' | tr '\n' ' ' | sed 's/ $//' || true
}

# lines_at_least N FILE: FILE (an access log) has N lines or more, within 2 s
# (evfcgid writes its entry once the response is sent).
lines_at_least() {
    local i
    for ((i = 0; i < 40; i++)); do
        [[ -f $2 ]] && (($(wc -l <"$2") >= $1)) && return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------------------
# 1. TCP: ProxyPass "/" "fcgi://127.0.0.1:PORT/" enablereuse=on

apache_template "$NO_SITE"
start_evfcgid_tcp -a "$DEMO_APP"
tcp_daemon=$EVFCGID_PID
start_apache "$APACHE_CONF_TEMPLATE" "fcgi://127.0.0.1:$EVFCGID_PORT/"
tcp_apache=$APACHE_PID
tcp_apache_log=$APACHE_ERROR_LOG
log "phase 1: Apache :$APACHE_PORT -> evfcgid 127.0.0.1:$EVFCGID_PORT"
run_suite "http://127.0.0.1:$APACHE_PORT" "tcp: "

# The same daemon behind nginx as well: the answers must not differ.
if command -v "$NGINX" >/dev/null 2>&1; then
    start_nginx "$NGINX_CONF_TEMPLATE" "127.0.0.1:$EVFCGID_PORT"
    log "nginx :$NGINX_PORT -> the same evfcgid, for comparison"
    check_parity "http://127.0.0.1:$APACHE_PORT" "http://127.0.0.1:$NGINX_PORT"
    stop_pid "$NGINX_PID"
else
    log "nginx not found: Apache/nginx comparison skipped"
fi

stop_apache "$tcp_apache" tcp
check_apache_log "$tcp_apache_log" tcp

# ---------------------------------------------------------------------------
# 2. Unix socket: ProxyPass "/" "unix:/path|fcgi://localhost/" enablereuse=on
# Apache's children run as another user when we are root: the socket lives
# in a directory they can reach and is created with mode 0666.

sock=$(apache_sock_path evf.sock)
start_evfcgid -l "unix:$sock" -m 0666 -a "$DEMO_APP"
start_apache "$APACHE_CONF_TEMPLATE" "unix:$sock|fcgi://localhost/"
log "phase 2: Apache :$APACHE_PORT -> evfcgid unix:$sock"
run_suite "http://127.0.0.1:$APACHE_PORT" "unix: "
stop_apache "$APACHE_PID" unix
check_apache_log "$APACHE_ERROR_LOG" unix

stop_pid "$EVFCGID_PID" TERM
check_eq "unix: evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
stop_pid "$tcp_daemon" TERM
check_eq "tcp: evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"

# ---------------------------------------------------------------------------
# 3. The shipped example site, conf/apache-evfcgi.conf, as it is (see
# render_site): its unix socket ProxyPass "/", its /events worker with
# flushpackets=on, its "Require local" /status and /ping (evfcgid's
# status_path and ping_path, as the shipped evfcgid.conf sets them).

site_sock=$(apache_sock_path site.sock)
start_evfcgid -l "unix:$site_sock" -m 0666 --status-path /status --ping-path /ping -a "$DEMO_APP"
site_daemon=$EVFCGID_PID
render_site "$tmp/site.unix.conf" unix "$site_sock"
apache_template "$tmp/site.unix.conf"
# The backend argument goes unused: the site has its own ProxyPass lines.
start_apache "$APACHE_CONF_TEMPLATE" -
log "phase 3: Apache :$APACHE_PORT with conf/apache-evfcgi.conf -> evfcgid unix:$site_sock"
base=http://127.0.0.1:$APACHE_PORT
run_suite "$base" "site: "
fetch "$base/ping"
check_eq "site: GET /ping (Require local: we are local)" '200 pong' "$HTTP_STATUS $(body)"
fetch "$base/status"
check_eq "site: GET /status: status, type" "200 application/json" "$HTTP_STATUS $HTTP_CTYPE"
check_match "site: GET /status: the status page" '"total processes"' "$(body)"
check_events "$base" "site: "
require_alive "$site_daemon" "site: after the example site's checks"
stop_apache "$APACHE_PID" site
check_apache_log "$APACHE_ERROR_LOG" site

# ---------------------------------------------------------------------------
# 4. The example's TCP balancer, set up as its comment says, over two
# instances (A, B): both serve; A stops; B serves everything. /events stays
# on the unix socket (phase 3's daemon).

start_evfcgid_tcp --access-log "$tmp/access.A.log" -a "$DEMO_APP"
bal_a=$EVFCGID_PID
port_a=$EVFCGID_PORT
start_evfcgid_tcp --access-log "$tmp/access.B.log" -a "$DEMO_APP"
bal_b=$EVFCGID_PID
port_b=$EVFCGID_PORT
render_site "$tmp/site.balancer.conf" balancer "$site_sock" "$port_a" "$port_b"
apache_template "$tmp/site.balancer.conf"
start_apache "$APACHE_CONF_TEMPLATE" -
log "phase 4: Apache :$APACHE_PORT with conf/apache-evfcgi.conf's balancer -> evfcgid 127.0.0.1:$port_a and :$port_b"
base=http://127.0.0.1:$APACHE_PORT
check_eq "balancer: 20 GET /hello over the two instances: all 200" "20 200" "$(seq_get 20 "$base/hello")"
check_true "balancer: instance A served some" lines_at_least 1 "$tmp/access.A.log"
check_true "balancer: instance B served some" lines_at_least 1 "$tmp/access.B.log"
fetch "$base/items/abc"
check_eq "balancer: GET /items/abc" "422 $ITEMS_422" "$HTTP_STATUS $(body)"
fetch "$base/events?n=3&interval_ms=0"
check_eq "balancer: GET /events (on the unix socket): three events" "200 3" \
    "$HTTP_STATUS $(grep -c '^data: {"n":[0-9]}' "$tmp/body")"
stop_pid "$bal_a" TERM
check_eq "balancer: instance A's exit status after SIGTERM" 0 "$STOP_STATUS"
b_before=$(wc -l <"$tmp/access.B.log")
check_eq "balancer: A stopped: 100 GET /hello all 200" "100 200" "$(seq_get 100 "$base/hello")"
check_true "balancer: B served them all" lines_at_least $((b_before + 100)) "$tmp/access.B.log"
stop_apache "$APACHE_PID" balancer
# Apache's errors about its refused connections to A are expected here.
check_apache_log "$APACHE_ERROR_LOG" balancer "127.0.0.1:$port_a"

stop_pid "$bal_b" TERM
check_eq "balancer: instance B's exit status after SIGTERM" 0 "$STOP_STATUS"
stop_pid "$site_daemon" TERM
check_eq "site: evfcgid exit status after SIGTERM" 0 "$STOP_STATUS"
