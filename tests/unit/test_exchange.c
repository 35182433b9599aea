/*
 * Unit tests for the request's life cycle (exchange.c), its answers
 * (response.c) and the scheduler's deadline (task.c), through a real
 * connection on a socketpair and a real loop (fcgi_peer.h).
 *
 * Covered: a passed deadline answers 504 without resuming the handler,
 * and runs its cleanups and dependency teardowns (route deadline,
 * evf_set_deadline, an evf_to_thread job left running); opting in returns
 * EVF_ETIMEDOUT instead; an error answer carries only its own headers
 * (evf_raise_headers); dependencies run before the handler's 422;
 * declared dependencies are readable from a blocking handler; awaits
 * misused on a pool thread return EVF_EINVAL; out of memory anywhere on
 * the request path answers that request (503) and keeps the connection;
 * app-level evf_log(NULL, ...); the built-in ping and status pages;
 * response heads refuse header names that are not tokens or are reserved,
 * values and content types with control bytes (byte-exact heads); a %00
 * in a path or query value answers 422, and bytes that are not UTF-8
 * echoed in a 422 or a raised detail become U+FFFD (valid JSON).
 */
#include "config.h"

#include <ev.h>
#include <fastcgi.h>
#include <json-c/json.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "builtin.h"
#include "conn.h"
#include "coro.h"
#include "exchange.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "loop.h"
#include "oom.h"
#include "pool.h"
#include "settings.h"
#include "stats.h"
#include "unit.h"
#include "url.h"

static struct {
    unsigned after;         /* handler went on after an await */
    unsigned defers;
    unsigned teardowns;
    int rc;
    int job_pipe[2];        /* the left-running job waits on it */
    volatile int job_done;
    atomic_bool job_started;    /* a pool thread took blocked_job */
} g;

static void
count_defer(void *arg)
{
    (void)arg;
    g.defers++;
}

static void
count_teardown(evf_req *r, void *arg)
{
    (void)r, (void)arg;
    g.teardowns++;
}

static void *
session(evf_req *r)
{
    evf_teardown(r, count_teardown, NULL);
    return (void *)"session";
}

static const evf_dep session_dep = { .name = "session", .resolve = session };

/* /expire (deadline 0.05 s): a long sleep; never resumed. */
static void
h_expire(evf_req *r)
{
    evf_defer(r, count_defer, NULL);
    evf_sleep(r, 30);
    g.after++;
    evf_text(r, 200, "too late");
}

static void
h_expire_set(evf_req *r)
{
    evf_defer(r, count_defer, NULL);
    evf_set_deadline(r, 0.05);
    int p[2];
    if (pipe(p) < 0) {
        evf_raise(r, 500, NULL);
        return;
    }
    evf_wait_fd(r, p[0], EVF_READ, 30);
    close(p[0]);
    close(p[1]);
    g.after++;
    evf_text(r, 200, "too late");
}

/* /returns: opted in, the sleep returns EVF_ETIMEDOUT to the handler. */
static void
h_returns(evf_req *r)
{
    g.rc = evf_sleep(r, 30);
    g.after++;
    evf_text(r, 200, "degraded");
}

static void
blocked_job(void *arg)
{
    char c;
    (void)arg;
    atomic_store(&g.job_started, true);
    ssize_t n = read(g.job_pipe[0], &c, 1);
    (void)n;
    g.job_done = 1;
}

/* /expire-thread (deadline 0.05 s): the job outlives the request. */
static void
h_expire_thread(evf_req *r)
{
    evf_defer(r, count_defer, NULL);
    evf_to_thread(r, blocked_job, NULL);
    g.after++;
    evf_text(r, 200, "too late");
}

/* Success headers, then an error with its own. */
static void
h_raise_hdr(evf_req *r)
{
    evf_add_header(r, "Location", "/elsewhere");
    static const char *const h[] = { "WWW-Authenticate: Bearer", NULL };
    evf_raise_headers(r, 401, "Not authenticated", h);
    g.after++;
}

static void
h_raise_plain(evf_req *r)
{
    evf_add_header(r, "Location", "/elsewhere");
    evf_raise(r, 404, "Item not found");
}

/* The token check of /auth: 401 unless the query says token=ok. */
static void *
auth(evf_req *r)
{
    const char *qs = evf_param(r, "QUERY_STRING");
    if (!qs || !strstr(qs, "token=ok")) {
        static const char *const h[] = { "WWW-Authenticate: Bearer", NULL };
        evf_raise_headers(r, 401, "Not authenticated", h);
    }
    return (void *)"user";
}

static const evf_dep auth_dep = { .name = "auth", .resolve = auth };

static const evf_query q_int[] = {
    EVF_Q("q", EVF_INT),
    { .name = NULL },
};

static void
h_auth(evf_req *r)
{
    evf_json_printf(r, 200, "{\"q\":%lld}", (long long)evf_query_int(r, "q"));
}

static void *
value(evf_req *r)
{
    (void)r;
    return (void *)"v";
}

static const evf_dep value_dep = { .name = "value", .resolve = value };
static const evf_dep other_dep = { .name = "other", .resolve = value };

/* Blocking: the declared value is there; an undeclared one is not. */
static void
h_blocking_dep(evf_req *r)
{
    const char *v = evf_depends(r, &value_dep);
    const char *o = evf_depends(r, &other_dep);
    char out[64];
    snprintf(out, sizeof(out), "%s,%s", v ? v : "NULL", o ? o : "NULL");
    evf_text(r, 200, out);
}

static int misuse_rc[4];

static void
misuse_job(void *arg)
{
    evf_req *r = arg;
    evf_http_opts o = { .url = "http://127.0.0.1:9/" };
    evf_http_response resp;
    misuse_rc[0] = evf_http(r, &o, &resp);
    misuse_rc[1] = evf_sleep(r, 0.01);
    misuse_rc[2] = evf_wait_fd(r, 0, EVF_READ, 0.01);
    misuse_rc[3] = evf_to_thread(r, blocked_job, NULL);
}

static void
h_pool_misuse(evf_req *r)
{
    memset(misuse_rc, 0, sizeof(misuse_rc));
    evf_to_thread(r, misuse_job, r);
    evf_json_printf(r, 200, "[%d,%d,%d,%d]", misuse_rc[0], misuse_rc[1],
                    misuse_rc[2], misuse_rc[3]);
}

static void
h_small(evf_req *r)
{
    evf_add_header(r, "X-A", "1");
    evf_json_printf(r, 200, "{\"path\":\"%s\",\"q\":%lld}", evf_path(r),
                    (long long)evf_query_int(r, "q"));
}

/* /busy: holds the loop 60 ms without awaiting. */
static void
h_busy(evf_req *r)
{
    double t0 = mono();
    while (mono() - t0 < 0.06)
        ;
    evf_text(r, 200, "done");
}

static struct {
    unsigned calls;
    double duration;
    int status;
    char route[64];
} fin;

static void
on_finished(const evf_access_entry_t *e, void *ud)
{
    (void)ud;
    fin.calls++;
    fin.duration = e->duration;
    fin.status = e->status;
    snprintf(fin.route, sizeof(fin.route), "%s", e->route ? e->route : "");
}

static volatile int bg_job_ran;
static int bg_rc = 1;

static void
bg_job(void *arg)
{
    (void)arg;
    bg_job_ran = 1;
}

static void
bg_task(evf_req *r, void *arg)
{
    (void)arg;
    bg_rc = evf_to_thread(r, bg_job, NULL);
}

/* /background: answers, then a background task runs a pool job. */
static void
h_background(evf_req *r)
{
    evf_background(r, bg_task, NULL);
    evf_text(r, 200, "queued");
}

/* ---- response heads ---- */

static int hdr_rc[8];

/* /hdrs: one valid header among refused ones. */
static void
h_hdrs(evf_req *r)
{
    hdr_rc[0] = evf_add_header(r, "X-Ok", "a\tb");
    hdr_rc[1] = evf_add_header(r, "Bad Name", "v");
    hdr_rc[2] = evf_add_header(r, "X-V", "a\r\nSet-Cookie: x=1");
    hdr_rc[3] = evf_add_header(r, "X-N", "a\001b");
    hdr_rc[4] = evf_add_header(r, "status", "200");
    hdr_rc[5] = evf_add_header(r, "CONTENT-LENGTH", "0");
    hdr_rc[6] = evf_add_header(r, "X:Y", "v");
    hdr_rc[7] = evf_add_header(r, "X-Del", "a\177");
    evf_respond(r, 200, "text/plain", "ok", 2);
}

/*
 * /hdrs-long: 27-byte values (three words and a last, overlapping one), a
 * control byte at each place (the check reads eight bytes at a time).
 */
static int long_bad[27], long_ok[4];

static void
h_hdrs_long(evf_req *r)
{
    char v[40];
    static const char bad[] = { '\r', '\n', '\0' + 1, 0x1f, 0x7f };
    for (int i = 0; i < 27; i++) {
        memset(v, 'a', sizeof(v));
        v[26] = 'z';
        v[27] = '\0';
        /* Every position, a different control byte each. */
        v[i] = bad[i % 5];
        long_bad[i] = evf_add_header(r, "X-Bad", v);
    }
    long_ok[0] = evf_add_header(r, "X-L1", "0123456789abcdef0123456789");
    long_ok[1] = evf_add_header(r, "X-L2", "01234567\t9abcdef01234\t6");
    long_ok[2] = evf_add_header(r, "X-L3",
                                "caf\xc3\xa9 \xe2\x82\xac ~ \xff\x80 !");
    long_ok[3] = evf_add_header(r, "X-L4",
                                " !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~");
    evf_respond(r, 200, "text/plain", "ok", 2);
}

/* /hdrs-names: "X" and each byte 1-255 as a header name. */
static int name_rc[256];

static void
h_hdrs_names(evf_req *r)
{
    for (int c = 1; c < 256; c++) {
        char name[3] = { 'X', (char)c, '\0' };
        name_rc[c] = evf_add_header(r, name, "v");
    }
    evf_respond(r, 200, "text/plain", "ok", 2);
}

/* /ctype: a content type carrying a header of its own. */
static void
h_ctype(evf_req *r)
{
    g.rc = evf_respond(r, 200, "a\r\nSet-Cookie: x=1", "x", 1);
}

static void
h_ctype_stream(evf_req *r)
{
    g.rc = evf_stream_begin(r, 200, "a\nSet-Cookie: x=1");
    if (g.rc == 0)
        evf_stream_end(r);
}

static void
h_raise_inject(evf_req *r)
{
    static const char *const hdrs[] = {
        "WWW-Authenticate: Bearer\r\nSet-Cookie: x=1", NULL
    };
    evf_raise_headers(r, 401, "no", hdrs);
}

/* /raise-bytes: a detail that is not UTF-8. */
static void
h_raise_bytes(evf_req *r)
{
    evf_raise(r, 404, "no \xff\xfe item");
}

static const evf_query q_opt[] = {
    EVF_Q("q", EVF_INT, .def = "0"),
    { .name = NULL },
};

static const evf_route routes[] = {
    EVF_GET("/expire", h_expire, .deadline = 0.05,
            .deps = EVF_DEPS(&session_dep)),
    EVF_GET("/expire-set", h_expire_set),
    EVF_GET("/returns", h_returns, .deadline = 0.05,
            .deadline_returns = true),
    EVF_GET("/expire-thread", h_expire_thread, .deadline = 0.05),
    EVF_GET("/raise-hdr", h_raise_hdr),
    EVF_GET("/raise-plain", h_raise_plain),
    EVF_GET("/auth", h_auth, .query = q_int, .deps = EVF_DEPS(&auth_dep)),
    EVF_GET("/blocking-dep", h_blocking_dep, .blocking = true,
            .deps = EVF_DEPS(&value_dep)),
    EVF_GET("/pool-misuse", h_pool_misuse),
    EVF_GET("/small/{x}", h_small, .query = q_opt),
    EVF_GET("/busy", h_busy),
    EVF_GET("/hdrs", h_hdrs),
    EVF_GET("/hdrs-long", h_hdrs_long),
    EVF_GET("/hdrs-names", h_hdrs_names),
    EVF_GET("/raise-bytes", h_raise_bytes),
    EVF_GET("/ctype", h_ctype),
    EVF_GET("/ctype-stream", h_ctype_stream),
    EVF_GET("/raise-inject", h_raise_inject),
    EVF_GET("/background", h_background),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "exchange",
    .routes = routes,
};

static void
fresh_state(void)
{
    int p0 = g.job_pipe[0], p1 = g.job_pipe[1];
    memset(&g, 0, sizeof(g));
    g.job_pipe[0] = p0;
    g.job_pipe[1] = p1;
}

/* ---- deadline ---------------------------------------------------------- */

static void
test_deadline_504(void)
{
    open_conn();
    send_get(1, "/expire");
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 504);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Gateway Timeout\"}"));
    CU_ASSERT_EQUAL(g.after, 0);
    CU_ASSERT_EQUAL(g.defers, 1);
    CU_ASSERT_EQUAL(g.teardowns, 1);

    send_get(2, "/expire-set");
    CU_ASSERT_TRUE(ended(2, 10.0));
    CU_ASSERT_EQUAL(status_of(2), 504);
    CU_ASSERT_EQUAL(g.after, 0);
    CU_ASSERT_EQUAL(g.defers, 2);
    CU_ASSERT_TRUE(run_until(none_in_flight, NULL, 5.0));
    evf_coro_stats_t st;
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
    finish_conn();
}

static void
test_deadline_returns(void)
{
    open_conn();
    send_get(1, "/returns");
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "degraded"));
    CU_ASSERT_EQUAL(g.rc, EVF_ETIMEDOUT);
    CU_ASSERT_EQUAL(g.after, 1);
    finish_conn();
}

/*
 * The deadline also bounds evf_to_thread; the job's memory outlives it.
 * Under load the 50 ms may pass before a pool thread takes the job: then
 * the job is cancelled instead, never runs, and the request goes at once.
 */
static void
test_deadline_thread(void)
{
    open_conn();
    atomic_store(&g.job_started, false);
    send_get(1, "/expire-thread");
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT_EQUAL(status_of(1), 504);
    CU_ASSERT_EQUAL(g.after, 0);
    CU_ASSERT_EQUAL(g.job_done, 0);
    /* Read after the 504: a job not started by then never starts. */
    bool started = atomic_load(&g.job_started);
    if (started)
        CU_ASSERT_EQUAL(evf_stats.in_flight, 1);    /* kept for the job */
    char c = 'x';
    CU_ASSERT_EQUAL(write(g.job_pipe[1], &c, 1), 1);
    CU_ASSERT_TRUE(run_until(none_in_flight, NULL, 5.0));
    CU_ASSERT_EQUAL(g.job_done, started);
    CU_ASSERT_EQUAL(g.defers, 1);
    if (!started) {     /* the byte is for nobody: take it back */
        CU_ASSERT_EQUAL(read(g.job_pipe[0], &c, 1), 1);
    }
    finish_conn();
}

/* ---- answers ------------------------------------------------------------ */

static void
test_error_headers(void)
{
    open_conn();
    send_get(1, "/raise-hdr");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 401);
    CU_ASSERT_TRUE(has_header(1, "WWW-Authenticate: Bearer"));
    CU_ASSERT_FALSE(has_header(1, "Location: /elsewhere"));
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Not authenticated\"}"));
    CU_ASSERT_EQUAL(g.after, 0);

    send_get(2, "/raise-plain");
    CU_ASSERT_TRUE(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 404);
    CU_ASSERT_FALSE(has_header(2, "Location: /elsewhere"));
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":\"Item not found\"}"));
    finish_conn();
}

/* The whole of request id's STDOUT is want. */
static bool
stdout_is(uint16_t id, const char *want)
{
    rsp_t *x = cl.rsp[id];
    return x && x->out && unit_mem_eq(x->out, x->len, want, strlen(want));
}

static const char err500[] =
    "Status: 500 Internal Server Error\r\n"
    "Content-Type: application/json\r\nContent-Length: 34\r\n\r\n"
    "{\"detail\":\"Internal Server Error\"}";

/* Header names are tokens, values have no control byte (HTAB aside). */
static void
test_header_injection(void)
{
    open_conn();
    send_get(1, "/hdrs");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_TRUE(stdout_is(1, "Status: 200 OK\r\n"
                                "Content-Type: text/plain\r\n"
                                "Content-Length: 2\r\n"
                                "X-Ok: a\tb\r\n\r\nok"));
    CU_ASSERT_EQUAL(hdr_rc[0], 0);
    for (int i = 1; i < 8; i++)
        CU_ASSERT_EQUAL(hdr_rc[i], EVF_EINVAL);

    send_get(2, "/ctype");
    CU_ASSERT_TRUE(ended(2, 5.0));
    CU_ASSERT_EQUAL(g.rc, EVF_EINVAL);
    CU_ASSERT_TRUE(stdout_is(2, err500));

    g.rc = 0;
    send_get(3, "/ctype-stream");
    CU_ASSERT_TRUE(ended(3, 5.0));
    CU_ASSERT_EQUAL(g.rc, EVF_EINVAL);
    CU_ASSERT_TRUE(stdout_is(3, err500));

    send_get(4, "/raise-inject");
    CU_ASSERT_TRUE(ended(4, 5.0));
    CU_ASSERT_TRUE(stdout_is(4, "Status: 401 Unauthorized\r\n"
                                "Content-Type: application/json\r\n"
                                "Content-Length: 15\r\n\r\n"
                                "{\"detail\":\"no\"}"));
    finish_conn();
}

/* Long values: every control byte refused wherever it is, the rest kept. */
static void
test_header_long_values(void)
{
    open_conn();
    send_get(1, "/hdrs-long");
    CU_ASSERT_TRUE(ended(1, 5.0));
    for (int i = 0; i < 27; i++)
        CU_ASSERT_EQUAL(long_bad[i], EVF_EINVAL);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(long_ok[i], 0);
    CU_ASSERT_TRUE(stdout_is(1, "Status: 200 OK\r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 2\r\n"
        "X-L1: 0123456789abcdef0123456789\r\n"
        "X-L2: 01234567\t9abcdef01234\t6\r\n"
        "X-L3: caf\xc3\xa9 \xe2\x82\xac ~ \xff\x80 !\r\n"
        "X-L4:  !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\r\n\r\nok"));
    finish_conn();
}

/* A header name takes exactly RFC 9110's token characters. */
static void
test_header_name_bytes(void)
{
    static const char tchars[] = "!#$%&'*+-.^_`|~0123456789"
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    open_conn();
    send_get(1, "/hdrs-names");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    size_t bad = 0;
    for (int c = 1; c < 256; c++) {
        bool token = c < 128 && strchr(tchars, c);
        if (name_rc[c] != (token ? 0 : EVF_EINVAL)) {
            fprintf(stderr, "\n    name byte 0x%02x: %d\n", c, name_rc[c]);
            bad++;
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    /* 78 headers: the head grew past several of its 128-byte steps. */
    CU_ASSERT_TRUE(has_header(1, "X!: v"));
    CU_ASSERT_TRUE(has_header(1, "X0: v"));
    CU_ASSERT_TRUE(has_header(1, "XZ: v"));
    CU_ASSERT_TRUE(has_header(1, "X~: v"));
    finish_conn();
}

/* The body of id parses as JSON and holds no byte that is not UTF-8. */
static bool
body_valid_json(uint16_t id)
{
    size_t len = 0;
    const char *b = body_of(id, &len);
    if (!b)
        return false;
    for (size_t i = 0; i < len;) {
        size_t n = evf_utf8_seq((const unsigned char *)b + i, len - i);
        if (!n || memchr(b + i, '\0', n))
            return false;
        i += n;
    }
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, b, (int)len);
    bool ok = o && json_tokener_get_parse_end(tok) == len;
    json_object_put(o);
    json_tokener_free(tok);
    return ok;
}

static bool
body_has(uint16_t id, const char *want)
{
    size_t len = 0;
    const char *b = body_of(id, &len);
    return b && memmem(b, len, want, strlen(want));
}

/* %00 in a path or query value: 422; bytes not UTF-8: U+FFFD. */
static void
test_nul_and_bytes(void)
{
    open_conn();
    send_get(1, "/small/a?q=5%00abc");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 422);
    CU_ASSERT_TRUE(body_valid_json(1));
    CU_ASSERT_TRUE(body_has(1, "\"loc\":[\"query\",\"q\"]"));
    CU_ASSERT_TRUE(body_has(1, "\"input\":\"5\\u00"));

    send_get(2, "/small/a%00b");
    CU_ASSERT_TRUE(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 422);
    CU_ASSERT_TRUE(body_valid_json(2));
    CU_ASSERT_TRUE(body_has(2, "\"loc\":[\"path\",\"x\"]"));
    CU_ASSERT_TRUE(body_has(2, "\"input\":\"a\\u0000b\""));

    send_get(3, "/small/x?q=%ff%fe");
    CU_ASSERT_TRUE(ended(3, 5.0));
    CU_ASSERT_EQUAL(status_of(3), 422);
    CU_ASSERT_TRUE(body_valid_json(3));
    CU_ASSERT_TRUE(body_has(3, "\"input\":\"\xef\xbf\xbd\xef\xbf\xbd\""));

    send_get(4, "/raise-bytes");
    CU_ASSERT_TRUE(ended(4, 5.0));
    CU_ASSERT_EQUAL(status_of(4), 404);
    CU_ASSERT_TRUE(body_valid_json(4));
    CU_ASSERT_TRUE(body_is(4, "{\"detail\":\"no \\ufffd\\ufffd item\"}"));
    finish_conn();
}

/* A dependency's 401 comes before the handler's own 422, as in FastAPI. */
static void
test_deps_before_422(void)
{
    open_conn();
    send_get(1, "/auth?q=abc");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 401);
    CU_ASSERT_TRUE(has_header(1, "WWW-Authenticate: Bearer"));

    send_get(2, "/auth?q=abc&token=ok");
    CU_ASSERT_TRUE(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 422);
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":[{\"type\":\"int_parsing\","
        "\"loc\":[\"query\",\"q\"],\"msg\":\"Input should be a valid "
        "integer, unable to parse string as an integer\",\"input\":"
        "\"abc\"}]}"));

    send_get(3, "/auth?q=7&token=ok");
    CU_ASSERT_TRUE(ended(3, 5.0));
    CU_ASSERT_EQUAL(status_of(3), 200);
    CU_ASSERT_TRUE(body_is(3, "{\"q\":7}"));
    finish_conn();
}

static void
test_blocking_depends(void)
{
    open_conn();
    send_get(1, "/blocking-dep");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "v,NULL"));
    finish_conn();
}

static void
test_pool_misuse(void)
{
    char want[64];
    open_conn();
    send_get(1, "/pool-misuse");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    snprintf(want, sizeof(want), "[%d,%d,%d,%d]", EVF_EINVAL, EVF_EINVAL,
             EVF_EINVAL, EVF_EINVAL);
    CU_ASSERT_TRUE(body_is(1, want));
    finish_conn();
}

/*
 * Fail each allocation in turn while a request is read, routed, validated
 * and answered: that request gets 503 (or FCGI_OVERLOADED when it could
 * not even be opened), never a closed connection, and the next request on
 * the same connection is served.
 */
static void
test_oom_request_path(void)
{
    bool through = false;
    open_conn();
    uint16_t id = 1;
    for (size_t n = 1; n < 400 && !through; n++, id += 2) {
        oom_fail_at(n);
        send_get(id, "/small/abc?q=5");
        bool done = ended(id, 5.0);
        oom_off();
        CU_ASSERT_TRUE_FATAL(done);
        CU_ASSERT_FALSE_FATAL(cl.eof);
        rsp_t *r = cl.rsp[id];
        CU_ASSERT_FATAL(r != NULL);
        int st = status_of(id);
        if (r->pstatus == FCGI_OVERLOADED) {
            CU_ASSERT_EQUAL(st, -1);
        } else {
            CU_ASSERT(complete(id));
            CU_ASSERT(st == 200 || st == 503);
            through = st == 200 && oom_calls < n;
        }
        send_get(id + 1, "/small/abc?q=5");
        CU_ASSERT_TRUE_FATAL(ended(id + 1, 5.0));
        CU_ASSERT_EQUAL(status_of(id + 1), 200);
        CU_ASSERT_TRUE(body_is(id + 1, "{\"path\":\"/small/abc\",\"q\":5}"));
    }
    CU_ASSERT_TRUE(through);
    finish_conn();
}

static void
test_log_without_request(void)
{
    /* App-level logging (startup, shutdown) has no request. */
    evf_log(NULL, EVF_LOG_INFO, "app-level line %d", 1);
    CU_PASS("evf_log(NULL, ...) returned");
}

static void
test_builtin_pages(void)
{
    open_conn();
    send_get(1, "/ping");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "pong"));
    CU_ASSERT_TRUE(has_header(1, "Cache-Control: no-store"));

    send_get(2, "/status?text");
    CU_ASSERT_TRUE(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_TRUE(has_header(2, "Content-Type: text/plain"));

    /* A query that merely contains "text" still gets JSON. */
    send_get(3, "/status?context=1");
    CU_ASSERT_TRUE(ended(3, 5.0));
    CU_ASSERT_EQUAL(status_of(3), 200);
    CU_ASSERT_TRUE(has_header(3, "Content-Type: application/json"));
    size_t len;
    const char *b = body_of(3, &len);
    CU_ASSERT(b && len && b[0] == '{');
    finish_conn();
}

/* A background task's pool job runs after the answer (not skipped). */
static void
test_background_to_thread(void)
{
    bg_job_ran = 0;
    bg_rc = 1;
    open_conn();
    send_get(1, "/background");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(run_until(none_in_flight, NULL, 5.0));
    CU_ASSERT_EQUAL(bg_rc, 0);
    CU_ASSERT_EQUAL(bg_job_ran, 1);
    finish_conn();
}

/* The finished hook's duration is real time, not the loop's cached one. */
static void
test_finished_hook_duration(void)
{
    memset(&fin, 0, sizeof(fin));
    CU_ASSERT_EQUAL_FATAL(evf__exchange_on_finished(on_finished, NULL), 0);
    open_conn();
    send_get(1, "/busy");
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(fin.calls, 1);
    CU_ASSERT_EQUAL(fin.status, 200);
    CU_ASSERT_STRING_EQUAL(fin.route, "GET /busy");
    CU_ASSERT(fin.duration >= 0.055);
    finish_conn();
    evf__exchange_clear_hooks();
}

static int
failing_startup(evf_app_ctx *a)
{
    (void)a;
    evf_log(NULL, EVF_LOG_ERROR, "cannot reach the cache at %s",
            "127.0.0.1:1");
    return -1;
}

static const evf_route no_routes[] = { EVF_END };
static const evf_app failing_app = {
    .abi = EVF_ABI_VERSION, .name = "failing", .routes = no_routes,
    .startup = failing_startup,
};

static int
start_apps(const void *unused)
{
    (void)unused;
    return evf_apps_startup();
}

/* A startup hook that fails says why, in its own words (last test). */
static void
test_startup_reason(void)
{
    char log[2048];
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&failing_app, "failing.so"), 0);
    int rc = unit_stderr_of(start_apps, NULL, log, sizeof(log));
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "cannot reach the cache at "
                                       "127.0.0.1:1"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "app 'failing': startup hook "
                                       "failed"));
    evf_apps_shutdown();
}

/* ---- suite ------------------------------------------------------------- */

static int
init(void)
{
    if (peer_init() < 0 || pipe(g.job_pipe) < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 1024;
    evf_settings.out_high_water = 256 * 1024;
    evf_settings.out_low_water = 64 * 1024;
    evf_settings.request_deadline = 0;
    if (evf_pool_start(cl.loop, 2, 16) < 0)
        return -1;
    if (evf_builtin_register("/ping", NULL, "/status") < 0)
        return -1;
    return evf_app_register(&app, "exchange") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_pool_stop();
    evf_apps_free();
    evf_builtin_free();
    evf_coro_pool_destroy();
    peer_free();
    close(g.job_pipe[0]);
    close(g.job_pipe[1]);
    return 0;
}

static CU_TestInfo tests[] = {
    { "deadline: 504, handler not resumed, cleanups", test_deadline_504 },
    { "deadline: opted in, the await returns", test_deadline_returns },
    { "deadline: bounds evf_to_thread", test_deadline_thread },
    { "errors carry only their own headers", test_error_headers },
    { "response heads refuse injected headers", test_header_injection },
    { "long header values checked word by word", test_header_long_values },
    { "header names: token bytes only", test_header_name_bytes },
    { "NUL in values: 422; bodies stay UTF-8 JSON", test_nul_and_bytes },
    { "dependencies before the 422", test_deps_before_422 },
    { "declared dependencies in a blocking handler", test_blocking_depends },
    { "awaits on a pool thread: EVF_EINVAL", test_pool_misuse },
    { "out of memory: 503, connection kept", test_oom_request_path },
    { "evf_log without a request", test_log_without_request },
    { "built-in ping and status pages", test_builtin_pages },
    { "finished hooks: real duration", test_finished_hook_duration },
    { "background tasks may use the pool", test_background_to_thread },
    { "a failed startup logs the app's reason", test_startup_reason },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("exchange", init, cleanup, tests);
}
