#!/usr/bin/env bash
#
# Documentation: the man pages pass mandoc's lint, and agree with the code.
#  - every directive of `evfcgid --directives` has its ".It Cm NAME" entry
#    in the DIRECTIVES section of evfcgid.conf(5), and that section
#    documents no other; a default the table gives as a value is the one
#    written on the entry's line ("Pq default Li VALUE");
#  - every option of `evfcgid -h` appears in evfcgid(8), and every long
#    option its OPTIONS section lists is accepted by evfcgid;
#  - every function declared in include/evfcgi.h and include/evfcgi_pg.h
#    appears in evfcgi(3).
# Reads the pages from $top_srcdir/man (read-only under distcheck).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need mandoc
need perl
need_daemon

man=$top_srcdir/man
pages=("$man/evfcgid.8" "$man/evfcgid.conf.5" "$man/evfcgi.3")
for p in "${pages[@]}"; do
    [[ -r $p ]] || fail "missing man page $p"
done

# render PAGE: the page as plain text (overstrikes removed), wide enough
# that no option or function name is split.
render() {
    mandoc -T ascii -O width=200 "$1" | perl -pe 's/.\x08//g'
}

# ---- (a) lint ---------------------------------------------------------------
for p in "${pages[@]}"; do
    rc=0
    out=$(mandoc -T lint -W warning "$p" 2>&1) || rc=$?
    check_eq "mandoc -Tlint -W warning $(basename "$p"): no message" "" "$out"
    check_eq "mandoc -Tlint -W warning $(basename "$p"): exit status" 0 "$rc"
    check_true "$(basename "$p") renders" test -n "$(render "$p")"
done

# ---- (b) directives ---------------------------------------------------------
"$EVFCGID" --directives >"$tmp/directives" ||
    fail "evfcgid --directives failed"
# The DIRECTIVES section of the page, source lines.
awk '/^\.Sh /{ f = ($0 == ".Sh DIRECTIVES") } f' "$man/evfcgid.conf.5" \
    >"$tmp/conf5.directives"
sed -n -E 's/^\.It Cm ([^ ]+).*/\1/p' "$tmp/conf5.directives" | sort >"$tmp/documented"
awk '{ print $1 }' "$tmp/directives" | sort >"$tmp/table"
check_true "evfcgid --directives lists directives" test -s "$tmp/table"
missing=$(comm -23 "$tmp/table" "$tmp/documented" | tr '\n' ' ')
stale=$(comm -13 "$tmp/table" "$tmp/documented" | tr '\n' ' ')
dups=$(uniq -d "$tmp/documented" | tr '\n' ' ')
check_eq "every directive is documented in evfcgid.conf.5" "" "$missing"
check_eq "evfcgid.conf.5 documents no unknown directive" "" "$stale"
check_eq "evfcgid.conf.5 documents each directive once" "" "$dups"

# Defaults: a value in the table (not a "(description)") must be the one
# on the entry's line; a description must not be contradicted by a value.
bad_defaults=
while read -r name def _; do
    line=$(grep -m 1 -E "^\.It Cm ${name//./\\.}( |$)" "$tmp/conf5.directives" || true)
    [[ -n $line ]] || continue      # reported above
    if [[ $def == \(* ]]; then
        [[ $line != *"Pq default"* ]] || bad_defaults+="$name (page: '$line', table: $def) "
    elif [[ " $line " != *" Pq default Li $def "* ]]; then
        bad_defaults+="$name (page: '$line', table: $def) "
    fi
done <"$tmp/directives"
check_eq "documented defaults match evfcgid --directives" "" "$bad_defaults"

# ---- (c) command line options -----------------------------------------------
"$EVFCGID" -h >"$tmp/help" || fail "evfcgid -h failed"
render "$man/evfcgid.8" >"$tmp/evfcgid.8.txt"
# An option is there when it stands as a word of its own.
has_word() {
    grep -qE -- "(^|[^A-Za-z0-9_-])$1([^A-Za-z0-9_-]|$)" "$2"
}
missing=
while read -r opt; do
    has_word "$opt" "$tmp/evfcgid.8.txt" || missing+="$opt "
done < <(grep -oE -- '--[a-z][a-z-]*' "$tmp/help" | sort -u)
check_eq "every long option of evfcgid -h is in evfcgid.8" "" "$missing"
missing=
for opt in $(grep -oE -- '(^|[[:space:]])-[A-Za-z],' "$tmp/help" | tr -d ' ,' | sort -u); do
    has_word "$opt" "$tmp/evfcgid.8.txt" || missing+="$opt "
done
check_eq "every short option of evfcgid -h is in evfcgid.8" "" "$missing"

# Every long option the OPTIONS section lists is one evfcgid knows (its
# value may be refused; -V then ends the run before anything starts).
awk '/^[A-Z]/{ f = ($0 == "OPTIONS") } f' "$tmp/evfcgid.8.txt" >"$tmp/options.txt"
# ("--name=value", a placeholder, is not an option.)
listed=$(grep -oE -- '--[a-z][a-z-]*([[:space:],]|$)' "$tmp/options.txt" |
    tr -d ' \t,' | sort -u)
check_true "evfcgid.8 has an OPTIONS section listing long options" test -n "$listed"
unknown=
for opt in $listed; do
    out=$("$EVFCGID" "$opt" "$tmp/no-such-file" -V 2>&1 || true)
    [[ $out != *"unrecognized option"* && $out != *"invalid option"* ]] ||
        unknown+="$opt "
done
check_eq "every long option in evfcgid.8 is accepted by evfcgid" "" "$unknown"

# ---- (d) API functions -----------------------------------------------------
headers=("$top_srcdir/include/evfcgi.h" "$top_srcdir/include/evfcgi_pg.h"
    "$top_srcdir/include/evfcgi_test.h")
for header in "${headers[@]}"; do
    [[ -r $header ]] || fail "missing $header"
done
# Declarations: identifiers followed by "(", comments removed.
funcs=$(perl -0777 -pe 's{/\*.*?\*/}{}gs' "${headers[@]}" |
    grep -oE '\bevf_[a-z_]+[[:space:]]*\(' | tr -d ' \t(' | sort -u)
check_true "include/evfcgi.h declares functions" test -n "$funcs"
render "$man/evfcgi.3" >"$tmp/evfcgi.3.txt"
missing=
for f in $funcs; do
    grep -qF -- "$f(" "$tmp/evfcgi.3.txt" || missing+="$f "
done
check_eq "every function of evfcgi.h and evfcgi_pg.h is in evfcgi.3" "" "$missing"
