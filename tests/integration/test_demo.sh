#!/usr/bin/env bash
#
# `make demo` (tests/integration/demo.sh) as a newcomer meets it: every
# curl line its banner lists answers what the banner says (200 unless a
# status is noted), /external-data included; the access log the banner
# names shows the requests; Ctrl-C (SIGINT) stops nginx and evfcgid, and
# with KEEP_TMP=1 the logs stay.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
need curl
need "$NGINX"

port=$(free_port)
out=$tmp/demo.out
# A background job of a script starts with SIGINT ignored, which no trap
# can undo: give demo.sh the terminal's default, as Ctrl-C finds it.
sigint=(env)
if env --default-signal=INT true 2>/dev/null; then
    sigint=(env --default-signal=INT)
fi
spawn_bg demo demo.sh "$out" "${sigint[@]}" DEMO_PORT="$port" KEEP_TMP=1 \
    bash "$top_srcdir/tests/integration/demo.sh"
demo_pid=$LAST_PID
for ((i = 0; i < START_TIMEOUT * 10; i++)); do
    grep -q '^Press Ctrl-C' "$out" && break
    is_alive "$demo_pid" || break
    sleep 0.1
done
grep -q '^Press Ctrl-C' "$out" || { dump_log "$out"; fail "the demo did not start"; }

kept_dir=$(sed -n 's|^Logs: \(.*\)/evfcgid\.[0-9]*\.log (evfcgid)$|\1|p' "$out")
access_log=$(sed -n "s|^ *\\(/.*\\) (evfcgid's access log.*|\\1|p" "$out")
evfcgid_pid=$(sed -n 's/^evfcgid (pid \([0-9]*\)).*nginx (pid \([0-9]*\)).*/\1/p' "$out")
nginx_pid=$(sed -n 's/^evfcgid (pid \([0-9]*\)).*nginx (pid \([0-9]*\)).*/\2/p' "$out")
check_match "the banner names evfcgid's and nginx's PIDs" '^[0-9]+ [0-9]+$' "$evfcgid_pid $nginx_pid"
# Ids (lib.sh's proc_id), so the checks after Ctrl-C cannot mistake another
# process that got one of these PIDs since for ours.
evfcgid_id=$(proc_id "$evfcgid_pid") || true
nginx_id=$(proc_id "$nginx_pid") || true
check_true "... and both are running" test -n "$evfcgid_id" -a -n "$nginx_id"
check_true "the banner names the access log" test -n "$access_log"

# Every route of the demo app, and the status and ping pages.
for route in /hello /echo /big /items/42 /items/abc /sleep /gather /events \
    /blocking /to-thread /blocking-wrong /external-data /deps-demo \
    /deps-demo/stats /status /ping; do
    check_true "the banner has a curl line for $route" \
        grep -qE "^  curl .*127\.0\.0\.1:$port$route(\?|'| |$)" "$out"
done

n=0
while IFS= read -r line; do
    cmd=${line#  }
    cmd=${cmd%%  # *}
    cmd=${cmd%"${cmd##*[! ]}"}
    note=
    [[ $line == *"  # "* ]] && note=${line##*  # }
    want=200
    [[ $note =~ ^([1-5][0-9][0-9])\  ]] && want=${BASH_REMATCH[1]}
    # The line as printed, plus: no ~/.curlrc, no proxy, a time limit, the
    # body to a file and the status on stdout.
    got=$(eval "curl -q --noproxy '*' -sS --max-time 30 -o '$tmp/body' -w '%{http_code}' ${cmd#curl }" 2>&1) || true
    check_eq "$cmd: $want" "$want" "$got"
    case $cmd in
    *"/external-data"*)
        check_match "... /external-data shows what the upstream answered" \
            '^\{"source":"external","data":\{"item_id":1,' "$(cat "$tmp/body")" ;;
    esac
    n=$((n + 1))
done < <(grep '^  curl ' "$out")
check_true "the banner lists at least 16 curl lines (got $n)" test "$n" -ge 16

# The access log shows the requests (written when each one finished).
for ((i = 0; i < 50; i++)); do
    [[ $(grep -c '"GET /ping"' "$access_log" 2>/dev/null) -ge 1 ]] && break
    sleep 0.1
done
check_match "the access log has the request for /external-data" \
    '"GET /external-data" 200 ' "$(cat "$access_log" 2>/dev/null)"
check_match "... and the one its dependency made for /items/1" \
    '"GET /items/1" 200 ' "$(cat "$access_log" 2>/dev/null)"

# Ctrl-C.
stop_pid "$demo_pid" INT
check_eq "the demo stops on SIGINT with status 0" 0 "$STOP_STATUS"
check_true "... evfcgid is stopped" not id_alive "$evfcgid_id"
check_true "... nginx is stopped" not id_alive "$nginx_id"
check_true "with KEEP_TMP=1 the access log is kept" test -s "$access_log"
case $kept_dir in
"${TMPDIR:-/tmp}"/evfcgi-demo.*) rm -rf "$kept_dir" ;;
esac
