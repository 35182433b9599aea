/*
 * fcgi_peer.h: the web-server side of a FastCGI connection, for the unit
 * tests (test_request, test_deps, test_conn, ...), over a socketpair on a
 * real libev loop.  Records are encoded by tests/common/fcgi_wire.h.
 *
 * open_conn() hands one end of a socketpair to evf_conn_new(); the test
 * plays the web server on the other, writing records by hand (send_get,
 * send_req, send_abort) and decoding what comes back, STDOUT bytes and
 * END_REQUEST per request id (cl.rsp[id], status_of, body_is, complete).
 * Server and client share the loop: run_until() runs it until a predicate
 * holds (there is no run for a while: wait for what must happen, with a
 * bound that fails the test; run_pending() runs what is ready now).
 * finish_conn() closes the client end and checks nothing is left.
 * A suite calls peer_init() first in its init and peer_free() last in its
 * cleanup.  All is static, in the test program; the CUnit assertions of
 * these helpers count in its asserts.
 */
#ifndef EVF_TESTS_FCGI_PEER_H
#define EVF_TESTS_FCGI_PEER_H

#include <errno.h>
#include <ev.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "fcgi_wire.h"
#include "coro.h"
#include "loop.h"
#include "stats.h"
#include "unit.h"

#define PEER_CHUNK (64 * 1024)      /* bytes read at a time */

/* ---- the client: records out, records in ------------------------------ */

/* What came back for one request id. */
typedef struct rsp {
    char *out;          /* STDOUT bytes, NUL-terminated */
    size_t len, cap;
    bool out_end;       /* the empty STDOUT record arrived */
    unsigned ends;      /* END_REQUEST records */
    int pstatus;        /* protocolStatus of the last one */
    double t_end;       /* when it arrived (mono()) */
} rsp_t;

static struct {
    struct ev_loop *loop;
    pthread_t thread;       /* the loop's */
    int fd;                 /* client end; -1 when closed */
    int sfd;                /* the server's end (owned by the connection) */
    ev_io rio, wio;
    ev_timer cap;           /* bounds each run of the loop */
    bool capped;
    uint8_t *in;            /* bytes read, not yet decoded */
    size_t in_len, in_cap;
    struct fw_buf out;      /* records not yet sent */
    size_t out_off;         /* how many of them are */
    bool eof;
    size_t received;        /* bytes read in all */
    unsigned unexpected;    /* records we did not expect */
    /*
     * Set by the test program (init), all optional.  short_pairs: assert
     * that every name and value sent is shorter than 128 bytes (one-byte
     * lengths) rather than that each URI is shorter than 1024; either
     * keeps the params within their buffer.  on_open: resets the test's
     * own state for open_conn().  on_finish: stops the test's own
     * watchers for finish_conn(), once the client end is closed.
     */
    bool short_pairs;
    void (*on_open)(void);
    void (*on_finish)(void);
    rsp_t *rsp[65536];
} cl;

static inline double
mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Grow *p to hold need bytes (the test aborts when out of memory). */
static inline void *
reserve(void *p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "fcgi_peer: out of memory\n");
        abort();
    }
    *cap = n;
    return p;
}

static inline rsp_t *
rsp_get(uint16_t id)
{
    if (!cl.rsp[id]) {
        cl.rsp[id] = calloc(1, sizeof(rsp_t));
        if (!cl.rsp[id])
            abort();
        cl.rsp[id]->pstatus = -1;
    }
    return cl.rsp[id];
}

static inline void
rsp_clear(uint16_t id)
{
    if (cl.rsp[id]) {
        free(cl.rsp[id]->out);
        free(cl.rsp[id]);
        cl.rsp[id] = NULL;
    }
}

/* One record from the server. */
static inline void
record(uint8_t type, uint16_t id, const uint8_t *p, size_t len)
{
    rsp_t *r;

    switch (type) {
    case FCGI_STDOUT:
        r = rsp_get(id);
        if (r->ends || r->out_end) {
            cl.unexpected++;    /* output after the end of the stream */
            return;
        }
        if (len == 0) {
            r->out_end = true;
            return;
        }
        r->out = reserve(r->out, &r->cap, r->len + len + 1);
        memcpy(r->out + r->len, p, len);
        r->len += len;
        r->out[r->len] = '\0';
        return;
    case FCGI_END_REQUEST:
        r = rsp_get(id);
        r->ends++;
        r->pstatus = len == 8 ? p[4] : -1;
        r->t_end = mono();
        return;
    case FCGI_GET_VALUES_RESULT:
    case FCGI_UNKNOWN_TYPE:
        if (id != FCGI_NULL_REQUEST_ID) {
            cl.unexpected++;
            return;
        }
        /* Management answers: kept as rsp[0], the type in pstatus. */
        r = rsp_get(0);
        r->out = reserve(r->out, &r->cap, r->len + len + 1);
        memcpy(r->out + r->len, p, len);
        r->len += len;
        r->out[r->len] = '\0';
        r->ends++;
        r->pstatus = type;
        return;
    default:
        cl.unexpected++;
        return;
    }
}

/* Decode every complete record of the input. */
static inline void
decode(void)
{
    size_t off = 0;

    while (cl.in_len - off >= FCGI_HEADER_LEN) {
        struct fw_rec h;
        fw_hdr_get(cl.in + off, &h);
        size_t total = FCGI_HEADER_LEN + h.clen + h.plen;
        if (cl.in_len - off < total)
            break;
        if (h.ver != FCGI_VERSION_1)
            cl.unexpected++;
        record((uint8_t)h.type, (uint16_t)h.id, cl.in + off + FCGI_HEADER_LEN,
               h.clen);
        off += total;
    }
    memmove(cl.in, cl.in + off, cl.in_len - off);
    cl.in_len -= off;
}

static inline void
client_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    for (;;) {
        cl.in = reserve(cl.in, &cl.in_cap, cl.in_len + PEER_CHUNK);
        ssize_t n = recv(cl.fd, cl.in + cl.in_len, PEER_CHUNK, 0);
        if (n > 0) {
            cl.in_len += (size_t)n;
            cl.received += (size_t)n;
            decode();
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        cl.eof = true;      /* end of file (or reset) */
        ev_io_stop(loop, w);
        return;
    }
}

static inline void
client_flush(void)
{
    while (cl.out_off < cl.out.len) {
        ssize_t n = send(cl.fd, cl.out.p + cl.out_off,
                         cl.out.len - cl.out_off, MSG_NOSIGNAL);
        if (n > 0) {
            cl.out_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!ev_is_active(&cl.wio))
                ev_io_start(cl.loop, &cl.wio);
            return;
        }
        CU_FAIL("the client could not write");
        break;
    }
    cl.out_off = cl.out.len = 0;
    ev_io_stop(cl.loop, &cl.wio);
}

static inline void
client_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    client_flush();
}

/* Queue one record, padded to a multiple of 8 bytes. */
static inline void
put_record(uint8_t type, uint16_t id, const void *data, size_t len)
{
    CU_ASSERT_FATAL(len <= FCGI_MAX_LENGTH);
    fw_rec_add(&cl.out, type, id, data, len, fw_pad8(len));
}

/* Write the pair name=value at p; returns its size. */
static inline size_t
put_pair(uint8_t *p, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    if (cl.short_pairs)
        CU_ASSERT_FATAL(nl < 128 && vl < 128);
    uint8_t *q = fw_nv_putlen(fw_nv_putlen(p, nl), vl);
    memcpy(q, name, nl);
    memcpy(q + nl, value, vl);
    return (size_t)(q - p) + nl + vl;
}

/* Queue BEGIN_REQUEST for a responder with flags. */
static inline void
put_begin(uint16_t id, uint8_t flags)
{
    uint8_t begin[8] = { 0, FCGI_RESPONDER, flags, 0, 0, 0, 0, 0 };
    put_record(FCGI_BEGIN_REQUEST, id, begin, sizeof(begin));
}

/*
 * Queue the PARAMS of a request (method, URI, query string, and the
 * content type and length when given) and the end of the stream.
 */
static inline void
put_params(uint16_t id, const char *method, const char *uri,
           const char *ctype, const char *body)
{
    uint8_t params[2048];
    size_t n = 0;
    const char *q = strchr(uri, '?');
    char clen[24];

    if (!cl.short_pairs)
        CU_ASSERT_FATAL(strlen(uri) < 1024);
    n += put_pair(params + n, "REQUEST_METHOD", method);
    n += put_pair(params + n, "REQUEST_URI", uri);
    n += put_pair(params + n, "QUERY_STRING", q ? q + 1 : "");
    if (ctype)
        n += put_pair(params + n, "CONTENT_TYPE", ctype);
    if (body) {
        snprintf(clen, sizeof(clen), "%zu", strlen(body));
        n += put_pair(params + n, "CONTENT_LENGTH", clen);
    }
    put_record(FCGI_PARAMS, id, params, n);
    put_record(FCGI_PARAMS, id, NULL, 0);
}

/*
 * Send a whole request: BEGIN_REQUEST (responder, flags), PARAMS, the end
 * of PARAMS, the body if any, the end of STDIN.
 */
static inline void
send_req(uint16_t id, uint8_t flags, const char *method, const char *uri,
         const char *ctype, const char *body)
{
    put_begin(id, flags);
    put_params(id, method, uri, ctype, body);
    if (body && *body)
        put_record(FCGI_STDIN, id, body, strlen(body));
    put_record(FCGI_STDIN, id, NULL, 0);
    client_flush();
}

/* A GET with FCGI_KEEP_CONN. */
static inline void
send_get(uint16_t id, const char *uri)
{
    send_req(id, FCGI_KEEP_CONN, "GET", uri, NULL, NULL);
}

static inline void
send_abort(uint16_t id)
{
    put_record(FCGI_ABORT_REQUEST, id, NULL, 0);
    client_flush();
}

/* The status of the CGI response head, or -1. */
static inline int
status_of(uint16_t id)
{
    int st;
    rsp_t *r = cl.rsp[id];
    if (!r || !r->out || sscanf(r->out, "Status: %d ", &st) != 1)
        return -1;
    return st;
}

/* The body after the CGI head, or NULL. */
static inline const char *
body_of(uint16_t id, size_t *len)
{
    rsp_t *r = cl.rsp[id];
    const char *b = r && r->out ? strstr(r->out, "\r\n\r\n") : NULL;
    if (!b)
        return NULL;
    b += 4;
    *len = r->len - (size_t)(b - r->out);
    return b;
}

static inline bool
body_is(uint16_t id, const char *want)
{
    size_t len = 0;
    const char *b = body_of(id, &len);
    if (!b) {
        fprintf(stderr, "\n    request %u: no response body\n", id);
        return false;
    }
    return unit_mem_eq(b, len, want, strlen(want));
}

/* True when the head has the header line (without CRLF). */
static inline bool
has_header(uint16_t id, const char *line)
{
    rsp_t *r = cl.rsp[id];
    char want[256];
    if (!r || !r->out)
        return false;
    const char *end = strstr(r->out, "\r\n\r\n");
    snprintf(want, sizeof(want), "\r\n%s\r\n", line);
    const char *at = strstr(r->out, want);
    return end && at && at <= end;
}

/* Answered once, completely, with REQUEST_COMPLETE. */
static inline bool
complete(uint16_t id)
{
    rsp_t *r = cl.rsp[id];
    return r && r->ends == 1 && r->pstatus == FCGI_REQUEST_COMPLETE;
}

/* ---- running the loop ------------------------------------------------- */

static inline void
cap_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    cl.capped = true;
}

/*
 * Run the loop until done(arg) holds or secs passed (wall clock, also
 * checked between iterations).  Returns done(arg); without done, runs for
 * secs.
 */
static inline bool
run_until(bool (*done)(const void *), const void *arg, double secs)
{
    double until = mono() + secs;
    cl.capped = false;
    ev_now_update(cl.loop);
    ev_timer_set(&cl.cap, secs, 0.);
    ev_timer_start(cl.loop, &cl.cap);
    while (!(done && done(arg)) && !cl.capped && mono() < until)
        ev_run(cl.loop, EVRUN_ONCE);
    ev_timer_stop(cl.loop, &cl.cap);
    return done && done(arg);
}

/*
 * Run what is ready now (timers due, I/O readable), without waiting: for
 * checking that nothing more happens once the condition awaited held.
 */
static inline void
run_pending(void)
{
    for (int i = 0; i < 16; i++)
        ev_run(cl.loop, EVRUN_NOWAIT);
}

/* arg: an unsigned counter; true once it is not 0. */
static inline bool
nonzero(const void *arg)
{
    return *(const volatile unsigned *)arg != 0;
}

/*
 * The server's end of the socket can take no more (the client stopped
 * reading it and the socket buffers are full): a writer waits now.
 */
static inline bool
server_full(const void *arg)
{
    struct pollfd p = { .fd = cl.sfd, .events = POLLOUT };
    (void)arg;
    return cl.fd >= 0 && poll(&p, 1, 0) == 0;
}

/* arg: a 0-terminated array of request ids that must have ended. */
static inline bool
all_ended(const void *arg)
{
    for (const uint16_t *id = arg; *id; id++)
        if (!cl.rsp[*id] || !cl.rsp[*id]->ends)
            return false;
    return true;
}

static inline bool
ended(uint16_t id, double secs)
{
    uint16_t ids[2] = { id, 0 };
    return run_until(all_ended, ids, secs);
}

static inline bool
no_conn(const void *arg)
{
    (void)arg;
    return evf_conn_count() == 0;
}

static inline bool
none_in_flight(const void *arg)
{
    (void)arg;
    return evf_stats.in_flight == 0;
}

static inline bool
got_eof(const void *arg)
{
    (void)arg;
    return cl.eof;
}

/* ---- the connection --------------------------------------------------- */

static inline void
nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    CU_ASSERT_FATAL(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

/* Forget every response and the client's buffers. */
static inline void
client_reset(void)
{
    for (size_t i = 0; i < sizeof(cl.rsp) / sizeof(cl.rsp[0]); i++)
        rsp_clear((uint16_t)i);
    cl.in_len = cl.out_off = cl.out.len = 0;
    cl.eof = false;
    cl.received = 0;
    cl.unexpected = 0;
}

static inline void
disconnect(void)
{
    if (cl.fd < 0)
        return;
    ev_io_stop(cl.loop, &cl.rio);
    ev_io_stop(cl.loop, &cl.wio);
    close(cl.fd);
    cl.fd = -1;
}

/*
 * The end of a test: close the client end, let the server see it and the
 * requests end, and check nothing is left (connections, requests,
 * coroutines, records we did not expect).
 */
static inline void
finish_conn(void)
{
    evf_coro_stats_t st;

    disconnect();
    if (cl.on_finish)
        cl.on_finish();
    run_until(no_conn, NULL, 2.0);
    run_until(none_in_flight, NULL, 2.0);
    CU_ASSERT_EQUAL(evf_conn_count(), 0);
    CU_ASSERT_EQUAL(evf_stats.in_flight, 0);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
    CU_ASSERT_EQUAL(cl.unexpected, 0);
    client_reset();
}

/* The start of a test: a fresh connection, fresh records. */
static inline void
open_conn(void)
{
    int sv[2];

    finish_conn();      /* after a test that stopped early */
    if (cl.on_open)
        cl.on_open();
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    nonblock(sv[1]);
    CU_ASSERT_FATAL(evf_conn_new(sv[1]) != NULL);
    cl.fd = sv[0];
    cl.sfd = sv[1];
    ev_io_init(&cl.rio, client_read, cl.fd, EV_READ);
    ev_io_init(&cl.wio, client_write, cl.fd, EV_WRITE);
    ev_io_start(cl.loop, &cl.rio);
}

/* ---- the suite -------------------------------------------------------- */

/* A new loop, made the server's; 0, or -1 when there is none. */
static inline int
peer_init(void)
{
    cl.fd = -1;
    cl.thread = pthread_self();
    cl.loop = ev_loop_new(EVFLAG_AUTO);
    if (!cl.loop)
        return -1;
    evf__loop_set(cl.loop);
    ev_init(&cl.cap, cap_cb);
    return 0;
}

/* The client's memory and the loop; after the server is torn down. */
static inline void
peer_free(void)
{
    client_reset();
    free(cl.in);
    free(cl.out.p);
    evf__loop_set(NULL);
    ev_loop_destroy(cl.loop);
}

#endif
