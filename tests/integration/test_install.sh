#!/usr/bin/env bash
#
# Installation: `make install DESTDIR=...` (with the configured prefix, as
# packagers do) lays out the daemon, library, header, pkg-config file, demo
# app, configuration and man pages where they belong; the installed daemon,
# run on the installed library, accepts the installed configuration; an app
# built out of tree with `pkg-config evfcgi` loads and serves requests; and
# `make uninstall DESTDIR=...` leaves no file behind.  Real installations
# (no DESTDIR) are test_install_prefix.sh's.
#
# Everything is written under $tmp (the source tree is read-only under
# `make distcheck'): the installation is made from a copy of the package,
# configured as the build tree was (lib.sh's package_copy says why).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
: "${CC:=cc}"
need "${MAKE:-make}"
need "$CC"
need pkg-config
[[ -x ${FCGI_CLIENT:-} ]] || { log "ERROR: FCGI_CLIENT not set"; exit 99; }
[[ -r $top_builddir/config.status ]] || { log "ERROR: no config.status in top_builddir=$top_builddir"; exit 99; }

src=$tmp/evfcgi
package_copy "$src"
# The build tree's configure arguments (its prefix, directories, compiler
# and flags), less those naming its own source tree or cache.
eval "set -- $("$top_builddir/config.status" --config)"
args=()
for a; do
    case $a in
    --srcdir=* | --cache-file=* | -C | --config-cache) ;;
    *) args+=("$a") ;;
    esac
done
in_dir "$src" configure.log ./configure -q "${args[@]}" ||
    fail "configure ${args[*]} failed in the copy"
in_dir "$src" build.log clean_make -j2 || fail "make failed in the copy"
mk() { clean_make -C "$src" "$@"; }

# The installation directories, as the copy's Makefile computes them.
# shellcheck disable=SC2016 # make expands $(...), not the shell
printf '%s\n' 'evf-test-print-dirs:' \
    '	@echo "$(prefix)|$(sbindir)|$(libdir)|$(includedir)|$(pkgconfigdir)|$(pkglibdir)|$(sysconfdir)|$(mandir)"' \
    'evf-test-print-docdir:' '	@echo "$(docdir)"' \
    >"$tmp/print-dirs.mk"
dirs=$(mk -s -f Makefile -f "$tmp/print-dirs.mk" evf-test-print-dirs) ||
    fail "cannot read the installation directories from $src/Makefile"
IFS='|' read -r prefix sbindir libdir includedir pkgconfigdir pkglibdir sysconfdir mandir <<<"$dirs"
for d in "$prefix" "$sbindir" "$libdir" "$includedir" "$pkgconfigdir" "$pkglibdir" "$sysconfdir" "$mandir"; do
    [[ $d == /* ]] || fail "installation directory '$d' is not absolute (from: $dirs)"
done
log "prefix $prefix, sysconfdir $sysconfdir, pkglibdir $pkglibdir"

dest=$tmp/dest
# ldconfig is for real installations only: a staged one (DESTDIR) must
# not touch the system's cache (LDCONFIG records any call).
printf '#!/bin/sh\necho "$*" >>"%s"\n' "$tmp/ldconfig.calls" >"$tmp/ldconfig"
chmod +x "$tmp/ldconfig"
if ! mk install DESTDIR="$dest" LDCONFIG="$tmp/ldconfig" >"$tmp/install.log" 2>&1; then
    dump_log "$tmp/install.log" 80
    fail "make install DESTDIR=$dest failed"
fi
pass "make install DESTDIR=... succeeds"
check_true "make install DESTDIR=... does not run ldconfig" test ! -e "$tmp/ldconfig.calls"

# ---- layout -----------------------------------------------------------------
check_true "sbin: evfcgid is installed and executable" test -x "$dest$sbindir/evfcgid"
check_true "lib: libevfcgi.so" test -e "$dest$libdir/libevfcgi.so"
check_true "lib: libevfcgi.so.0 (the soname)" test -e "$dest$libdir/libevfcgi.so.0"
check_true "include: evfcgi.h" test -f "$dest$includedir/evfcgi.h"
check_true "pkgconfig: evfcgi.pc" test -f "$dest$pkgconfigdir/evfcgi.pc"
check_true "pkglibdir: the demo app demo.so" test -f "$dest$pkglibdir/demo.so"
conf=$dest$sysconfdir/evfcgi/evfcgid.conf
check_true "sysconfdir: evfcgi/evfcgid.conf" test -f "$conf"
check_true "man8: evfcgid.8" test -f "$dest$mandir/man8/evfcgid.8"
check_true "man5: evfcgid.conf.5" test -f "$dest$mandir/man5/evfcgid.conf.5"
check_true "man3: evfcgi.3" test -f "$dest$mandir/man3/evfcgi.3"
check_true "the installed header is the source one" \
    cmp -s "$top_srcdir/include/evfcgi.h" "$dest$includedir/evfcgi.h"
# Nothing may land outside the prefix (sysconfdir is under it by default).
case $sysconfdir in
"$prefix"/*)
    outside=$(cd "$dest" && find . ! -type d | sed 's|^\.||' | while IFS= read -r f; do
        [[ $f == "$prefix"/* ]] || printf '%s ' "$f"
    done)
    check_eq "nothing is installed outside the prefix" "" "$outside"
    ;;
esac

# ---- the installed daemon ---------------------------------------------------
# It must run on the installed library, not on one of the build tree or of
# an earlier installation.  Staged under DESTDIR, it is not where its run
# path (or ldconfig) points, hence LD_LIBRARY_PATH here; a real
# installation runs without it (test_install_prefix.sh).
export LD_LIBRARY_PATH=$dest$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
installed=$dest$sbindir/evfcgid
out=$("$installed" -V 2>&1) || true
check_eq "installed evfcgid -V" "$("$EVFCGID" -V 2>&1)" "$out"

# The installed configuration, with its app paths moved under DESTDIR.
no_placeholder() { ! grep -qE '@[A-Za-z_]+@' "$1"; }
check_true "installed configuration has no @placeholder@ left" no_placeholder "$conf"
check_true "installed configuration loads the demo from pkglibdir" \
    grep -qE "^[[:space:]]*path[[:space:]]*[=:][[:space:]]*$pkglibdir/demo\.so[[:space:]]*$" "$conf"
# Its runtime directory (/run/evfcgi) is the service manager's to make
# (systemd's RuntimeDirectory=): here it moves under $tmp, as it is made.
mkdir -p "$tmp/run/evfcgi"
while IFS= read -r line; do
    line=${line//"$pkglibdir/"/"$dest$pkglibdir/"}
    printf '%s\n' "${line//"/run/evfcgi/"/"$tmp/run/evfcgi/"}"
done <"$conf" >"$tmp/evfcgid.conf"
rc=0
out=$("$installed" -t -c "$tmp/evfcgid.conf" 2>&1) || rc=$?
check_eq "installed evfcgid -t -c <installed conf>: exit status" 0 "$rc"
check_match "... says the configuration is valid" 'configuration and apps are valid' "$out"

# ---- an app built out of tree -----------------------------------------------
cat >"$tmp/app.c" <<'EOF'
/* An app built against the installed header and library only. */
#include <evfcgi.h>
#include <json-c/json.h>

static void
installed(evf_req *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "installed", json_object_new_boolean(1));
    json_object_object_add(o, "id",
                           json_object_new_int64(evf_path_int(r, "id")));
    evf_json(r, EVF_HTTP_OK, o);
}

static const evf_route routes[] = {
    EVF_GET("/installed/{id:int}", installed),
    EVF_END
};
EVF_APP("installed", routes);
EOF
# pkg-config finds evfcgi.pc under DESTDIR; --define-prefix relocates its
# paths there (prefix = the .pc file's directory, two levels up), which
# holds for prefix/lib/pkgconfig; otherwise fall back to a sysroot.
pc() { PKG_CONFIG_PATH="$dest$pkgconfigdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}" pkg-config "$@"; }
check_eq "pkg-config --modversion evfcgi" "$("$EVFCGID" -V | awk '{ print $2 }')" \
    "$(pc --modversion evfcgi 2>&1)"
flags=$(pc --define-prefix --cflags --libs evfcgi 2>/dev/null || true)
if [[ " $flags " != *" -I$dest$includedir "* || " $flags " != *" -L$dest$libdir "* ]]; then
    flags=$(PKG_CONFIG_SYSROOT_DIR=$dest pc --cflags --libs evfcgi) ||
        fail "pkg-config --cflags --libs evfcgi failed"
fi
log "pkg-config flags: $flags"
check_match "pkg-config points at the installed header" " -I$dest$includedir( |$)" " $flags"
check_match "pkg-config points at the installed library" " -L$dest$libdir( |$)" " $flags"
# shellcheck disable=SC2086 # $flags: several arguments
if "$CC" -shared -fPIC -o "$tmp/app.so" "$tmp/app.c" $flags >"$tmp/cc.log" 2>&1; then
    pass "an app builds out of tree with pkg-config evfcgi"
else
    dump_log "$tmp/cc.log"
    fail "cannot build an app with: $CC -shared -fPIC -o app.so app.c $flags"
fi
rc=0
out=$("$installed" -t -a "$tmp/app.so" 2>&1) || rc=$?
check_eq "installed evfcgid -t -a app.so: exit status" 0 "$rc"
check_match "... loads it" 'configuration and apps are valid' "$out"

# Serve the installed demo and the new app.
EVFCGID=$installed start_evfcgid_tcp -a "$dest$pkglibdir/demo.so" -a "$tmp/app.so"
if [[ -r /proc/$EVFCGID_PID/maps ]]; then
    check_true "the daemon runs on the installed libevfcgi" \
        grep -qF "$dest$libdir/libevfcgi.so" "/proc/$EVFCGID_PID/maps"
fi
addr=127.0.0.1:$EVFCGID_PORT
out=$("$FCGI_CLIENT" -t 10 request "$addr" GET /installed/42 2>&1) || true
check_match "the out-of-tree app serves a request: status" '^Status: 200 OK' "$out"
check_match "... and body" '\{"installed":true,"id":42\}$' "$out"
out=$("$FCGI_CLIENT" -t 10 request "$addr" GET /hello 2>&1) || true
check_match "the installed demo app serves /hello" '\{"message":"hello"\}$' "$out"
stop_pid "$EVFCGID_PID"
check_eq "installed evfcgid stops cleanly on SIGTERM" 0 "$STOP_STATUS"

# ---- TestClient: the installed example's tests, out of tree ---------------
docdir=$(mk -s -f Makefile -f "$tmp/print-dirs.mk" evf-test-print-docdir 2>/dev/null ||
    true)
ex=$dest${docdir:-$prefix/share/doc/evfcgi}/examples/testclient
check_true "the TestClient header is installed" test -f "$dest$includedir/evfcgi_test.h"
check_true "the TestClient example is installed" test -f "$ex/test_app.c"
mkdir -p "$tmp/testclient"
cp "$ex"/* "$tmp/testclient/"
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL "$MAKE" -C "$tmp/testclient" \
    CC="$CC" EVFCGI_FLAGS="$flags" test_app >"$tmp/tc-build.log" 2>&1; then
    pass "the TestClient example builds out of tree with pkg-config evfcgi"
else
    dump_log "$tmp/tc-build.log"
    fail "cannot build examples/testclient with: $flags"
fi
rc=0
out=$("$tmp/testclient/test_app" 2>&1) || rc=$?
log "$out"
check_eq "the example's in-process tests pass: exit status" 0 "$rc"
check_match "... and say so" '^PASS: 0 failed$' "$out"
links_installed() {
    # grep reads it all: with -q it could leave early, and the loader's
    # next write would die of SIGPIPE and fail the pipeline (pipefail).
    LD_TRACE_LOADED_OBJECTS=1 "$tmp/testclient/test_app" |
        grep -F "$dest$libdir/libevfcgi.so" >/dev/null
}
check_true "... on the installed libevfcgi" links_installed

# ---- uninstall --------------------------------------------------------------
if ! mk uninstall DESTDIR="$dest" >"$tmp/uninstall.log" 2>&1; then
    dump_log "$tmp/uninstall.log" 80
    fail "make uninstall DESTDIR=$dest failed"
fi
pass "make uninstall DESTDIR=... succeeds"
left=$(cd "$dest" && find . ! -type d | sort | tr '\n' ' ')
check_eq "make uninstall leaves no file behind" "" "$left"
