/*
 * test_request: the request and await layer, end to end (suite "request").
 *
 * A real libev loop serves a real connection: one end of a socketpair is
 * adopted with evf_conn_new(), and the test plays the web server on the
 * other end (fcgi_peer.h), writing FastCGI records by hand and decoding
 * what comes back (STDOUT bytes and END_REQUEST per request id).  The
 * handlers are defined here and registered as an app.  Server and client
 * share the loop, so every await below overlaps with the others on one
 * thread.
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

#include <ev.h>
#include <fastcgi.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#define NMUX 200

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

/* The test's timer: writes a byte into the waiting handler's pipe. */
static ev_timer poke;

/* open_conn: fresh counters. */
static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
    g.pipe_w = -1;
}

/* finish_conn: no more pokes. */
static void
stop_poke(void)
{
    ev_timer_stop(cl.loop, &poke);
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
    if (evf_sleep(r, 0.3) == 0)
        *done = 1;
    g.gathered++;
}

/* /gather: three sub-tasks sleeping 0.3 s each, at once. */
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
    evf_deadline_returns(r, true);
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
    EVF_GET("/deadline", h_deadline, .deadline = 0.05,
            .deadline_returns = true),
    EVF_GET("/setdl", h_setdl),
    EVF_GET("/gatherdl", h_gatherdl, .deadline = 0.05,
            .deadline_returns = true),
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
    finish_conn();
}

/* evf_gather: three 0.3 s sub-tasks take 0.3 s, well under 0.9 s. */
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
    CU_ASSERT(wall >= 0.29);
    CU_ASSERT(wall < 0.6);
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
    CU_ASSERT(g.sleep_took >= 0.04 && g.sleep_took < 0.9);
    CU_ASSERT(wall < 0.9);     /* well before the 1 s sleep's end */
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
    CU_ASSERT(g.sleep_took >= 0.04 && g.sleep_took < 0.9);
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
    CU_ASSERT(g.sleep_took >= 0.04 && g.sleep_took < 0.9);
    finish_conn();
}

/* evf_wait_fd: woken by a write from outside; or timed out. */
static void
test_wait_fd(void)
{
    open_conn();
    ev_timer_set(&poke, 0.05, 0.);
    ev_timer_start(cl.loop, &poke);
    send_get(1, "/waitfd?t=1.0");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_EQUAL(g.poked, 1);
    CU_ASSERT_EQUAL(g.wait_rc, EVF_READ);
    CU_ASSERT(g.wait_took >= 0.04 && g.wait_took < 0.9);   /* not 1 s */
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
    CU_ASSERT(g.wait_took >= 0.04);
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
    CU_ASSERT_TRUE(run_until(nonzero, &g.before_called, 2.0));
    CU_ASSERT_EQUAL(g.before_called, 1);
    CU_ASSERT_EQUAL(evf_stats.in_flight, 1);
    size_t received = cl.received;
    disconnect();
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 0.5));
    run_pending();  /* nothing else may happen afterwards */
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
    CU_ASSERT_TRUE(run_until(nonzero, &g.before_called, 2.0));
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
    run_pending();
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
    /* Once the socket is full the writer waits (the loop idles). */
    CU_ASSERT_TRUE(run_until(server_full, NULL, 5.0));
    run_pending();
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
    CU_ASSERT_TRUE(run_until(server_full, NULL, 5.0));
    run_pending();
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
    CU_ASSERT_TRUE(run_until(all_ended, ids, 8.0));
    double wall = mono() - t0;
    CU_ASSERT(wall < 5.0);     /* at once: one after another takes 10 s */
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

/* ---- fuzz branch: JSON bodies (found by tests/fuzz/fuzz_request) ------ */

/*
 * A JSON body is RFC 8259 JSON in UTF-8: a bare number or string is one
 * (json-c waited for more input after a number, and the body was refused
 * 422); bytes that are not UTF-8 and trailing commas are not (json-c
 * took them, and the handler echoed invalid JSON).
 */
static void
test_json_bodies(void)
{
    static const struct {
        const char *body;
        int status;
        const char *answer;     /* 200: the body; 422: the error type */
    } cases[] = {
        { "1", 200, "1" },
        { "-0.5", 200, "-0.5" },
        { "\"x\"", 200, "\"x\"" },
        { "{\"a\":7} ", 200, "{\"a\":7}" },
        { "{\"a\":\"\xff\xfe\"}", 422, "\"type\":\"json_invalid\"" },
        { "[1,2,]", 422, "\"type\":\"json_invalid\"" },
        { "{} x", 422, "\"error\":\"Extra data\"" },
        /* JSON's null is no body, as FastAPI finds. */
        { " null ", 422, "\"type\":\"missing\"" },
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    uint16_t ids[12];

    open_conn();
    for (size_t i = 0; i < n; i++) {
        ids[i] = (uint16_t)(i + 1);
        send_req(ids[i], FCGI_KEEP_CONN, "POST", "/json", "application/json",
                 cases[i].body);
    }
    ids[n] = 0;
    CU_ASSERT_TRUE(run_until(all_ended, ids, 5.0));
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT_EQUAL(status_of(ids[i]), cases[i].status);
        if (cases[i].status == 200) {
            CU_ASSERT_TRUE(body_is(ids[i], cases[i].answer));
        } else {
            CU_ASSERT_PTR_NOT_NULL(strstr(cl.rsp[ids[i]]->out,
                                          cases[i].answer));
        }
    }
    finish_conn();
}

/* ---- suite ------------------------------------------------------------ */

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    cl.on_open = fresh_state;
    cl.on_finish = stop_poke;
    evf_log_set_level(EVF_LOG_LVL_WARN);
    evf_settings.max_reqs_per_conn = 1024;
    evf_settings.out_high_water = 256 * 1024;
    evf_settings.out_low_water = 64 * 1024;
    evf_settings.request_deadline = 0;
    ev_init(&poke, poke_cb);
    return evf_app_register(&app, "test") < 0 ? -1 : 0;
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
    /* fuzz branch */
    { "JSON bodies: bare values, strict UTF-8", test_json_bodies },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("request", init, cleanup, tests);
}
