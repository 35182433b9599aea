#!/bin/sh
#
# spawn-fcgi.sh - start evfcgid under spawn-fcgi.
#
# spawn-fcgi creates the listening socket, puts it on fd 0 and (with -n)
# execs evfcgid in its own process, which accepts on that socket: the
# process started here *is* the evfcgid master, in the foreground.  Signal
# it as the daemon itself: TERM stops, QUIT stops gracefully, HUP reloads,
# USR1 reopens the logs.  Equivalent to
#
#     spawn-fcgi -a 127.0.0.1 -p 9000 -n -- evfcgid -c /etc/evfcgi/evfcgid-spawn.conf
#
# Settings, from the environment:
#   EVFCGI_ADDR    address to listen on (default 127.0.0.1)
#   EVFCGI_PORT    TCP port (default 9000)
#   EVFCGI_SOCKET  a unix socket path to listen on instead of ADDR:PORT
#   EVFCGI_SOCKET_MODE  its mode (default 0660)
#   EVFCGID_CONF   evfcgid's configuration (default
#                  /etc/evfcgi/evfcgid-spawn.conf); it must not contain
#                  `listen` lines: evfcgid would listen there instead of on
#                  the socket spawn-fcgi passes.  Make one from the shipped
#                  file with: sed 's/^listen *=/; &/' evfcgid.conf
#   EVFCGI_BACKLOG listen backlog of the socket (default 1024; evfcgid's
#                  own `backlog` does not apply to a socket it inherits)
#   EVFCGID        the evfcgid program (default: evfcgid on the PATH;
#                  spawn-fcgi itself does not search the PATH)
#   SPAWN_FCGI     the spawn-fcgi program (default: spawn-fcgi on the PATH)
# Arguments are passed on to evfcgid, e.g. `spawn-fcgi.sh -w 4`.
# For spawn-fcgi's user switch (-u/-g), prefer evfcgid's `user` directive:
# it binds first, then drops privileges.

set -eu

EVFCGI_ADDR=${EVFCGI_ADDR:-127.0.0.1}
EVFCGI_PORT=${EVFCGI_PORT:-9000}
EVFCGI_SOCKET=${EVFCGI_SOCKET:-}
EVFCGI_SOCKET_MODE=${EVFCGI_SOCKET_MODE:-0660}
EVFCGID_CONF=${EVFCGID_CONF:-/etc/evfcgi/evfcgid-spawn.conf}
EVFCGI_BACKLOG=${EVFCGI_BACKLOG:-1024}
EVFCGID=${EVFCGID:-$(command -v evfcgid || echo /usr/local/sbin/evfcgid)}
SPAWN_FCGI=${SPAWN_FCGI:-spawn-fcgi}

if [ ! -x "$EVFCGID" ]; then
    echo "spawn-fcgi.sh: $EVFCGID is not an executable (set EVFCGID)" >&2
    exit 2
fi
if [ ! -r "$EVFCGID_CONF" ]; then
    echo "spawn-fcgi.sh: cannot read $EVFCGID_CONF (set EVFCGID_CONF)" >&2
    exit 2
fi
if grep -Eq '^[[:space:]]*listen[[:space:]]*=' "$EVFCGID_CONF"; then
    echo "spawn-fcgi.sh: $EVFCGID_CONF has listen lines; under spawn-fcgi" \
         "evfcgid must accept on the socket it is given: comment them out" >&2
    exit 2
fi

if [ -n "$EVFCGI_SOCKET" ]; then
    set -- -s "$EVFCGI_SOCKET" -M "$EVFCGI_SOCKET_MODE" -b "$EVFCGI_BACKLOG" -n -- \
        "$EVFCGID" -c "$EVFCGID_CONF" "$@"
else
    set -- -a "$EVFCGI_ADDR" -p "$EVFCGI_PORT" -b "$EVFCGI_BACKLOG" -n -- \
        "$EVFCGID" -c "$EVFCGID_CONF" "$@"
fi
exec "$SPAWN_FCGI" "$@"
