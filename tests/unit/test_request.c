/*
 * test_request: the request and await layer, end to end (suite "request").
 *
 * A real libev loop serves a real connection: one end of a socketpair is
 * adopted with evf_conn_new(), and the test plays the web server on the
 * other end, writing FastCGI records by hand and decoding what comes back
 * (STDOUT bytes and END_REQUEST per request id).  The handlers are defined
 * here and registered as an app.  Server and client share the loop, so
 * every await below overlaps with the others on one thread.
 *
 * Covered: concurrent sleeps answer in deadline order; evf_gather runs its
 * sub-tasks concurrently; route and handler deadlines (EVF_ETIMEDOUT, then
 * a 504); evf_wait_fd, woken and timed out; cancellation by connection
 * close and by FCGI_ABORT_REQUEST (cleanups run once, the handler is never
 * resumed, nothing leaks); a handler that does not answer; evf_raise in
 * the middle of a handler; the router's error bodies byte for byte;
 * streaming under backpressure; 200 multiplexed requests; and closing
 * after a request sent without FCGI_KEEP_CONN.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fastcgi.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "log.h"
#include "loop.h"
#include "settings.h"
#include "stats.h"
#include "unit.h"

#define CHUNK (64 * 1024)
#define STREAM_WRITES 128           /* 8 MiB in all */
#define NMUX 200

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
    int fd;                 /* client end; -1 when closed */
    ev_io rio, wio;
    ev_timer cap;           /* bounds each run of the loop */
    bool capped;
    ev_timer poke;          /* writes a byte into the handler's pipe */
    uint8_t *in;            /* bytes read, not yet decoded */
    size_t in_len, in_cap;
    uint8_t *out;           /* records not yet sent */
    size_t out_off, out_len, out_cap;
    bool eof;
    size_t received;        /* bytes read in all */
    unsigned unexpected;    /* records we did not expect */
    rsp_t *rsp[65536];
} cl;

/* What the handlers saw and did. */
static struct {
    int log[8];
    size_t nlog;
    unsigned gathered;
    int sleep_rc, sleep_rc2;
    int sub_rc[2];
    double sleep_took;
    int wait_rc;
    double wait_took;
    int pipe_w;             /* the waiting handler's pipe, -1: none */
    unsigned poked;
    unsigned before_called, after_called, defer_called;
    unsigned item_called;
    int json_a;
    unsigned stream_writes;
    bool stream_done;
    int stream_rc;
} g;

static double
mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Grow *p to hold need bytes (the test aborts when out of memory). */
static void *
reserve(void *p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return p;
    size_t n = *cap ? *cap : 4096;
    while (n < need)
        n *= 2;
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "test_request: out of memory\n");
        abort();
    }
    *cap = n;
    return p;
}

static rsp_t *
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

static void
rsp_clear(uint16_t id)
{
    if (cl.rsp[id]) {
        free(cl.rsp[id]->out);
        free(cl.rsp[id]);
        cl.rsp[id] = NULL;
    }
}

/* One record from the server. */
static void
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
    default:
        cl.unexpected++;
        return;
    }
}

/* Decode every complete record of the input. */
static void
decode(void)
{
    size_t off = 0;

    while (cl.in_len - off >= FCGI_HEADER_LEN) {
        const uint8_t *h = cl.in + off;
        size_t clen = (size_t)h[4] << 8 | h[5];
        size_t total = FCGI_HEADER_LEN + clen + h[6];
        if (cl.in_len - off < total)
            break;
        if (h[0] != FCGI_VERSION_1)
            cl.unexpected++;
        record(h[1], (uint16_t)(h[2] << 8 | h[3]), h + FCGI_HEADER_LEN,
               clen);
        off += total;
    }
    memmove(cl.in, cl.in + off, cl.in_len - off);
    cl.in_len -= off;
}

static void
client_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    for (;;) {
        cl.in = reserve(cl.in, &cl.in_cap, cl.in_len + CHUNK);
        ssize_t n = recv(cl.fd, cl.in + cl.in_len, CHUNK, 0);
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

static void
client_flush(void)
{
    while (cl.out_off < cl.out_len) {
        ssize_t n = send(cl.fd, cl.out + cl.out_off, cl.out_len - cl.out_off,
                         MSG_NOSIGNAL);
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
    cl.out_off = cl.out_len = 0;
    ev_io_stop(cl.loop, &cl.wio);
}

static void
client_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    client_flush();
}

/* Queue one record, padded to a multiple of 8 bytes. */
static void
put_record(uint8_t type, uint16_t id, const void *data, size_t len)
{
    size_t pad = (8 - len % 8) % 8;
    uint8_t h[FCGI_HEADER_LEN] = {
        FCGI_VERSION_1, type, (uint8_t)(id >> 8), (uint8_t)id,
        (uint8_t)(len >> 8), (uint8_t)len, (uint8_t)pad, 0
    };
    CU_ASSERT_FATAL(len <= 0xffff);
    cl.out = reserve(cl.out, &cl.out_cap,
                     cl.out_len + sizeof(h) + len + pad);
    memcpy(cl.out + cl.out_len, h, sizeof(h));
    cl.out_len += sizeof(h);
    if (len)
        memcpy(cl.out + cl.out_len, data, len);
    cl.out_len += len;
    memset(cl.out + cl.out_len, 0, pad);
    cl.out_len += pad;
}

static size_t
put_len(uint8_t *p, size_t n)
{
    if (n < 128) {
        p[0] = (uint8_t)n;
        return 1;
    }
    p[0] = (uint8_t)(0x80 | n >> 24);
    p[1] = (uint8_t)(n >> 16);
    p[2] = (uint8_t)(n >> 8);
    p[3] = (uint8_t)n;
    return 4;
}

/* Append the pair name=value at p; returns its size. */
static size_t
put_pair(uint8_t *p, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value);
    size_t o = put_len(p, nl);
    o += put_len(p + o, vl);
    memcpy(p + o, name, nl);
    memcpy(p + o + nl, value, vl);
    return o + nl + vl;
}

/*
 * Send a whole request: BEGIN_REQUEST (responder, flags), PARAMS, the end
 * of PARAMS, the body if any, the end of STDIN.
 */
static void
send_req(uint16_t id, uint8_t flags, const char *method, const char *uri,
         const char *ctype, const char *body)
{
    uint8_t begin[8] = { 0, FCGI_RESPONDER, flags, 0, 0, 0, 0, 0 };
    uint8_t params[2048];
    size_t n = 0;
    const char *q = strchr(uri, '?');
    char clen[24];

    CU_ASSERT_FATAL(strlen(uri) < 1024);
    put_record(FCGI_BEGIN_REQUEST, id, begin, sizeof(begin));
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
    if (body && *body)
        put_record(FCGI_STDIN, id, body, strlen(body));
    put_record(FCGI_STDIN, id, NULL, 0);
    client_flush();
}

static void
send_get(uint16_t id, const char *uri)
{
    send_req(id, FCGI_KEEP_CONN, "GET", uri, NULL, NULL);
}

static void
send_abort(uint16_t id)
{
    put_record(FCGI_ABORT_REQUEST, id, NULL, 0);
    client_flush();
}

/* The status of the CGI response head, or -1. */
static int
status_of(uint16_t id)
{
    int st;
    rsp_t *r = cl.rsp[id];
    if (!r || !r->out || sscanf(r->out, "Status: %d ", &st) != 1)
        return -1;
    return st;
}

/* The body after the CGI head, or NULL. */
static const char *
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

static bool
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
static bool
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
static bool
complete(uint16_t id)
{
    rsp_t *r = cl.rsp[id];
    return r && r->ends == 1 && r->pstatus == FCGI_REQUEST_COMPLETE;
}

/* ---- running the loop ------------------------------------------------- */

static void
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
static bool
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

static void
run_for(double secs)
{
    run_until(NULL, NULL, secs);
}

/* arg: a 0-terminated array of request ids that must have ended. */
static bool
all_ended(const void *arg)
{
    for (const uint16_t *id = arg; *id; id++)
        if (!cl.rsp[*id] || !cl.rsp[*id]->ends)
            return false;
    return true;
}

static bool
ended(uint16_t id, double secs)
{
    uint16_t ids[2] = { id, 0 };
    return run_until(all_ended, ids, secs);
}

static bool
no_conn(const void *arg)
{
    (void)arg;
    return evf_conn_count() == 0;
}

static bool
got_eof(const void *arg)
{
    (void)arg;
    return cl.eof;
}

static void
nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    CU_ASSERT_FATAL(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
}

/* Forget every response and the client's buffers. */
static void
client_reset(void)
{
    for (size_t i = 0; i < 65536; i++)
        rsp_clear((uint16_t)i);
    cl.in_len = cl.out_off = cl.out_len = 0;
    cl.eof = false;
    cl.received = 0;
    cl.unexpected = 0;
}

static void
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
 * The end of a test: close the client end, let the server see it, and
 * check nothing is left (connections, requests, coroutines, timers).
 */
static void
finish_conn(void)
{
    evf_coro_stats_t st;

    disconnect();
    ev_timer_stop(cl.loop, &cl.poke);
    run_until(no_conn, NULL, 2.0);
    CU_ASSERT_EQUAL(evf_conn_count(), 0);
    CU_ASSERT_EQUAL(evf_stats.in_flight, 0);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
    CU_ASSERT_EQUAL(cl.unexpected, 0);
    client_reset();
}

/* The start of a test: a fresh connection, fresh counters. */
static void
open_conn(void)
{
    int sv[2];

    finish_conn();      /* after a test that stopped early */
    memset(&g, 0, sizeof(g));
    g.pipe_w = -1;
    CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    nonblock(sv[0]);
    nonblock(sv[1]);
    CU_ASSERT_FATAL(evf_conn_new(sv[1]) != NULL);
    cl.fd = sv[0];
    ev_io_init(&cl.rio, client_read, cl.fd, EV_READ);
    ev_io_init(&cl.wio, client_write, cl.fd, EV_WRITE);
    ev_io_start(cl.loop, &cl.rio);
}

/* ---- handlers --------------------------------------------------------- */

/* /sleep?s=SECONDS&tag=N: sleep, log the tag, answer it. */
static void
h_sleep(evf_req *r)
{
    int rc = evf_sleep(r, evf_query_float(r, "s"));
    const char *tag = evf_query_str(r, "tag");
    if (g.nlog < sizeof(g.log) / sizeof(g.log[0]))
        g.log[g.nlog++] = (int)evf_query_int(r, "tag");
    evf_text(r, rc == 0 ? 200 : 500, tag ? tag : "");
}

static void
sub(evf_req *r, void *arg)
{
    int *done = arg;
    if (evf_sleep(r, 0.1) == 0)
        *done = 1;
    g.gathered++;
}

/* /gather: three sub-tasks sleeping 0.1 s each, at once. */
static void
h_gather(evf_req *r)
{
    int done[3] = { 0, 0, 0 };
    void *args[3] = { &done[0], &done[1], &done[2] };
    int rc = evf_gather(r, 3, sub, args);
    evf_json_printf(r, 200, "[%d,%d,%d,%d]", rc, done[0], done[1], done[2]);
}

/* /deadline (route deadline 0.05 s): a 1 s sleep times out. */
static void
h_deadline(evf_req *r)
{
    double t0 = mono();
    g.sleep_rc = evf_sleep(r, 1.0);
    g.sleep_took = mono() - t0;
    evf_raise(r, 504, "Gateway Timeout");
    g.after_called++;
}

/* /setdl: the same with evf_set_deadline, then without a deadline. */
static void
h_setdl(evf_req *r)
{
    evf_set_deadline(r, 0.05);
    double t0 = mono();
    g.sleep_rc = evf_sleep(r, 1.0);
    g.sleep_took = mono() - t0;
    evf_set_deadline(r, 0);
    g.sleep_rc2 = evf_sleep(r, 0.01);
    evf_raise(r, 504, "Gateway Timeout");
    g.after_called++;
}

/* Sub-task of /gatherdl: arg[0] selects the await, arg[1] gets its result. */
static void
sub_dl(evf_req *r, void *arg)
{
    int *a = arg;
    if (a[0] == 0) {
        a[1] = evf_sleep(r, 1.0);
        return;
    }
    int p[2];
    if (pipe(p) < 0)
        return;
    a[1] = evf_wait_fd(r, p[0], EVF_READ, 1.0);
    close(p[0]);
    close(p[1]);
}

/* /gatherdl (route deadline 0.05 s): the deadline binds sub-tasks too. */
static void
h_gatherdl(evf_req *r)
{
    int a[2][2] = { { 0, 1 }, { 1, 1 } };
    void *args[2] = { a[0], a[1] };
    double t0 = mono();
    evf_gather(r, 2, sub_dl, args);
    g.sleep_took = mono() - t0;
    g.sub_rc[0] = a[0][1];
    g.sub_rc[1] = a[1][1];
    evf_raise(r, 504, "Gateway Timeout");
}

static void
close_pipe(void *arg)
{
    int *p = arg;
    close(p[0]);
    close(p[1]);
    g.pipe_w = -1;
    g.defer_called++;
}

/* /waitfd?t=TIMEOUT: wait until a pipe of its own is readable. */
static void
h_waitfd(evf_req *r)
{
    int *p = evf_alloc(r, 2 * sizeof(int));
    if (!p || pipe(p) < 0)
        evf_raise(r, 500, "pipe");
    evf_defer(r, close_pipe, p);
    g.pipe_w = p[1];
    double t0 = mono();
    g.wait_rc = evf_wait_fd(r, p[0], EVF_READ, evf_query_float(r, "t"));
    g.wait_took = mono() - t0;
    evf_text(r, 200, "ok");
}

/* The test's timer: what another party writing to the pipe looks like. */
static void
poke_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    if (g.pipe_w >= 0 && write(g.pipe_w, "x", 1) == 1)
        g.poked++;
}

static void
count_defer(void *arg)
{
    (void)arg;
    g.defer_called++;
}

/* /cancel: holds heap memory and sleeps 5 s; meant to be cancelled. */
static void
h_cancel(evf_req *r)
{
    char *m = malloc(1000);
    evf_defer(r, free, m);
    evf_defer(r, count_defer, NULL);
    /* Bigger than the embedded arena block: a heap block to free. */
    char *big = evf_alloc(r, 100000);
    if (big)
        memset(big, 1, 100000);
    g.before_called++;
    evf_sleep(r, 5.0);
    g.after_called++;
    evf_text(r, 200, "late");
}

static void
h_noanswer(evf_req *r)
{
    (void)r;
    g.before_called++;
}

static void
h_raise(evf_req *r)
{
    g.before_called++;
    evf_raise(r, 404, "Item not found");
    g.after_called++;
    evf_text(r, 200, "not reached");
}

static void
h_item(evf_req *r)
{
    g.item_called++;
    evf_json_printf(r, 200, "{\"item_id\":%lld}",
                    (long long)evf_path_int(r, "item_id"));
}

static void
h_plain(evf_req *r)
{
    g.item_called++;
    evf_text(r, 200, "plain");
}

/* POST /json (.json_body): the parsed body back. */
static void
h_json(evf_req *r)
{
    json_object *obj = evf_body_json(r), *a;
    g.json_a = -1;
    if (obj && json_object_object_get_ex(obj, "a", &a))
        g.json_a = json_object_get_int(a);
    evf_json(r, 200, json_object_get(obj));
}

static char chunk[CHUNK];

/* /stream: 8 MiB in 64 KiB writes. */
static void
h_stream(evf_req *r)
{
    evf_stream_begin(r, 200, "application/octet-stream");
    for (int i = 0; i < STREAM_WRITES; i++) {
        int rc = evf_stream_write(r, chunk, sizeof(chunk));
        if (rc < 0) {
            g.stream_rc = rc;
            return;
        }
        g.stream_writes++;
    }
    evf_stream_end(r);
    g.stream_done = true;
}

static const evf_query both_query[] = {
    EVF_Q("q", EVF_INT),
    { .name = NULL },
};

static const evf_route routes[] = {
    EVF_GET("/sleep", h_sleep),
    EVF_GET("/gather", h_gather),
    EVF_GET("/deadline", h_deadline, .deadline = 0.05),
    EVF_GET("/setdl", h_setdl),
    EVF_GET("/gatherdl", h_gatherdl, .deadline = 0.05),
    EVF_GET("/waitfd", h_waitfd),
    EVF_GET("/cancel", h_cancel),
    EVF_GET("/noanswer", h_noanswer),
    EVF_GET("/raise", h_raise),
    EVF_GET("/items/{item_id:int}", h_item),
    EVF_GET("/both/{n:int}", h_plain, .query = both_query),
    EVF_GET("/only", h_plain),
    EVF_POST("/json", h_json, .json_body = true),
    EVF_GET("/stream", h_stream),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "test",
    .routes = routes,
};

/* ---- tests ------------------------------------------------------------ */

/* Two sleeps on one connection overlap; the shorter answers first. */
static void
test_sleep_order(void)
{
    uint16_t ids[] = { 1, 2, 0 };

    open_conn();
    double t0 = mono();
    send_get(1, "/sleep?s=0.2&tag=1");
    send_get(2, "/sleep?s=0.05&tag=2");
    CU_ASSERT_TRUE(run_until(all_ended, ids, 2.0));
    double wall = mono() - t0;
    CU_ASSERT(complete(1) && complete(2));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_TRUE(body_is(1, "1"));
    CU_ASSERT_TRUE(body_is(2, "2"));
    CU_ASSERT_EQUAL(g.nlog, 2);
    CU_ASSERT(g.log[0] == 2 && g.log[1] == 1);
    CU_ASSERT(cl.rsp[2] && cl.rsp[1] &&
              cl.rsp[2]->t_end < cl.rsp[1]->t_end);
    CU_ASSERT(wall >= 0.19);
    CU_ASSERT(wall < 0.4);
    finish_conn();
}

/* evf_gather: three 0.1 s sub-tasks take 0.1 s, not 0.3 s. */
static void
test_gather(void)
{
    open_conn();
    double t0 = mono();
    send_get(1, "/gather");
    CU_ASSERT_TRUE(ended(1, 2.0));
    double wall = mono() - t0;
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "[0,1,1,1]"));
    CU_ASSERT_EQUAL(g.gathered, 3);
    CU_ASSERT(wall >= 0.09);
    CU_ASSERT(wall < 0.25);
    finish_conn();
}

/* A route deadline and evf_set_deadline cut a sleep short. */
static void
test_deadline(void)
{
    open_conn();
    double t0 = mono();
    send_get(1, "/deadline");
    CU_ASSERT_TRUE(ended(1, 2.0));
    double wall = mono() - t0;
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(g.sleep_rc, EVF_ETIMEDOUT);
    CU_ASSERT(g.sleep_took >= 0.04 && g.sleep_took < 0.3);
    CU_ASSERT(wall < 0.5);
    CU_ASSERT_EQUAL(status_of(1), 504);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Gateway Timeout\"}"));
    CU_ASSERT_EQUAL(g.after_called, 0);

    g.sleep_rc = 0;
    g.sleep_rc2 = 1;
    g.sleep_took = 0;
    send_get(2, "/setdl");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT(complete(2));
    CU_ASSERT_EQUAL(g.sleep_rc, EVF_ETIMEDOUT);
    CU_ASSERT(g.sleep_took >= 0.04 && g.sleep_took < 0.3);
    CU_ASSERT_EQUAL(g.sleep_rc2, 0);    /* 0 removed the deadline */
    CU_ASSERT_EQUAL(status_of(2), 504);
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":\"Gateway Timeout\"}"));
    CU_ASSERT_EQUAL(g.after_called, 0);

    /* Sub-tasks of evf_gather await under the request's deadline. */
    g.sleep_took = 0;
    send_get(3, "/gatherdl");
    CU_ASSERT_TRUE(ended(3, 2.0));
    CU_ASSERT(complete(3));
    CU_ASSERT_EQUAL(status_of(3), 504);
    CU_ASSERT_EQUAL(g.sub_rc[0], EVF_ETIMEDOUT);    /* evf_sleep */
    CU_ASSERT_EQUAL(g.sub_rc[1], EVF_ETIMEDOUT);    /* evf_wait_fd */
    CU_ASSERT(g.sleep_took >= 0.04 && g.sleep_took < 0.3);
    finish_conn();
}

/* evf_wait_fd: woken by a write from outside; or timed out. */
static void
test_wait_fd(void)
{
    open_conn();
    ev_timer_set(&cl.poke, 0.05, 0.);
    ev_timer_start(cl.loop, &cl.poke);
    send_get(1, "/waitfd?t=1.0");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_EQUAL(g.poked, 1);
    CU_ASSERT_EQUAL(g.wait_rc, EVF_READ);
    CU_ASSERT(g.wait_took >= 0.04 && g.wait_took < 0.5);
    CU_ASSERT_EQUAL(g.defer_called, 1);
    CU_ASSERT_EQUAL(g.pipe_w, -1);

    /* Nobody writes: the timeout ends the wait. */
    g.wait_rc = 0;
    g.wait_took = 0;
    send_get(2, "/waitfd?t=0.05");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT(complete(2));
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_EQUAL(g.wait_rc, EVF_ETIMEDOUT);
    CU_ASSERT(g.wait_took >= 0.04 && g.wait_took < 0.5);
    CU_ASSERT_EQUAL(g.defer_called, 2);
    finish_conn();
}

/* The web server closes the connection under a sleeping handler. */
static void
test_cancel_close(void)
{
    evf_coro_stats_t st;

    open_conn();
    uint64_t aborted = evf_stats.aborted;
    send_get(1, "/cancel");
    run_for(0.05);
    CU_ASSERT_EQUAL(g.before_called, 1);
    CU_ASSERT_EQUAL(evf_stats.in_flight, 1);
    size_t received = cl.received;
    disconnect();
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 0.5));
    run_for(0.05);  /* nothing else may happen afterwards */
    CU_ASSERT_EQUAL(g.defer_called, 1);
    CU_ASSERT_EQUAL(g.after_called, 0);
    CU_ASSERT_EQUAL(evf_stats.aborted, aborted + 1);
    CU_ASSERT_EQUAL(evf_stats.in_flight, 0);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
    CU_ASSERT_EQUAL(evf_conn_count(), 0);
    CU_ASSERT_EQUAL(received, 0);
    CU_ASSERT_PTR_NULL(cl.rsp[1]);
    finish_conn();
}

/* FCGI_ABORT_REQUEST cancels one request; the connection goes on. */
static void
test_cancel_abort(void)
{
    evf_coro_stats_t st;

    open_conn();
    uint64_t aborted = evf_stats.aborted;
    send_get(1, "/cancel");
    run_for(0.05);
    CU_ASSERT_EQUAL(g.before_called, 1);
    send_abort(1);
    CU_ASSERT_TRUE(ended(1, 1.0));
    CU_ASSERT(complete(1));
    CU_ASSERT(cl.rsp[1] && cl.rsp[1]->len == 0);
    CU_ASSERT_EQUAL(g.defer_called, 1);
    CU_ASSERT_EQUAL(g.after_called, 0);
    CU_ASSERT_EQUAL(evf_stats.aborted, aborted + 1);
    CU_ASSERT_EQUAL(evf_stats.in_flight, 0);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
    CU_ASSERT_EQUAL(evf_conn_count(), 1);

    /* The same connection serves the next request, and the id again. */
    send_get(2, "/sleep?s=0&tag=2");
    CU_ASSERT_TRUE(ended(2, 1.0));
    CU_ASSERT(complete(2));
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_TRUE(body_is(2, "2"));
    rsp_clear(1);
    send_get(1, "/sleep?s=0&tag=1");
    CU_ASSERT_TRUE(ended(1, 1.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_TRUE(body_is(1, "1"));
    run_for(0.02);
    CU_ASSERT_EQUAL(g.defer_called, 1);
    CU_ASSERT_EQUAL(g.after_called, 0);
    finish_conn();
}

/* A handler that returns without answering gets a 500. */
static void
test_no_answer(void)
{
    open_conn();
    uint64_t before = evf_stats.handler_no_answer;
    send_get(1, "/noanswer");
    CU_ASSERT_TRUE(ended(1, 1.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(g.before_called, 1);
    CU_ASSERT_EQUAL(status_of(1), 500);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Internal Server Error\"}"));
    CU_ASSERT_EQUAL(evf_stats.handler_no_answer, before + 1);
    finish_conn();
}

/* evf_raise ends the handler where it is called. */
static void
test_raise(void)
{
    open_conn();
    send_get(1, "/raise");
    CU_ASSERT_TRUE(ended(1, 1.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(g.before_called, 1);
    CU_ASSERT_EQUAL(g.after_called, 0);
    CU_ASSERT_EQUAL(status_of(1), 404);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Item not found\"}"));
    CU_ASSERT(has_header(1, "Content-Type: application/json"));
    finish_conn();
}

/* The router's answers, byte for byte as FastAPI's. */
static void
test_router_errors(void)
{
    uint16_t ids[] = { 1, 2, 3, 4, 5, 6, 7, 8, 0 };

    open_conn();
    send_get(1, "/nope");
    send_req(2, FCGI_KEEP_CONN, "POST", "/only", NULL, NULL);
    send_get(3, "/items/abc");
    send_get(4, "/both/x");
    send_get(5, "/items/99999999999999999999");
    send_req(6, FCGI_KEEP_CONN, "POST", "/json", "application/json",
             "{\"a\":");
    send_req(7, FCGI_KEEP_CONN, "POST", "/json", "application/json",
             "{\"a\":42}");
    send_get(8, "/items/5?x=1");
    CU_ASSERT_TRUE(run_until(all_ended, ids, 2.0));
    for (int i = 0; ids[i]; i++)
        CU_ASSERT(complete(ids[i]));

    CU_ASSERT_EQUAL(status_of(1), 404);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Not Found\"}"));

    CU_ASSERT_EQUAL(status_of(2), 405);
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":\"Method Not Allowed\"}"));
    CU_ASSERT_TRUE(has_header(2, "Allow: GET"));

    CU_ASSERT_EQUAL(status_of(3), 422);
    CU_ASSERT_TRUE(body_is(3,
        "{\"detail\":[{\"type\":\"int_parsing\",\"loc\":[\"path\","
        "\"item_id\"],\"msg\":\"Input should be a valid integer, unable to "
        "parse string as an integer\",\"input\":\"abc\"}]}"));

    CU_ASSERT_EQUAL(status_of(4), 422);
    CU_ASSERT_TRUE(body_is(4,
        "{\"detail\":[{\"type\":\"int_parsing\",\"loc\":[\"path\",\"n\"],"
        "\"msg\":\"Input should be a valid integer, unable to parse string "
        "as an integer\",\"input\":\"x\"},{\"type\":\"missing\",\"loc\":"
        "[\"query\",\"q\"],\"msg\":\"Field required\",\"input\":null}]}"));

    CU_ASSERT_EQUAL(status_of(5), 422);
    CU_ASSERT_TRUE(body_is(5,
        "{\"detail\":[{\"type\":\"int_parsing_size\",\"loc\":[\"path\","
        "\"item_id\"],\"msg\":\"Unable to parse input string as an integer, "
        "exceeded maximum size\",\"input\":\"99999999999999999999\"}]}"));

    static const char bad[] = "{\"detail\":[{\"type\":\"json_invalid\","
                              "\"loc\":[\"body\",";
    size_t len = 0;
    const char *b = body_of(6, &len);
    CU_ASSERT_EQUAL(status_of(6), 422);
    CU_ASSERT(b && strncmp(b, bad, sizeof(bad) - 1) == 0);

    CU_ASSERT_EQUAL(status_of(7), 200);
    CU_ASSERT_EQUAL(g.json_a, 42);
    CU_ASSERT_TRUE(body_is(7, "{\"a\":42}"));

    CU_ASSERT_EQUAL(status_of(8), 200);
    CU_ASSERT_TRUE(body_is(8, "{\"item_id\":5}"));
    /* Only the valid request reached a handler. */
    CU_ASSERT_EQUAL(g.item_called, 1);
    finish_conn();
}

/* A stream to a reader that stalls stays bounded, then completes. */
static void
test_stream_backpressure(void)
{
    open_conn();
    for (size_t i = 0; i < sizeof(chunk); i++)
        chunk[i] = (char)('a' + i % 26);
    ev_io_stop(cl.loop, &cl.rio);       /* the reader stalls */
    send_get(1, "/stream");
    run_for(0.2);
    CU_ASSERT_FALSE(g.stream_done);
    CU_ASSERT(g.stream_writes > 0);
    CU_ASSERT((size_t)g.stream_writes * CHUNK < 2 * 1024 * 1024);
    CU_ASSERT_EQUAL(cl.received, 0);

    ev_io_start(cl.loop, &cl.rio);
    CU_ASSERT_TRUE(ended(1, 3.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_TRUE(g.stream_done);
    CU_ASSERT_EQUAL(g.stream_rc, 0);
    CU_ASSERT_EQUAL(g.stream_writes, STREAM_WRITES);
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT(cl.rsp[1] && cl.rsp[1]->out_end);
    size_t len = 0;
    const char *b = body_of(1, &len);
    CU_ASSERT_EQUAL(len, (size_t)STREAM_WRITES * CHUNK);
    bool same = b != NULL && len == (size_t)STREAM_WRITES * CHUNK;
    for (size_t o = 0; same && o < len; o += CHUNK)
        same = memcmp(b + o, chunk, CHUNK) == 0;
    CU_ASSERT_TRUE(same);
    finish_conn();
}

/*
 * A stream waiting for the output to drain resumes whichever flush drains
 * it: here the one that follows a request read on the same connection.
 */
static void
test_stream_drain_by_read(void)
{
    size_t hw = evf_settings.out_high_water;
    size_t lw = evf_settings.out_low_water;

    evf_settings.out_high_water = 4096;
    evf_settings.out_low_water = 1024;
    open_conn();
    ev_io_stop(cl.loop, &cl.rio);       /* the reader stalls */
    send_get(1, "/stream");
    run_for(0.05);
    CU_ASSERT_FALSE(g.stream_done);
    unsigned stalled = g.stream_writes;
    /* Read all the socket holds, and ask for something else at once. */
    client_read(cl.loop, &cl.rio, EV_READ);
    send_get(2, "/sleep?s=0&tag=2");
    ev_io_start(cl.loop, &cl.rio);
    CU_ASSERT_TRUE(ended(2, 1.0));
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1) && complete(2));
    CU_ASSERT_TRUE(g.stream_done);
    CU_ASSERT_EQUAL(g.stream_writes, STREAM_WRITES);
    if (!g.stream_done)
        fprintf(stderr, "\n    the stream stalled after %u writes (%u "
                "before the read)\n", g.stream_writes, stalled);
    size_t len = 0;
    CU_ASSERT(body_of(1, &len) && len == (size_t)STREAM_WRITES * CHUNK);
    CU_ASSERT_TRUE(body_is(2, "2"));
    finish_conn();
    evf_settings.out_high_water = hw;
    evf_settings.out_low_water = lw;
}

/* 200 requests at once on one connection, each answered as its own. */
static void
test_multiplex(void)
{
    static uint16_t ids[NMUX + 1];
    char uri[64];

    open_conn();
    for (int i = 0; i < NMUX; i++)
        ids[i] = (uint16_t)(7 + i * 300);   /* small and paged ids */
    ids[NMUX] = 0;
    double t0 = mono();
    for (int i = 0; i < NMUX; i++) {
        snprintf(uri, sizeof(uri), "/sleep?s=0.05&tag=%u", ids[i]);
        send_get(ids[i], uri);
    }
    CU_ASSERT_TRUE(run_until(all_ended, ids, 3.0));
    double wall = mono() - t0;
    CU_ASSERT(wall < 1.0);
    unsigned ok = 0;
    for (int i = 0; i < NMUX; i++) {
        char tag[16];
        size_t len = 0;
        snprintf(tag, sizeof(tag), "%u", ids[i]);
        const char *b = body_of(ids[i], &len);
        if (complete(ids[i]) && status_of(ids[i]) == 200 && b &&
            len == strlen(tag) && memcmp(b, tag, len) == 0)
            ok++;
    }
    CU_ASSERT_EQUAL(ok, NMUX);
    finish_conn();
}

/* Without FCGI_KEEP_CONN the server closes after END_REQUEST. */
static void
test_no_keep_conn(void)
{
    open_conn();
    send_req(1, 0, "GET", "/sleep?s=0&tag=1", NULL, NULL);
    CU_ASSERT_TRUE(run_until(got_eof, NULL, 1.0));
    CU_ASSERT(complete(1));
    CU_ASSERT(cl.rsp[1] && cl.rsp[1]->out_end);
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "1"));
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 1.0));
    finish_conn();
}

/* ---- suite ------------------------------------------------------------ */

static int
init(void)
{
    cl.fd = -1;
    cl.loop = ev_loop_new(EVFLAG_AUTO);
    if (!cl.loop)
        return -1;
    evf__loop_set(cl.loop);
    evf_log_set_level(EVF_LOG_LVL_WARN);
    evf_settings.max_reqs_per_conn = 1024;
    evf_settings.out_high_water = 256 * 1024;
    evf_settings.out_low_water = 64 * 1024;
    evf_settings.request_deadline = 0;
    ev_init(&cl.cap, cap_cb);
    ev_init(&cl.poke, poke_cb);
    return evf_app_register(&app, "test") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_free();
    evf_coro_pool_destroy();
    client_reset();
    free(cl.in);
    free(cl.out);
    evf__loop_set(NULL);
    ev_loop_destroy(cl.loop);
    return 0;
}

static CU_TestInfo tests[] = {
    { "sleeps overlap, shorter first", test_sleep_order },
    { "gather runs sub-tasks at once", test_gather },
    { "deadline: route and evf_set_deadline", test_deadline },
    { "evf_wait_fd: ready and timeout", test_wait_fd },
    { "cancel on connection close", test_cancel_close },
    { "cancel on FCGI_ABORT_REQUEST", test_cancel_abort },
    { "handler without an answer: 500", test_no_answer },
    { "evf_raise mid-handler", test_raise },
    { "router errors byte for byte", test_router_errors },
    { "stream under backpressure", test_stream_backpressure },
    { "stream resumed by another flush", test_stream_drain_by_read },
    { "200 multiplexed requests", test_multiplex },
    { "no FCGI_KEEP_CONN: close after", test_no_keep_conn },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    CU_SuiteInfo suites[] = {
        { .pName = "request", .pInitFunc = init, .pCleanupFunc = cleanup,
          .pTests = tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}
