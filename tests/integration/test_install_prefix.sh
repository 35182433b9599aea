#!/usr/bin/env bash
#
# A real installation, as an administrator makes it (no DESTDIR): the
# installed evfcgid starts with no LD_LIBRARY_PATH and runs on the
# installed library, whatever the prefix.
#
#  - under a private prefix (--prefix=/opt/... style), where libtool gives
#    the daemon and the demo a run path to $(libdir);
#  - again under a second prefix, in the same build tree without
#    `make clean' (libtool refused: "cannot install 'apps/demo.la' to a
#    directory not ending in ..."), by a second configure and by
#    `make install prefix=...';
#  - under the default prefix /usr/local, whose lib directory the dynamic
#    linker finds through ldconfig's cache, which `make install' must
#    refresh.  This part changes the system, so it installs only the
#    library, the daemon and the demo (`make install-exec'), only as root,
#    only when nothing of evfcgi is installed there already, and undoes it
#    at the end (`make uninstall', which runs ldconfig again).
#    EVF_TEST_SYSTEM_INSTALL=no skips it.
#
# These installs relink the libraries, so they are made from a copy of the
# package (lib.sh's package_copy), never from the build tree the other
# tests are running.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

need_daemon
need "${MAKE:-make}"
[[ -x ${FCGI_CLIENT:-} ]] || { log "ERROR: FCGI_CLIENT not set"; exit 99; }
[[ -r $top_builddir/Makefile ]] || { log "ERROR: no Makefile in top_builddir=$top_builddir"; exit 99; }
unset LD_LIBRARY_PATH

src=$tmp/evfcgi
package_copy "$src"
in_copy() { in_dir "$src" "$@"; }

# serves PREFIX WHAT: the daemon installed under PREFIX, started with no
# LD_LIBRARY_PATH, serves the installed demo from the installed library.
serves() {
    local prefix=$1 what=$2 out
    if ! env -u LD_LIBRARY_PATH "$prefix/sbin/evfcgid" -V >"$tmp/version.log" 2>&1; then
        dump_log "$tmp/version.log"
        not_ok "$what: evfcgid -V runs without LD_LIBRARY_PATH" "see the log above"
        return
    fi
    pass "$what: evfcgid -V runs without LD_LIBRARY_PATH"
    EVFCGID=$prefix/sbin/evfcgid start_evfcgid_tcp -a "$prefix/lib/evfcgi/demo.so"
    check_true "$what: the daemon runs on the installed lib/libevfcgi.so" \
        grep -qF "$prefix/lib/libevfcgi.so" "/proc/$EVFCGID_PID/maps"
    out=$("$FCGI_CLIENT" -t 10 request "127.0.0.1:$EVFCGID_PORT" GET /hello 2>&1) || true
    check_match "$what: the installed demo serves /hello" '\{"message":"hello"\}$' "$out"
    stop_pid "$EVFCGID_PID"
}

# ---- a private prefix, then a second one -------------------------------------
a=$tmp/prefix-a
b=$tmp/prefix-b
c=$tmp/prefix-c
in_copy configure-a.log ./configure -q --prefix="$a" ||
    fail "configure --prefix=$a failed"
in_copy install-a.log clean_make -j2 install || fail "make install (prefix $a) failed"
pass "make install into a private prefix succeeds"
serves "$a" "prefix-a"

# A second configure with another prefix, no `make clean'.
in_copy configure-b.log ./configure -q --prefix="$b" ||
    fail "configure --prefix=$b failed"
if in_copy install-b.log clean_make -j2 install; then
    pass "reinstalling into a second prefix (configure --prefix) succeeds"
    serves "$b" "prefix-b"
else
    not_ok "reinstalling into a second prefix (configure --prefix) succeeds" "see the log above"
fi
if in_copy install-c.log clean_make -j2 install prefix="$c"; then
    pass "reinstalling with make install prefix=... succeeds"
    serves "$c" "prefix-c"
else
    not_ok "reinstalling with make install prefix=... succeeds" "see the log above"
fi
check_true "the first installation is still whole" test -x "$a/sbin/evfcgid"
serves "$a" "prefix-a, after the others"

# ---- the default prefix (/usr/local), refreshed by ldconfig ---------------------
sys=/usr/local
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)
lock=$sys/lib/.evfcgi-install-test.lock
sys_installed=
uninstall_left_cache=
undo_system_install() {
    [[ -n $sys_installed ]] || return 0
    sys_installed=
    (cd "$src" && clean_make uninstall prefix="$sys") >"$tmp/uninstall-sys.log" 2>&1 ||
        log "WARNING: make uninstall from $sys failed (see $tmp/uninstall-sys.log)"
    # make uninstall runs ldconfig; should it not, the cache must still not
    # keep the test's library.
    if [[ $("$ldconfig" -p) == *libevfcgi* ]]; then
        uninstall_left_cache=1
        "$ldconfig" || log "WARNING: ldconfig failed"
    fi
    # The directories the installation created, if empty.
    rmdir "$sys/lib/evfcgi" 2>/dev/null || true
    rmdir "$lock" 2>/dev/null || true
}
trap 'rc_=$?; undo_system_install; (exit $rc_); _teardown' EXIT

skip_sys=
if [[ ${EVF_TEST_SYSTEM_INSTALL:-yes} == no ]]; then
    skip_sys="EVF_TEST_SYSTEM_INSTALL=no"
elif [[ $(id -u) != 0 ]]; then
    skip_sys="not root"
elif [[ $'\n'$("$ldconfig" -v -N -X 2>/dev/null || true) != *$'\n'"$sys/lib:"* ]]; then
    skip_sys="$sys/lib is not a directory ldconfig scans"
elif compgen -G "$sys/lib/libevfcgi.so*" >/dev/null || [[ -e $sys/sbin/evfcgid ]]; then
    skip_sys="evfcgi is installed in $sys already"
elif ! mkdir "$lock" 2>/dev/null; then
    skip_sys="another test is installing into $sys ($lock)"
fi
if [[ -n $skip_sys ]]; then
    log "not installing into $sys: $skip_sys"
else
    sys_installed=1
    # Only what the daemon needs (library, daemon, demo): install-exec, which
    # runs the same hook as install.
    if in_copy install-sys.log clean_make -j2 install-exec prefix="$sys"; then
        pass "make install-exec into $sys succeeds"
        serves "$sys" "prefix $sys"
        check_match "... the library is in ldconfig's cache" 'libevfcgi\.so\.0 ' \
            "$("$ldconfig" -p)"
    else
        not_ok "make install-exec into $sys succeeds" "see the log above"
    fi
    undo_system_install
    check_eq "make uninstall refreshes ldconfig's cache" "" "$uninstall_left_cache"
    left=$(find "$sys" -name '*evfcgi*' 2>/dev/null | tr '\n' ' ')
    check_eq "nothing of evfcgi is left in $sys" "" "$left"
fi
