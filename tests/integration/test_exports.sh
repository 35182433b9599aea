#!/usr/bin/env bash
#
# The public API: libevfcgi.so's dynamic symbol table defines exactly the
# functions and variables include/evfcgi.h declares (the internals of src/
# stay inside), the list the build derives from the header agrees with a
# plain reading of it, and the daemon, the demo app and the test programs
# need nothing else from the library.  The header's HTTP status constants
# compile, have their RFC values, and are the ones evfcgi(3) lists.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need nm
need awk
header=$top_srcdir/include/evfcgi.h
headers=("$header" "$top_srcdir/include/evfcgi_pg.h"
    "$top_srcdir/include/evfcgi_test.h")
lib=$top_builddir/src/.libs/libevfcgi.so
symfile=$top_builddir/src/evfcgi.sym
[[ -r $header ]] || { log "ERROR: no $header"; exit 99; }
[[ -e $lib ]] || { log "ERROR: no $lib (build first)"; exit 99; }
[[ -r $symfile ]] || { log "ERROR: no $symfile (build first)"; exit 99; }

# The header's list, read plainly: the house style starts a declaration at
# column 0 with its type, so "type name(" there is a function and
# "extern type name;" a variable.
declared=$(
    {
        grep -hoE '^[A-Za-z_][A-Za-z0-9_ *]*[^A-Za-z0-9_(*]\**[A-Za-z_][A-Za-z0-9_]*\(' "${headers[@]}" |
            { grep -vE '^(typedef|static|return)[[:space:]]' || true; } |
            sed -E 's/.*[^A-Za-z0-9_]([A-Za-z_][A-Za-z0-9_]*)\($/\1/'
        { grep -hE '^extern[[:space:]][^(]*;' "${headers[@]}" || true; } |
            sed -E 's/[[:space:]]*(=.*|\[.*)?;.*$//; s/.*[^A-Za-z0-9_]//'
    } | LC_ALL=C sort -u
)
generated=$(LC_ALL=C sort -u "$symfile")
exported=$(nm -D --defined-only "$lib" |
    awk 'NF == 3 && $2 ~ /^[BDGRSTVWiu]$/ { print $3 }' | LC_ALL=C sort -u)

n=$(printf '%s\n' "$declared" | grep -c . || true)
log "the header declares $n names; the library exports $(printf '%s\n' "$exported" | grep -c . || true)"
has_all() {
    local name
    for name in "$@"; do
        grep -qx "$name" <<<"$declared" || return 1
    done
}
check_true "the header's list has the public API (evf_main, evf_json, evf_raise)" \
    has_all evf_main evf_json evf_raise
check_eq "the build's symbol list ($symfile) is the header's" "$declared" "$generated"
extra=$(LC_ALL=C comm -13 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported") | tr '\n' ' ')
missing=$(LC_ALL=C comm -23 <(printf '%s\n' "$declared") <(printf '%s\n' "$exported") | tr '\n' ' ')
check_eq "libevfcgi.so exports nothing the header does not declare" "" "$extra"
check_eq "libevfcgi.so exports everything the header declares" "" "$missing"
check_eq "no internal (evf__) symbol is exported" "" \
    "$(printf '%s\n' "$exported" | grep '^evf__' | tr '\n' ' ' || true)"

# Who links the library uses the public API only (a program needing an
# internal would not even load).
users=("$top_builddir/src/.libs/evfcgid" "$top_builddir/apps/.libs/demo.so")
for f in "$top_builddir"/tests/apps/.libs/*.so "$top_builddir/tests/apps/.libs/embedded"; do
    [[ -e $f ]] && users+=("$f")
done
for f in "${users[@]}"; do
    if [[ ! -e $f ]]; then
        not_ok "$(basename "$f") exists" "no $f"
        continue
    fi
    needs=$(nm -D --undefined-only "$f" | awk '$NF ~ /^evf_/ { print $NF }' | LC_ALL=C sort -u)
    unmet=$(LC_ALL=C comm -23 <(printf '%s\n' "$needs") <(printf '%s\n' "$exported") |
        grep . | tr '\n' ' ' || true)
    check_eq "$(basename "$f") needs only exported symbols" "" "$unmet"
done

# ---- HTTP status constants ----------------------------------------------
: "${CC:=cc}"
need "$CC"
cat >"$tmp/status.c" <<'EOF'
#include <evfcgi.h>

_Static_assert(EVF_HTTP_CONTINUE == 100, "100");
_Static_assert(EVF_HTTP_OK == 200, "200");
_Static_assert(EVF_HTTP_CREATED == 201, "201");
_Static_assert(EVF_HTTP_NO_CONTENT == 204, "204");
_Static_assert(EVF_HTTP_TEMPORARY_REDIRECT == 307, "307");
_Static_assert(EVF_HTTP_UNAUTHORIZED == 401, "401");
_Static_assert(EVF_HTTP_NOT_FOUND == 404, "404");
_Static_assert(EVF_HTTP_UNPROCESSABLE_ENTITY == 422, "422");
_Static_assert(EVF_HTTP_UNPROCESSABLE_CONTENT == 422, "422");
_Static_assert(EVF_HTTP_TOO_MANY_REQUESTS == 429, "429");
_Static_assert(EVF_HTTP_INTERNAL_SERVER_ERROR == 500, "500");
_Static_assert(EVF_HTTP_GATEWAY_TIMEOUT == 504, "504");
_Static_assert(EVF_HTTP_NETWORK_AUTHENTICATION_REQUIRED == 511, "511");

int status_of(evf_req *r);

int
status_of(evf_req *r)
{
    evf_http_status s = EVF_HTTP_NOT_FOUND;
    return evf_raise(r, s, "Item not found");
}
EOF
if "$CC" -std=c11 -Wall -Wextra -Werror -fsyntax-only -I"$top_srcdir/include" \
        "$tmp/status.c" >"$tmp/status.log" 2>&1; then
    pass "the status constants compile with their RFC values"
else
    dump_log "$tmp/status.log"
    not_ok "the status constants compile with their RFC values" "see the log above"
fi
# NAME = code in the header, "NAME code" in evfcgi(3) (and "NAME (code)"
# for the aliases).
in_header=$(sed -nE 's/^[[:space:]]*EVF_HTTP_([A-Z0-9_]+)[[:space:]]*=[[:space:]]*([0-9]{3}).*/\1 \2/p' \
    "$header" | LC_ALL=C sort)
man3=$top_srcdir/man/evfcgi.3
in_man=$(sed -n '/^\.Ss HTTP status codes/,/^\.S[hs] [^H]/p' "$man3" |
    grep -oE '\<[A-Z][A-Z0-9_]+,? \(?[1-5][0-9]{2}\)?' | tr -d ',()' | LC_ALL=C sort)
check_true "evfcgi(3) lists status constants" test -n "$in_man"
check_eq "evfcgi(3) lists the header's status constants" "$in_header" "$in_man"
