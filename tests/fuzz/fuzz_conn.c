/*
 * fuzz_conn: libFuzzer harness for the connection layer (src/conn.c).
 *
 * Each input is what a web server sends on one FastCGI connection, after
 * two bytes of settings.  A socketpair's one end is handed to
 * evf_conn_new() on a private libev loop, with the app of fuzz_app.c
 * registered, so requests really run: they answer, stream, await timers,
 * gather, hit a route deadline.  The harness plays the web server on the
 * other end: it writes the input in chunks, running the loop between them
 * and reading everything the server writes; then it runs the loop until
 * no route is running and nothing more arrives (the "quiet" point: a
 * request whose PARAMS or STDIN never ended stays open), closes its end,
 * and runs the loop until the connection is gone.  All of conn.c is in
 * play: the request table, rejected ids, the per-connection request cap,
 * GET_VALUES, unknown management records, ABORT_REQUEST, PARAMS and STDIN
 * streams, several requests multiplexed, backpressure, a peer that goes
 * away with requests in flight.
 *
 *   byte 0   flags: 1 at most 4 requests open on the connection (the rest
 *            rejected), 2 small limits (max_params 1024, max_body 64), 4 a
 *            tiny output high-water mark (stream writes wait for the
 *            peer), 8 the peer stops sending (shutdown) right after its
 *            last byte instead of at the quiet point
 *   byte 1   write chunk size - 1 (0: 4096)
 *   the rest the bytes from the web server
 *
 * Checked: the server's output is valid FastCGI of the types a server
 * writes; every response passes fuzz_check_response (head, Content-Length,
 * valid JSON bodies); no request id gets more END_REQUEST records than it
 * had BEGIN_REQUEST records; the loop never hangs (10 s bound); at the end
 * no connection, request, running route or coroutine is left, and
 * LeakSanitizer finds nothing.
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays corpus-conn/ without libFuzzer (make check).
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "fcgi_parser.h"
#include "fuzz_app.h"
#include "log.h"
#include "loop.h"
#include "settings.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    F_FEW_REQS = 1, F_SMALL = 2, F_TINY_WATER = 4, F_SHUTDOWN = 8
};

#define BOUND 10.0          /* seconds: past this the loop is stuck */

static struct ev_loop *loop;
static ev_timer cap;
static unsigned begins[65536];

static void
cap_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l, (void)w, (void)revents;
}

static void
setup(void)
{
    if (loop)
        return;
    loop = ev_loop_new(EVFLAG_AUTO);
    FUZZ_CHECK(loop != NULL);
    evf__loop_set(loop);
    ev_init(&cap, cap_cb);
    evf_log_set_level(getenv("FUZZ_VERBOSE") ? EVF_LOG_LVL_DEBUG : 0);
    FUZZ_CHECK(evf_app_register(&fuzz_app, "fuzz") == 0);
}

static void
nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    FUZZ_CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

/* Read what the server wrote; true if anything came (or EOF). */
static bool
read_all(int fd, bool *eof)
{
    uint8_t buf[16384];
    bool got = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            fuzz_out_feed(buf, (size_t)n);
            got = true;
            continue;
        }
        if (n == 0) {
            got = !*eof;
            *eof = true;
        } else {
            FUZZ_CHECK(errno == EAGAIN || errno == EINTR ||
                       errno == ECONNRESET);
            if (errno == ECONNRESET) {
                got = !*eof;
                *eof = true;
            }
        }
        return got;
    }
}

/* Routes running now (started, not finished). */
static uint64_t
running(void)
{
    uint64_t n = 0;
    for (size_t i = 0; i < EVF_STATS_MAX_ROUTES; i++)
        n += evf_stats.route_in_flight[i];
    return n;
}

/* One turn of the loop that waits at most t seconds. */
static void
turn(double t)
{
    ev_timer_set(&cap, t, 0.);
    ev_timer_start(loop, &cap);
    ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &cap);
}

/* The BEGIN_REQUEST records of the input, per id, as conn.c sees them. */
static void
count_begins(const uint8_t *p, size_t n)
{
    evf_fcgi_parser_t ps;
    evf_fcgi_event_t ev;
    memset(&ps, 0, sizeof(ps));
    memset(begins, 0, sizeof(begins));
    while (n) {
        ssize_t used = evf_fcgi_parse(&ps, p, n, &ev);
        if (used < 0)
            return;
        p += used;
        n -= (size_t)used;
        if (ev.kind == EVF_FCGI_EV_NONE)
            return;
        if (ev.kind == EVF_FCGI_EV_BEGIN)
            begins[ev.request_id]++;
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    evf_settings_t saved = evf_settings;
    evf_coro_stats_t st;
    int sv[2];
    bool eof = false;

    if (size < 2)
        return 0;
    setup();
    unsigned flags = data[0];
    size_t chunk = data[1] ? (size_t)data[1] + 1 : 4096;
    data += 2;
    size -= 2;
    count_begins(data, size);
    if (flags & F_FEW_REQS)
        evf_settings.max_reqs_per_conn = 4;
    if (flags & F_SMALL) {
        evf_settings.max_params = 1024;
        evf_settings.max_body = 64;
    }
    if (flags & F_TINY_WATER) {
        evf_settings.out_high_water = 64;
        evf_settings.out_low_water = 16;
    }

    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    nonblock(sv[1]);
    FUZZ_CHECK(evf_conn_new(sv[1]) != NULL);

    /* Send, a chunk at a time, the server reading and answering. */
    double t0 = evf__now();
    size_t off = 0;
    while (off < size) {
        size_t k = size - off < chunk ? size - off : chunk;
        ssize_t n = send(sv[0], data + off, k, MSG_NOSIGNAL);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            break;      /* the server closed: a protocol error */
        ev_run(loop, EVRUN_NOWAIT);
        read_all(sv[0], &eof);
        if (evf_conn_count() == 0)
            break;
        if (n <= 0)
            turn(0.001);
        FUZZ_CHECK(evf__now() - t0 < BOUND);
    }
    if (flags & F_SHUTDOWN)
        shutdown(sv[0], SHUT_WR);

    /* Until no route runs and nothing more comes. */
    while (evf_conn_count()) {
        ev_run(loop, EVRUN_NOWAIT);
        bool got = read_all(sv[0], &eof);
        if (!got && running() == 0)
            break;
        if (!got)
            turn(0.002);
        FUZZ_CHECK(evf__now() - t0 < BOUND);
    }

    /* The web server goes away: everything must be released. */
    close(sv[0]);
    while (evf_conn_count() || evf_stats.in_flight) {
        turn(0.001);
        FUZZ_CHECK(evf__now() - t0 < BOUND);
    }
    FUZZ_CHECK(running() == 0);
    evf_coro_get_stats(&st);
    FUZZ_CHECK(st.live == 0);
    for (size_t id = 0; id < 65536; id++)
        FUZZ_CHECK(fuzz_out_ends((uint16_t)id) <= begins[id]);
    fuzz_out_finish();
    evf_settings = saved;
    return 0;
}
