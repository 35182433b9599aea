#!/usr/bin/env bash
#
# apps/tfb (the TechEmpower test types) through nginx, against TechEmpower's
# hello_world schema in a throwaway PostgreSQL cluster, checked against the
# published requirements: bodies and content types, queries/count clamped
# to 1..500 (non-numbers: 1), rows that match the table, fortunes sorted
# with the added one and HTML-escaped, updates written.
#
#   make check TESTS=tests/integration/test_tfb.sh

set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
# shellcheck source=pg_lib.sh
. "$(dirname "$0")/pg_lib.sh"

need "$NGINX"
need curl
need_daemon
need_pg
[[ -r ${TFB_APP:-} ]] || TFB_APP=$top_builddir/apps/.libs/tfb.so
[[ -r $TFB_APP ]] || { log "ERROR: TFB_APP=$TFB_APP missing"; exit 99; }

start_pg_cluster
pg_load_hello_world
start_evfcgid_tcp -a "$TFB_APP" -w 1 -o "tfb:database_url=$TFB_URL" -o tfb:pool_max=4
start_nginx "" "127.0.0.1:$EVFCGID_PORT"
base=http://127.0.0.1:$NGINX_PORT
hw() { "$PG_BINDIR/psql" -X -q -A -t -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -d hello_world -c "$1"; }

fetch "$base/json"
check_eq "/json: body" '200 {"message":"Hello, World!"}' "$HTTP_STATUS $(body)"
check_eq "/json: Content-Type" application/json "$HTTP_CTYPE"
check_true "/json: Server and Date headers" eval '[[ -n $(header_value Server) && -n $(header_value Date) ]]'

fetch "$base/plaintext"
check_eq "/plaintext: body" '200 Hello, World!' "$HTTP_STATUS $(body)"
check_match "/plaintext: Content-Type" '^text/plain' "$HTTP_CTYPE"

# rows FILE: the {"id":..,"randomNumber":..} objects of a body, "id number"
# per line.
rows() { grep -o '{"id":[0-9]*,"randomNumber":[0-9]*}' "$1" | tr -dc '0-9,\n' | tr , ' '; }
# mismatches: rows (stdin) whose number is not the table's, or whose id
# is out of 1..10000.
mismatches() {
    local values
    values=$(awk 'NR > 1 { printf "," } { printf "(%d,%d)", $1, $2 }')
    [[ -n $values ]] || { echo empty; return; }
    hw "SELECT count(*) FROM (VALUES $values) AS v(id, n) LEFT JOIN world w USING (id) WHERE w.randomnumber IS DISTINCT FROM v.n OR v.id NOT BETWEEN 1 AND 10000"
}

fetch "$base/db"
check_match "/db: one object" '^200 \{"id":[0-9]+,"randomNumber":[0-9]+\}$' "$HTTP_STATUS $(body)"
check_eq "/db: Content-Type" application/json "$HTTP_CTYPE"
check_eq "/db: the row is the table's" 0 "$(rows "$tmp/body" | mismatches)"
ids=$(for i in 1 2 3 4 5 6 7 8; do curl_ -s "$base/db"; echo; done | grep -o '"id":[0-9]*' | sort -u | wc -l)
check_true "/db: random ids ($ids distinct of 8)" eval '((ids > 1))'

for q in "queries=20:20" "queries=1:1" "queries=500:500" "queries=0:1" "queries=-3:1" \
    "queries=foo:1" "queries=:1" "queries=501:500" "queries=100000:500" ":1"; do
    arg=${q%:*} want=${q##*:}
    fetch "$base/queries?$arg"
    check_eq "/queries?$arg: $want rows" "200 $want" "$HTTP_STATUS $(rows "$tmp/body" | wc -l)"
    check_match "/queries?$arg: a JSON array" '^\[.*\]$' "$(body)"
done
fetch "$base/queries?queries=500"
check_eq "/queries?queries=500: every row is the table's" 0 "$(rows "$tmp/body" | mismatches)"

fetch "$base/fortunes"
check_eq "/fortunes: Content-Type" "text/html; charset=utf-8" "$HTTP_CTYPE"
expected='<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr><tr><td>11</td><td>&lt;script&gt;alert(&quot;This should not be displayed in a browser alert box.&quot;);&lt;/script&gt;</td></tr><tr><td>4</td><td>A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1</td></tr><tr><td>5</td><td>A computer program does what you tell it to do, not what you want it to do.</td></tr><tr><td>2</td><td>A computer scientist is someone who fixes things that aren&#39;t broken.</td></tr><tr><td>8</td><td>A list is only as strong as its weakest link. — Donald Knuth</td></tr><tr><td>0</td><td>Additional fortune added at request time.</td></tr><tr><td>3</td><td>After enough decimal places, nobody gives a damn.</td></tr><tr><td>7</td><td>Any program that runs right is obsolete.</td></tr><tr><td>10</td><td>Computers make very fast, very accurate mistakes.</td></tr><tr><td>6</td><td>Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen</td></tr><tr><td>9</td><td>Feature: A bug with seniority.</td></tr><tr><td>1</td><td>fortune: No such file or directory</td></tr><tr><td>12</td><td>フレームワークのベンチマーク</td></tr></table></body></html>'
check_eq "/fortunes: sorted, with the added one, escaped, UTF-8" "200 $expected" "$HTTP_STATUS $(body)"

for q in "count=20:20" "count=0:1" "count=foo:1" "count=501:500" ":1"; do
    arg=${q%:*} want=${q##*:}
    fetch "$base/cached-queries?$arg"
    check_eq "/cached-queries?$arg: $want rows" "200 $want" "$HTTP_STATUS $(rows "$tmp/body" | wc -l)"
done
fetch "$base/cached-queries?count=500"
check_eq "/cached-queries: rows are the table's" 0 "$(rows "$tmp/body" | mismatches)"

for q in "queries=20:20" "queries=foo:1" "queries=501:500" ":1"; do
    arg=${q%:*} want=${q##*:}
    fetch "$base/updates?$arg"
    check_eq "/updates?$arg: $want rows" "200 $want" "$HTTP_STATUS $(rows "$tmp/body" | wc -l)"
done
fetch "$base/updates?queries=20"
rows "$tmp/body" | sort -n >"$tmp/updated"
# With a repeated id, the answer shows the last write for each.
check_eq "/updates: the new numbers are in the table" 0 "$(mismatches <"$tmp/updated")"
before=$(hw "SELECT sum(randomnumber) FROM world")
fetch "$base/updates?queries=500"
after=$(hw "SELECT sum(randomnumber) FROM world")
check_true "/updates: rows really change ($before -> $after)" eval '[[ $before != "$after" ]]'

# Concurrent updates touching the same rows never deadlock (ids are
# written in order): every answer is 200.
for ((i = 0; i < 60; i++)); do
    printf 'url = "%s"\noutput = "/dev/null"\n' "$base/updates?queries=50"
done >"$tmp/updates.cfg"
codes=$(curl_ -s --parallel --parallel-max 12 -w '%{http_code}\n' -K "$tmp/updates.cfg" | sort | uniq -c | awk '{printf "%s:%s ", $2, $1}')
check_eq "/updates: 60 concurrent requests all succeed" "200:60 " "$codes"
check_true "no query failed in the log" eval '! grep -q "query failed" "$EVFCGID_LOG"'

require_alive "$EVFCGID_PID" "the TechEmpower types"
