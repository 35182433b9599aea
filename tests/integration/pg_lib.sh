# A throwaway PostgreSQL cluster for tests and benchmarks, sourced after
# lib.sh (which provides spawn_bg, free_port, stop_pid and the teardown).
#
# start_pg_cluster: initdb in $tmp/pg (as nobody when we are root: initdb
# refuses root), then postgres listening on a unix socket directory and a
# free loopback port, recorded with spawn_bg so the teardown stops it by
# PID and removes its directory with $tmp, even when the test fails.  The
# system's own cluster is never touched.  Sets PG_PID, PG_PORT, PG_SOCKDIR,
# PG_URL (a libpq URI for database postgres as user postgres) and PSQL.
#
# Knobs: PG_BINDIR (default: pg_config --bindir, else
# /usr/lib/postgresql/*/bin, the Debian layout).

pg_find_bindir() {
    local d
    if [[ -n ${PG_BINDIR:-} ]]; then return 0; fi
    for d in /usr/lib/postgresql/*/bin; do
        [[ -x $d/initdb ]] && PG_BINDIR=$d
    done
    if [[ -z ${PG_BINDIR:-} ]] && command -v initdb >/dev/null 2>&1; then
        PG_BINDIR=$(dirname "$(command -v initdb)")
    fi
    [[ -n ${PG_BINDIR:-} && -x $PG_BINDIR/initdb && -x $PG_BINDIR/postgres ]]
}

# need_pg: skip (77) when PostgreSQL's server programs are not installed.
need_pg() {
    if ! pg_find_bindir; then
        log "SKIP: PostgreSQL server programs not found (apt-get install postgresql)"
        exit 77
    fi
}

# _as_pg CMD...: run CMD as the cluster's owner.
_as_pg() {
    if [[ $(id -u) == 0 ]]; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
    else
        "$@"
    fi
}

# start_pg_cluster [postgres -c options...]: PG_PORT, when set, is the
# port to use (no retry on another one).
start_pg_cluster() {
    need_pg
    PG_DIR=$tmp/pg
    PG_SOCKDIR=$(sock_path pgsock)
    mkdir -p "$PG_DIR" "$PG_SOCKDIR"
    if [[ $(id -u) == 0 ]]; then
        # nobody must reach its directories through ours.
        chmod o+x "$tmp"
        [[ -n ${_short_sock_dir:-} ]] && chmod o+x "$_short_sock_dir"
        chown nobody:nogroup "$PG_DIR" "$PG_SOCKDIR"
    fi
    # (From a directory the owner can read: the build tree may not be.)
    (cd "$PG_DIR" && _as_pg "$PG_BINDIR/initdb" -D "$PG_DIR/data" -U postgres \
        -A trust -E UTF8 --locale=C.UTF-8 --no-sync) >"$tmp/initdb.log" 2>&1 ||
        { dump_log "$tmp/initdb.log"; fail "initdb failed"; }
    local attempt fixed=${PG_PORT:-}
    PG_OPTS=(-c listen_addresses=127.0.0.1 -c fsync=off
        -c synchronous_commit=off -c full_page_writes=off
        -c max_connections=200 "$@")
    for attempt in 1 2 3; do
        PG_PORT=${fixed:-$(free_port)}
        pg_spawn
        pg_wait_ready 30 && break
        stop_pid "$PG_PID"
        if [[ -n $fixed ]] || ((attempt == 3)); then
            dump_log "$PG_LOG"
            fail "postgres did not start"
        fi
    done
    PG_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"
    PSQL=("$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$PG_PORT" -U postgres -d postgres)
    log "postgres (pid $PG_PID) on $PG_SOCKDIR and 127.0.0.1:$PG_PORT"
}

# pg_wait_ready SECONDS: until the server accepts connections.
pg_wait_ready() {
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        is_alive "$PG_PID" || return 1
        "$PG_BINDIR/pg_isready" -q -U postgres -h "$PG_SOCKDIR" -p "$PG_PORT" && return 0
        sleep 0.1
    done
    return 1
}

# pg_stop: a fast shutdown (clients disconnected), waited for.
pg_stop() {
    stop_pid "$PG_PID" TERM
}

# pg_spawn: start postgres on the cluster (PG_PORT, PG_OPTS), under a
# small shell that turns SIGTERM (the teardown's) into SIGINT: a fast
# shutdown, since the smart one would wait for every client to leave.
_pg_n=0
pg_spawn() {
    local as=()
    [[ $(id -u) == 0 ]] && as=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
    _pg_n=$((_pg_n + 1))
    PG_LOG=$tmp/postgres.$_pg_n.log
    # shellcheck disable=SC2016 # expanded by the inner shell
    spawn_bg other "postgres#$_pg_n" "$PG_LOG" bash -c \
        'trap "kill -INT \$pg 2>/dev/null" TERM INT
         "$@" & pg=$!
         while :; do wait $pg; st=$?; kill -0 $pg 2>/dev/null || exit $st; done' \
        postgres \
        "${as[@]}" "$PG_BINDIR/postgres" -D "$PG_DIR/data" \
        -p "$PG_PORT" -k "$PG_SOCKDIR" "${PG_OPTS[@]}"
    PG_PID=$LAST_PID
}

# pg_start_again: start the stopped cluster again on the same port.
pg_start_again() {
    pg_spawn
    pg_wait_ready 30 || { dump_log "$PG_LOG"; fail "postgres did not come back"; }
}

# psql_ SQL: run SQL, print the tuples unaligned (one value per line).
psql_() { "${PSQL[@]}" -A -t -c "$1"; }

# pg_load_hello_world: TechEmpower's hello_world schema (World with 10,000
# rows, Fortune with its 12) in database hello_world.
pg_load_hello_world() {
    psql_ "CREATE DATABASE hello_world" >/dev/null
    "$PG_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCKDIR" -p "$PG_PORT" \
        -U postgres -d hello_world -f "$top_srcdir/tests/integration/tfb.sql" >/dev/null ||
        fail "could not load the hello_world schema"
    TFB_URL="postgresql://postgres@127.0.0.1:$PG_PORT/hello_world"
}
