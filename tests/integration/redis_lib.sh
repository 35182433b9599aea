# shellcheck shell=bash
#
# tests/integration/redis_lib.sh - a private redis-server for the tests
# and benchmarks that need one.  Source it after lib.sh.
#
# start_redis [PORT]: start redis-server on 127.0.0.1:PORT (default a free
# port) with its files in a directory under $tmp, nothing saved to disk,
# and wait until it listens.  Stopped by PID at teardown like everything
# lib.sh starts.  Sets REDIS_PID, REDIS_PORT, REDIS_URL.  Never a system
# instance: the package's service is not used.
: "${REDIS_SERVER:=redis-server}"
_redis_n=0

start_redis() {
    local port=${1:-} dir rc
    [[ -n $port ]] || port=$(free_port)
    _redis_n=$((_redis_n + 1))
    dir=$tmp/redis.$_redis_n
    mkdir -p "$dir"
    spawn_bg other "redis#$_redis_n" "$dir/redis.log" \
        "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save '' \
        --appendonly no --dir "$dir" --daemonize no --protected-mode no
    REDIS_PID=$LAST_PID
    REDIS_PORT=$port
    REDIS_URL=redis://127.0.0.1:$port
    rc=0
    wait_listening "$REDIS_PID" "127.0.0.1:$port" || rc=$?
    if ((rc != 0)); then
        dump_log "$dir/redis.log"
        fail "redis-server did not listen on 127.0.0.1:$port"
    fi
}

# redis_cli ARGS...: redis-cli against the running instance.
redis_cli() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# wait_for WHAT SECONDS COMMAND...: poll COMMAND every 50 ms until it
# succeeds; fails the test after SECONDS.
wait_for() {
    local what=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 20; i++)); do
        "$@" && return 0
        sleep 0.05
    done
    fail "timed out after ${secs}s waiting for: $what"
}
