/*
 * test_conn: one FastCGI connection (suite "conn").
 *
 * A real libev loop serves one end of a socketpair adopted with
 * evf_conn_new(); the test plays the web server on the other end
 * (fcgi_peer.h).  Covered: records cut at every byte; management records
 * (GET_VALUES, an unknown type); backpressure on a stream the web server
 * does not read; closing with requests open at every stage; FCGI_KEEP_CONN
 * and its absence; a multiplexing peer far over max_requests_per_conn
 * (every extra id refused with FCGI_OVERLOADED, the connection kept);
 * records for ids that just ended (ignored, the id reusable) against
 * records for ids never begun, bad versions and impossible lengths (the
 * connection closed); the answers of one loop iteration leaving in one
 * send().
 */
#include "config.h"

#include <ev.h>
#include <fastcgi.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "loop.h"
#include "settings.h"
#include "stats.h"
#include "unit.h"

#define CHUNK (64 * 1024)
#define STREAM_WRITES 128           /* 8 MiB in all */
#define MAX_REQS 4                  /* max_requests_per_conn in this suite */

static struct {
    unsigned waiting;       /* /wait handlers started */
    unsigned cleaned;       /* their cleanups run */
    unsigned resumed;       /* /wait handlers resumed (must stay 0) */
    unsigned stream_writes;
    bool stream_done;
} g;

static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
}

/* ---- handlers --------------------------------------------------------- */

/* /hello: answers at once, with the body's size when there is one. */
static void
h_hello(evf_req *r)
{
    size_t len = 0;
    evf_body(r, &len);
    evf_json_printf(r, 200, "{\"body\":%zu}", len);
}

static void
cleaned(void *arg)
{
    (void)arg;
    g.cleaned++;
}

/* /wait: waits far longer than any test; meant to be cancelled. */
static void
h_wait(evf_req *r)
{
    evf_defer(r, cleaned, NULL);
    g.waiting++;
    evf_sleep(r, 60.0);
    g.resumed++;
    evf_text(r, 200, "late");
}

static char chunk[CHUNK];

/* /stream: 8 MiB in 64 KiB writes. */
static void
h_stream(evf_req *r)
{
    evf_stream_begin(r, 200, "application/octet-stream");
    for (int i = 0; i < STREAM_WRITES; i++) {
        if (evf_stream_write(r, chunk, sizeof(chunk)) < 0)
            return;
        g.stream_writes++;
    }
    evf_stream_end(r);
    g.stream_done = true;
}

static const evf_route routes[] = {
    EVF_GET("/hello", h_hello),
    EVF_POST("/hello", h_hello),
    EVF_GET("/wait", h_wait),
    EVF_GET("/stream", h_stream),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "conn",
    .routes = routes,
};

/* ---- conditions --------------------------------------------------------- */

/* The server has read every byte sent so far. */
static bool
server_read_all(const void *arg)
{
    int n = 0;
    (void)arg;
    return ioctl(cl.sfd, FIONREAD, &n) == 0 && n == 0;
}

/* The server's end can take no more output (the client is not reading). */
static bool
server_blocked(const void *arg)
{
    struct pollfd p = { .fd = cl.sfd, .events = POLLOUT };
    (void)arg;
    return g.stream_writes > 0 && poll(&p, 1, 0) == 0;
}

static bool
waiting_is(const void *arg)
{
    return g.waiting == *(const unsigned *)arg;
}

static bool
stream_done(const void *arg)
{
    (void)arg;
    return g.stream_done && cl.rsp[1] && cl.rsp[1]->ends;
}

static bool
mgmt_answers(const void *arg)
{
    return cl.rsp[0] && cl.rsp[0]->ends >= *(const unsigned *)arg;
}

/* Ids first..last (inclusive) have all ended. */
static bool
range_ended(uint16_t first, uint16_t last, double secs)
{
    static uint16_t ids[256];
    size_t n = 0;
    CU_ASSERT_FATAL(last - first + 1u < sizeof(ids) / sizeof(ids[0]));
    for (unsigned id = first; id <= last; id++)
        ids[n++] = (uint16_t)id;
    ids[n] = 0;
    return run_until(all_ended, ids, secs);
}

/* Take the queued records out of the client's output, unsent. */
static size_t
take_queued(uint8_t *buf, size_t cap)
{
    size_t n = cl.out.len - cl.out_off;
    CU_ASSERT_FATAL(n <= cap);
    memcpy(buf, cl.out.p + cl.out_off, n);
    cl.out_off = cl.out.len = 0;
    return n;
}

/* ---- tests ------------------------------------------------------------ */

/*
 * Two requests and two management records, sent one byte at a time; the
 * server reads each byte before the next is sent, so every field of every
 * record is cut somewhere.
 */
static void
test_split_every_byte(void)
{
    static uint8_t wire[4096];
    uint8_t ask[64];
    size_t n = 0, len;

    open_conn();
    put_begin(1, FCGI_KEEP_CONN);
    put_params(1, "POST", "/hello", "text/plain", "abcdefghij");
    put_record(FCGI_STDIN, 1, "abcde", 5);
    put_record(FCGI_STDIN, 1, "fghij", 5);
    put_record(FCGI_STDIN, 1, NULL, 0);
    n += put_pair(ask + n, FCGI_MPXS_CONNS, "");
    put_record(FCGI_GET_VALUES, 0, ask, n);
    put_record(77, 0, "1234567", 7);
    put_begin(300, FCGI_KEEP_CONN);
    put_params(300, "GET", "/hello", NULL, NULL);
    put_record(FCGI_STDIN, 300, NULL, 0);
    len = take_queued(wire, sizeof(wire));
    for (size_t i = 0; i < len; i++) {
        ssize_t w = send(cl.fd, wire + i, 1, MSG_NOSIGNAL);
        CU_ASSERT_EQUAL_FATAL(w, 1);
        CU_ASSERT_TRUE_FATAL(run_until(server_read_all, NULL, 2.0));
        CU_ASSERT_FATAL(!cl.eof);
    }
    uint16_t ids[] = { 1, 300, 0 };
    unsigned two = 2;
    CU_ASSERT_TRUE(run_until(all_ended, ids, 2.0));
    CU_ASSERT_TRUE(run_until(mgmt_answers, &two, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT(body_is(1, "{\"body\":10}"));
    CU_ASSERT(complete(300));
    CU_ASSERT(body_is(300, "{\"body\":0}"));
    CU_ASSERT_FALSE(cl.eof);
    finish_conn();
}

/* GET_VALUES answers what it knows; an unknown type gets UNKNOWN_TYPE. */
static void
test_management(void)
{
    uint8_t ask[128];
    size_t n = 0;
    unsigned one = 1;

    open_conn();
    n += put_pair(ask + n, FCGI_MAX_CONNS, "");
    n += put_pair(ask + n, "NOT_A_VARIABLE", "");
    n += put_pair(ask + n, FCGI_MPXS_CONNS, "");
    put_record(FCGI_GET_VALUES, 0, ask, n);
    client_flush();
    CU_ASSERT_TRUE_FATAL(run_until(mgmt_answers, &one, 2.0));
    rsp_t *r = cl.rsp[0];
    CU_ASSERT_EQUAL(r->pstatus, FCGI_GET_VALUES_RESULT);
    char want[64];
    size_t wl = 0;
    char maxconns[24];
    snprintf(maxconns, sizeof(maxconns), "%u", evf_settings.max_conns);
    wl += put_pair((uint8_t *)want + wl, FCGI_MAX_CONNS, maxconns);
    wl += put_pair((uint8_t *)want + wl, FCGI_MPXS_CONNS, "1");
    CU_ASSERT(unit_mem_eq(r->out, r->len, want, wl));

    rsp_clear(0);
    put_record(200, 0, "xyz", 3);
    client_flush();
    CU_ASSERT_TRUE_FATAL(run_until(mgmt_answers, &one, 2.0));
    CU_ASSERT_EQUAL(cl.rsp[0]->pstatus, FCGI_UNKNOWN_TYPE);
    CU_ASSERT(cl.rsp[0]->len == 8 && (uint8_t)cl.rsp[0]->out[0] == 200);

    /* A malformed GET_VALUES closes the connection. */
    put_record(FCGI_GET_VALUES, 0, "\x05", 1);
    client_flush();
    CU_ASSERT_TRUE(run_until(got_eof, NULL, 2.0));
    finish_conn();
}

/*
 * A web server that stops reading: the stream's writer waits instead of
 * queueing all 8 MiB, and finishes once the web server reads again.
 */
static void
test_backpressure(void)
{
    size_t hw = evf_settings.out_high_water;
    size_t lw = evf_settings.out_low_water;
    evf_settings.out_high_water = 4096;
    evf_settings.out_low_water = 1024;

    open_conn();
    ev_io_stop(cl.loop, &cl.rio);
    send_get(1, "/stream");
    CU_ASSERT_TRUE_FATAL(run_until(server_blocked, NULL, 5.0));
    for (int i = 0; i < 20; i++)
        ev_run(cl.loop, EVRUN_NOWAIT);
    /* What a socket buffer holds, plus at most a couple of writes. */
    CU_ASSERT(g.stream_writes < STREAM_WRITES / 4);
    CU_ASSERT_FALSE(g.stream_done);
    ev_io_start(cl.loop, &cl.rio);
    CU_ASSERT_TRUE(run_until(stream_done, NULL, 10.0));
    size_t len = 0;
    CU_ASSERT(body_of(1, &len) != NULL);
    CU_ASSERT_EQUAL(len, (size_t)STREAM_WRITES * CHUNK);
    CU_ASSERT(complete(1));
    finish_conn();
    evf_settings.out_high_water = hw;
    evf_settings.out_low_water = lw;
}

/*
 * The web server closes with requests open: two handlers waiting, one
 * request still in PARAMS, one in STDIN.  All are cancelled, cleanups run
 * once, no handler is resumed, nothing is left (finish_conn checks).
 */
static void
test_close_with_requests(void)
{
    unsigned two = 2;

    open_conn();
    send_get(1, "/wait");
    send_get(2, "/wait");
    put_begin(3, FCGI_KEEP_CONN);
    put_record(FCGI_PARAMS, 3, "\x01\x01" "AB", 4);
    put_begin(4, FCGI_KEEP_CONN);
    put_params(4, "POST", "/hello", "text/plain", "abc");
    put_record(FCGI_STDIN, 4, "a", 1);
    client_flush();
    CU_ASSERT_TRUE_FATAL(run_until(waiting_is, &two, 2.0));
    CU_ASSERT_TRUE(run_until(server_read_all, NULL, 2.0));
    CU_ASSERT_EQUAL(evf_stats.in_flight, 4);
    disconnect();
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 2.0));
    CU_ASSERT_EQUAL(g.cleaned, 2);
    CU_ASSERT_EQUAL(g.resumed, 0);
    finish_conn();
}

/* With FCGI_KEEP_CONN the connection serves request after request;
 * without it, it is closed after the END_REQUEST. */
static void
test_keep_conn(void)
{
    open_conn();
    for (int i = 0; i < 3; i++) {
        rsp_clear(1);
        send_get(1, "/hello");
        CU_ASSERT_TRUE(ended(1, 2.0));
        CU_ASSERT(complete(1));
    }
    CU_ASSERT_FALSE(cl.eof);
    CU_ASSERT_EQUAL(evf_conn_count(), 1);
    rsp_clear(1);
    send_req(1, 0, "GET", "/hello", NULL, NULL);
    CU_ASSERT_TRUE(run_until(got_eof, NULL, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 2.0));
    finish_conn();
}

/*
 * A multiplexing peer opens max_requests_per_conn + 20 requests, every
 * BEGIN_REQUEST first, then every PARAMS, then every STDIN: the extra ids
 * are refused with FCGI_OVERLOADED and their later records dropped; the
 * others complete and the connection stays open for more.
 */
static void
test_over_limit(void)
{
    const uint16_t last = MAX_REQS + 20;
    uint64_t rejected = evf_stats.rejected_overload;

    open_conn();
    for (uint16_t id = 1; id <= last; id++)
        put_begin(id, FCGI_KEEP_CONN);
    for (uint16_t id = 1; id <= last; id++)
        put_params(id, "GET", "/hello", NULL, NULL);
    for (uint16_t id = 1; id <= last; id++)
        put_record(FCGI_STDIN, id, NULL, 0);
    client_flush();
    CU_ASSERT_TRUE(range_ended(1, last, 3.0));
    unsigned ok = 0, refused = 0;
    for (uint16_t id = 1; id <= last; id++) {
        rsp_t *r = cl.rsp[id];
        if (id <= MAX_REQS && complete(id) && status_of(id) == 200)
            ok++;
        if (id > MAX_REQS && r && r->ends == 1 &&
            r->pstatus == FCGI_OVERLOADED && r->len == 0 && !r->out_end)
            refused++;
    }
    CU_ASSERT_EQUAL(ok, MAX_REQS);
    CU_ASSERT_EQUAL(refused, last - MAX_REQS);
    CU_ASSERT_EQUAL(evf_stats.rejected_overload - rejected,
                    (uint64_t)(last - MAX_REQS));
    CU_ASSERT_FALSE(cl.eof);

    /* Still open: a refused id and a new one are served now. */
    rsp_clear(last);
    send_get(last, "/hello");
    send_get(1000, "/hello");
    uint16_t ids[] = { last, 1000, 0 };
    CU_ASSERT_TRUE(run_until(all_ended, ids, 2.0));
    CU_ASSERT(complete(last));
    CU_ASSERT(complete(1000));
    CU_ASSERT_FALSE(cl.eof);
    CU_ASSERT_EQUAL(evf_conn_count(), 1);
    finish_conn();
}

/*
 * Answers produced in one loop iteration for one connection leave in one
 * send(): four requests arriving in one read are answered with one write.
 */
static void
test_one_send_per_iteration(void)
{
    open_conn();
    for (uint16_t id = 1; id <= MAX_REQS; id++) {
        put_begin(id, FCGI_KEEP_CONN);
        put_params(id, "GET", "/hello", NULL, NULL);
        put_record(FCGI_STDIN, id, NULL, 0);
    }
    uint64_t sends = evf_stats.sends;
    client_flush();
    CU_ASSERT_TRUE(range_ended(1, MAX_REQS, 3.0));
    for (uint16_t id = 1; id <= MAX_REQS; id++)
        CU_ASSERT(complete(id) && status_of(id) == 200);
    CU_ASSERT_EQUAL(evf_stats.sends - sends, 1);
    finish_conn();
}

/*
 * A worker that stops gracefully decides it is done in a timer callback,
 * which may run after the last answer was buffered and before the loop's
 * flush (the prepare watcher of the next iteration): evf_conn_flush_all()
 * writes it first, so closing every connection then loses nothing.  (The
 * worker used to stop without it: 1 of 20 answers became nginx's 502.)
 */
static void
test_flush_all_before_close(void)
{
    open_conn();
    put_begin(1, FCGI_KEEP_CONN);
    put_params(1, "GET", "/hello", NULL, NULL);
    put_record(FCGI_STDIN, 1, NULL, 0);
    uint64_t finished = evf_stats.requests, sends = evf_stats.sends;
    client_flush();
    for (int i = 0; i < 100000 && evf_stats.requests == finished; i++)
        ev_run(cl.loop, EVRUN_NOWAIT);
    CU_ASSERT_EQUAL_FATAL(evf_stats.requests, finished + 1);
    CU_ASSERT_EQUAL(evf_stats.sends, sends);    /* buffered, not yet sent */
    CU_ASSERT_TRUE(evf_conn_flush_all());
    CU_ASSERT_EQUAL(evf_stats.sends, sends + 1);
    evf_conn_close_all();
    uint16_t ids[] = { 1, 0 };
    CU_ASSERT_TRUE(run_until(all_ended, ids, 3.0));
    CU_ASSERT(complete(1) && status_of(1) == 200);
    finish_conn();
}

/* The body size /hello reported for request id is n. */
static bool
body_reported(uint16_t id, size_t n)
{
    char want[48];
    snprintf(want, sizeof(want), "{\"body\":%zu}", n);
    rsp_t *r = cl.rsp[id];
    return r && r->out && strstr(r->out, want);
}

static bool
server_read_all_and_answered(const void *arg)
{
    uint16_t ids[] = { 1, 0 };
    return server_read_all(arg) && all_ended(ids);
}

/*
 * One loop iteration reads at most the read budget from all connections
 * (plus one read): a burst cannot hold the loop for long.  With a budget
 * of one byte, 150 KiB waiting take several iterations, and all arrives.
 */
static void
test_read_budget(void)
{
    static char body[150 * 1024 + 1];
    memset(body, 'b', sizeof(body) - 1);
    open_conn();
    put_begin(1, FCGI_KEEP_CONN);
    put_params(1, "POST", "/hello", "text/plain", body);
    for (size_t off = 0; off < sizeof(body) - 1; off += 50 * 1024)
        put_record(FCGI_STDIN, 1, body + off, 50 * 1024);
    put_record(FCGI_STDIN, 1, NULL, 0);
    client_flush();
    CU_ASSERT_EQUAL_FATAL(cl.out.len, 0);   /* all of it in the socket */

    int waiting = 0, left = 0;
    CU_ASSERT_EQUAL_FATAL(ioctl(cl.sfd, FIONREAD, &waiting), 0);
    CU_ASSERT_FATAL(waiting > 150 * 1024);
    evf_conn_set_read_budget(1);
    ev_run(cl.loop, EVRUN_NOWAIT);
    CU_ASSERT_EQUAL(ioctl(cl.sfd, FIONREAD, &left), 0);
    CU_ASSERT(left >= waiting - 64 * 1024);
    CU_ASSERT_TRUE(run_until(server_read_all_and_answered, NULL, 3.0));
    CU_ASSERT(body_reported(1, sizeof(body) - 1));
    evf_conn_set_read_budget(0);
    finish_conn();
}

/*
 * The budget is fair.  Eight connections, each answered at once and sent
 * its next request as soon as its answer arrives; the budget lets one
 * read through per iteration.  Every connection is served in turn: none
 * waits while the busiest ones are read again and again.  (libev runs the
 * I/O callbacks of an iteration newest event first, and epoll reports a
 * connection that stayed readable before those that became readable
 * since: without the read queue, the two connections answered last took
 * every read and the six others starved.)
 */
#define FAIR_CONNS 8
#define FAIR_ROUNDS 96

static void
fair_send(int fd)
{
    struct fw_buf b = { 0 }, nv = { 0 };
    fw_begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    fw_nv_add(&nv, "REQUEST_METHOD", 14, "GET", 3);
    fw_nv_add(&nv, "REQUEST_URI", 11, "/hello", 6);
    fw_nv_add(&nv, "QUERY_STRING", 12, "", 0);
    fw_rec_add(&b, FCGI_PARAMS, 1, nv.p, nv.len, fw_pad8(nv.len));
    fw_rec_add(&b, FCGI_PARAMS, 1, NULL, 0, 0);
    fw_rec_add(&b, FCGI_STDIN, 1, NULL, 0, 0);
    CU_ASSERT_FATAL(write(fd, b.p, b.len) == (ssize_t)b.len);
    free(b.p);
    free(nv.p);
}

/* END_REQUEST records among the whole records at the start of in (the
 * rest, a record cut short, stays for the next read). */
static unsigned
fair_ends(struct fw_buf *in)
{
    unsigned ends = 0;
    size_t off = 0;
    while (in->len - off >= FCGI_HEADER_LEN) {
        struct fw_rec rec;
        fw_hdr_get(in->p + off, &rec);
        size_t whole = FCGI_HEADER_LEN + rec.clen + rec.plen;
        if (in->len - off < whole)
            break;
        ends += rec.type == FCGI_END_REQUEST;
        off += whole;
    }
    memmove(in->p, in->p + off, in->len - off);
    in->len -= off;
    return ends;
}

static void
test_read_budget_fair(void)
{
    int fd[FAIR_CONNS];
    struct fw_buf in[FAIR_CONNS] = { { 0 } };
    unsigned answers[FAIR_CONNS] = { 0 }, least = FAIR_ROUNDS;

    for (int i = 0; i < FAIR_CONNS; i++) {
        int sv[2];
        CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
        nonblock(sv[0]);
        nonblock(sv[1]);
        CU_ASSERT_FATAL(evf_conn_new(sv[1]) != NULL);
        fd[i] = sv[0];
    }
    for (int i = 0; i < FAIR_CONNS; i++)
        fair_send(fd[i]);
    evf_conn_set_read_budget(1);
    for (int round = 0; round < FAIR_ROUNDS; round++) {
        ev_run(cl.loop, EVRUN_NOWAIT);
        for (int i = 0; i < FAIR_CONNS; i++) {
            ssize_t n;
            do {
                n = read(fd[i], fw_room(&in[i], 4096), 4096);
                if (n > 0)
                    in[i].len += (size_t)n;
            } while (n > 0);
            unsigned ends = fair_ends(&in[i]);
            answers[i] += ends;
            if (ends)
                fair_send(fd[i]);
        }
    }
    evf_conn_set_read_budget(0);
    for (int i = 0; i < FAIR_CONNS; i++) {
        if (answers[i] < least)
            least = answers[i];
        close(fd[i]);
        free(in[i].p);
    }
    /* 96 iterations, one read each, 8 connections: about 6 answers each
     * when fair (an answer leaves in the iteration after its read). */
    CU_ASSERT(least >= 3);
    run_until(no_conn, NULL, 2.0);
    CU_ASSERT_EQUAL(evf_conn_count(), 0);
}

/*
 * Records for an id that just ended cross its END_REQUEST on the wire: an
 * ABORT after a request completed, late STDIN after an abort ended it,
 * STDIN after a complete request.  They are ignored: the connection, the
 * request still open on it and the reuse of the id all go on.
 */
static void
test_records_after_end(void)
{
    unsigned one = 1;

    open_conn();
    send_get(9, "/wait");                   /* stays open throughout */
    CU_ASSERT_TRUE_FATAL(run_until(waiting_is, &one, 2.0));

    /* ABORT after END_REQUEST. */
    send_get(1, "/hello");
    CU_ASSERT_TRUE(ended(1, 2.0));
    send_abort(1);
    rsp_clear(1);
    send_get(1, "/hello");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));

    /* Late STDIN after an abort ended the request in its body. */
    rsp_clear(2);
    put_begin(2, FCGI_KEEP_CONN);
    put_params(2, "POST", "/hello", "text/plain", "abcdef");
    put_record(FCGI_STDIN, 2, "abc", 3);
    client_flush();
    send_abort(2);
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT(cl.rsp[2] && cl.rsp[2]->len == 0);
    put_record(FCGI_STDIN, 2, "def", 3);
    put_record(FCGI_STDIN, 2, NULL, 0);
    send_abort(2);
    rsp_clear(2);
    send_get(2, "/hello");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT(complete(2));
    CU_ASSERT(body_is(2, "{\"body\":0}"));

    /* STDIN and PARAMS after a complete request. */
    put_record(FCGI_STDIN, 2, "x", 1);
    put_record(FCGI_PARAMS, 2, NULL, 0);
    rsp_clear(3);
    send_get(3, "/hello");
    CU_ASSERT_TRUE(ended(3, 2.0));
    CU_ASSERT(complete(3));

    /* A refused id, reused at once after its records. */
    size_t max = evf_settings.max_reqs_per_conn;
    evf_settings.max_reqs_per_conn = 1;     /* /wait holds the only slot */
    rsp_clear(4);
    send_get(4, "/hello");
    CU_ASSERT_TRUE(ended(4, 2.0));
    CU_ASSERT(cl.rsp[4] && cl.rsp[4]->pstatus == FCGI_OVERLOADED);
    evf_settings.max_reqs_per_conn = max;
    rsp_clear(4);
    send_get(4, "/hello");
    CU_ASSERT_TRUE(ended(4, 2.0));
    CU_ASSERT(complete(4));

    CU_ASSERT_FALSE(cl.eof);
    CU_ASSERT_EQUAL(evf_conn_count(), 1);
    CU_ASSERT(cl.rsp[9] == NULL);           /* /wait still waiting */
    CU_ASSERT_EQUAL(g.cleaned, 0);
    finish_conn();
    CU_ASSERT_EQUAL(g.cleaned, 1);
}

/* A header cut short of its content, a bad version, an id never begun. */
static void
close_on(const char *what, const uint8_t *bytes, size_t len, bool shut)
{
    open_conn();
    send_get(1, "/hello");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT_EQUAL(send(cl.fd, bytes, len, MSG_NOSIGNAL), (ssize_t)len);
    if (shut)
        shutdown(cl.fd, SHUT_WR);
    if (!run_until(got_eof, NULL, 2.0)) {
        fprintf(stderr, "\n    %s: the connection stayed open\n", what);
        CU_FAIL("garbage did not close the connection");
    }
    finish_conn();
}

static void
test_garbage_closes(void)
{
    /* PARAMS for id 7, never begun. */
    static const uint8_t never[] = { 1, FCGI_PARAMS, 0, 7, 0, 0, 0, 0 };
    /* BEGIN_REQUEST of 7 content bytes (it has 8). */
    static const uint8_t badlen[] = {
        1, FCGI_BEGIN_REQUEST, 0, 5, 0, 7, 0, 0,  0, 1, 1, 0, 0, 0, 0
    };
    /* Version 2. */
    static const uint8_t badver[] = {
        2, FCGI_BEGIN_REQUEST, 0, 5, 0, 8, 0, 0,  0, 1, 1, 0, 0, 0, 0, 0
    };
    /* ABORT with content (it has none). */
    static const uint8_t badabort[] = {
        1, FCGI_ABORT_REQUEST, 0, 1, 0, 1, 0, 0,  0
    };
    /* A duplicate BEGIN_REQUEST for an open id. */
    static const uint8_t dup[] = {
        1, FCGI_BEGIN_REQUEST, 0, 5, 0, 8, 0, 0,  0, 1, 1, 0, 0, 0, 0, 0,
        1, FCGI_BEGIN_REQUEST, 0, 5, 0, 8, 0, 0,  0, 1, 1, 0, 0, 0, 0, 0
    };
    /* Half a header, then the end of the stream. */
    static const uint8_t half[] = { 1, FCGI_STDIN, 0, 1 };

    close_on("id never begun", never, sizeof(never), false);
    close_on("BEGIN of length 7", badlen, sizeof(badlen), false);
    close_on("version 2", badver, sizeof(badver), false);
    close_on("ABORT with content", badabort, sizeof(badabort), false);
    close_on("duplicate BEGIN", dup, sizeof(dup), false);
    close_on("half a header", half, sizeof(half), true);
}

/* ---- suite ------------------------------------------------------------ */

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = MAX_REQS;
    evf_settings.out_high_water = 256 * 1024;
    evf_settings.out_low_water = 64 * 1024;
    evf_settings.request_deadline = 0;
    return evf_app_register(&app, "conn") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    return 0;
}

static CU_TestInfo tests[] = {
    { "records cut at every byte", test_split_every_byte },
    { "management records", test_management },
    { "backpressure on an unread stream", test_backpressure },
    { "close with requests open", test_close_with_requests },
    { "FCGI_KEEP_CONN and without", test_keep_conn },
    { "max_requests_per_conn + 20 on one connection", test_over_limit },
    { "records for an id that just ended", test_records_after_end },
    { "one send per connection per iteration", test_one_send_per_iteration },
    { "answers written before closing all", test_flush_all_before_close },
    { "a read budget per loop iteration", test_read_budget },
    { "the read budget is fair", test_read_budget_fair },
    { "garbage still closes", test_garbage_closes },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("conn", init, cleanup, tests);
}
