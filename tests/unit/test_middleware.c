/*
 * Unit tests for app middleware and CORS around real requests
 * (middleware.c, and its calls in exchange.c and response.c), through a
 * connection on a socketpair and a real loop (fcgi_peer.h).
 *
 * Covered: before hooks in declared order, after hooks in reverse, each
 * seeing the answer's status and adding headers to it; that for every kind
 * of answer: a route's, the router's 404 and 405, the 422, a raised error,
 * the 500 of a handler that gave none, a blocking route's, a stream's head,
 * a 413 refused while the body arrived;
 * a before hook that answers short-circuits (no later middleware, no
 * handler; the outer after hooks still run); the request-id middleware
 * (a sane incoming id reused, another replaced by a UUID, readable by the
 * handler and by the finished hooks); CORS preflights answered without a
 * route (also on paths with none), simple requests decorated on success
 * and error answers, disallowed origins undecorated.
 */
#include "config.h"

#include <ev.h>
#include <fastcgi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "exchange.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "settings.h"
#include "unit.h"

static struct {
    char trace[256];        /* A> B> ... <B <A */
    unsigned handlers;
    char seen_id[160];      /* evf_request_id() in the handler */
    char logged_id[160];    /* the finished hook's x_request_id */
} g;

static void
trace(const char *s)
{
    size_t n = strlen(g.trace);
    snprintf(g.trace + n, sizeof(g.trace) - n, "%s", s);
}

static void
a_before(evf_req *r, void **state)
{
    (void)r;
    trace("A>");
    *state = (void *)"a-state";
}

static void
a_after(evf_req *r, int status, void *state)
{
    char v[16];
    trace("<A");
    snprintf(v, sizeof(v), "%d", status);
    evf_add_header(r, "X-A", v);
    evf_add_header(r, "X-A-State", state ? state : "none");
}

static void
b_before(evf_req *r, void **state)
{
    (void)r, (void)state;
    trace("B>");
}

static void
b_after(evf_req *r, int status, void *state)
{
    char v[16];
    (void)state;
    trace("<B");
    snprintf(v, sizeof(v), "%d", status);
    evf_add_header(r, "X-B", v);
}

/* C answers 403 itself when the request asks it to (X-Stop). */
static void
c_before(evf_req *r, void **state)
{
    (void)state;
    trace("C>");
    if (evf_header(r, "X-Stop"))
        evf_raise(r, 403, "stopped by middleware");
}

static void
c_after(evf_req *r, int status, void *state)
{
    (void)r, (void)status, (void)state;
    trace("<C");
}

static const evf_middleware mw_a = { "a", a_before, a_after };
static const evf_middleware mw_b = { "b", b_before, b_after };
static const evf_middleware mw_c = { "c", c_before, c_after };

static void
h_ok(evf_req *r)
{
    const char *id = evf_request_id(r);
    g.handlers++;
    snprintf(g.seen_id, sizeof(g.seen_id), "%s", id ? id : "");
    trace("H");
    evf_add_header(r, "X-Handler", "1");
    evf_text(r, 200, "ok");
}

static void
h_item(evf_req *r)
{
    g.handlers++;
    evf_json_printf(r, 200, "{\"id\":%lld}",
                    (long long)evf_path_int(r, "id"));
}

static void
h_raise(evf_req *r)
{
    g.handlers++;
    evf_add_header(r, "X-Handler", "1");
    evf_raise(r, 418, "teapot");
}

static void
h_silent(evf_req *r)
{
    g.handlers++;
    (void)r;
}

static void
h_blocking(evf_req *r)
{
    g.handlers++;
    evf_text(r, 200, "blocked");
}

static void
h_stream(evf_req *r)
{
    g.handlers++;
    evf_stream_begin(r, 200, "text/event-stream");
    evf_stream_printf(r, "data: %d\n\n", 1);
    evf_stream_end(r);
}

static const evf_route routes[] = {
    EVF_GET("/ok", h_ok),
    EVF_GET("/items/{id:int}", h_item),
    EVF_POST("/post-only", h_ok),
    EVF_GET("/raise", h_raise),
    EVF_GET("/silent", h_silent),
    EVF_GET("/blocking", h_blocking, .blocking = true),
    EVF_GET("/stream", h_stream),
    EVF_END
};

static const evf_cors cors = {
    .allow_origins = EVF_STRS("http://app.example.test"),
    .allow_methods = EVF_STRS("GET", "POST"),
    .allow_credentials = true,
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION, .name = "mw", .routes = routes,
    .middleware = EVF_MIDDLEWARE(&evf_request_id_middleware, &mw_a, &mw_b,
                                 &mw_c),
    .cors = &cors,
};

/* ---- requests with headers ------------------------------------------- */

/*
 * Send method uri with the given HTTP headers (CGI names and values,
 * NULL-ended: "HTTP_ORIGIN", "http://...").
 */
static void
send_with(uint16_t id, const char *method, const char *uri,
          const char *const *hdrs)
{
    uint8_t params[4096];
    size_t n = 0;
    const char *q = strchr(uri, '?');
    put_begin(id, FCGI_KEEP_CONN);
    n += put_pair(params + n, "REQUEST_METHOD", method);
    n += put_pair(params + n, "REQUEST_URI", uri);
    n += put_pair(params + n, "QUERY_STRING", q ? q + 1 : "");
    for (const char *const *h = hdrs; h && *h; h += 2)
        n += put_pair(params + n, h[0], h[1]);
    put_record(FCGI_PARAMS, id, params, n);
    put_record(FCGI_PARAMS, id, NULL, 0);
    put_record(FCGI_STDIN, id, NULL, 0);
    client_flush();
}

/* The value of header name in id's head (copied), or NULL. */
static const char *
header_of(uint16_t id, const char *name)
{
    static char v[512];
    rsp_t *r = cl.rsp[id];
    if (!r || !r->out)
        return NULL;
    const char *end = strstr(r->out, "\r\n\r\n");
    size_t nl = strlen(name);
    for (const char *p = r->out; p && p < end;) {
        const char *eol = strstr(p, "\r\n");
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl + 1 && strncasecmp(p, name, nl) == 0 &&
            p[nl] == ':') {
            const char *s = p + nl + 1;
            while (*s == ' ')
                s++;
            snprintf(v, sizeof(v), "%.*s", (int)(eol - s), s);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

static bool
is_uuid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
            return false;
    }
    /* Version 4, variant 10xx. */
    return s[14] == '4' && strchr("89ab", s[19]);
}

static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
}

/* ---- order, status, every kind of answer ------------------------------- */

static void
test_order(void)
{
    open_conn();
    send_with(1, "GET", "/ok", NULL);
    CU_ASSERT_TRUE_FATAL(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "ok"));
    CU_ASSERT_STRING_EQUAL(g.trace, "A>B>C>H<C<B<A");
    CU_ASSERT_TRUE(has_header(1, "X-A: 200"));
    CU_ASSERT_TRUE(has_header(1, "X-B: 200"));
    CU_ASSERT_TRUE(has_header(1, "X-A-State: a-state"));
    CU_ASSERT_TRUE(has_header(1, "X-Handler: 1"));
    /* B's header before A's: the way out is in reverse order. */
    const char *head = cl.rsp[1]->out;
    CU_ASSERT_TRUE(strstr(head, "X-B:") && strstr(head, "X-A:") &&
                   strstr(head, "X-B:") < strstr(head, "X-A:"));
    const char *id = header_of(1, "X-Request-ID");
    CU_ASSERT_TRUE(is_uuid(id));
    CU_ASSERT_STRING_EQUAL(g.seen_id, id ? id : "?");
    finish_conn();
}

/* Each path, its status, whether the handler runs. */
static const struct {
    const char *method, *uri;
    int status;
    unsigned handlers;
    const char *extra;      /* a header line the answer must carry */
} kinds[] = {
    { "GET", "/nowhere", 404, 0, "Content-Type: application/json" },
    { "GET", "/post-only", 405, 0, "Allow: POST" },
    { "GET", "/items/abc", 422, 0, "Content-Type: application/json" },
    { "GET", "/raise", 418, 1, "Content-Type: application/json" },
    { "GET", "/silent", 500, 1, "Content-Type: application/json" },
    { "GET", "/blocking", 200, 1, "Content-Type: text/plain; charset=utf-8" },
    { "GET", "/stream", 200, 1, "Content-Type: text/event-stream" },
};

static void
test_every_answer(void)
{
    evf_log_set_level(EVF_LOG_LVL_ERROR - 1);  /* the 500 is logged */
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        char want[32];
        open_conn();
        send_with(1, kinds[i].method, kinds[i].uri, NULL);
        CU_ASSERT_TRUE_FATAL(ended(1, 5.0));
        if (status_of(1) != kinds[i].status)
            fprintf(stderr, "\n    %s: status %d\n", kinds[i].uri,
                    status_of(1));
        CU_ASSERT_EQUAL(status_of(1), kinds[i].status);
        CU_ASSERT_EQUAL(g.handlers, kinds[i].handlers);
        snprintf(want, sizeof(want), "X-A: %d", kinds[i].status);
        CU_ASSERT_TRUE(has_header(1, want));
        snprintf(want, sizeof(want), "X-B: %d", kinds[i].status);
        CU_ASSERT_TRUE(has_header(1, want));
        CU_ASSERT_TRUE(has_header(1, kinds[i].extra));
        const char *id = header_of(1, "X-Request-ID");
        CU_ASSERT_TRUE(is_uuid(id));
        /* A new id each time. */
        static char prev_id[40];
        CU_ASSERT(!id || strcmp(id, prev_id) != 0);
        snprintf(prev_id, sizeof(prev_id), "%s", id ? id : "");
        /* Headers of a success answer never leak into an error. */
        if (kinds[i].status >= 400)
            CU_ASSERT_PTR_NULL(header_of(1, "X-Handler"));
        CU_ASSERT_STRING_EQUAL(g.trace, "A>B>C><C<B<A");
        /* Once: a second after pass would add a second X-A. */
        const char *head = cl.rsp[1]->out;
        const char *x = strstr(head, "\r\nX-A:");
        CU_ASSERT_TRUE(x && !strstr(x + 1, "\r\nX-A:"));
        finish_conn();
    }
    evf_log_set_level(EVF_LOG_LVL_ERROR);
}

static void
test_short_circuit(void)
{
    static const char *const stop[] = { "HTTP_X_STOP", "1", NULL };
    open_conn();
    send_with(1, "GET", "/ok", stop);
    CU_ASSERT_TRUE_FATAL(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 403);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"stopped by middleware\"}"));
    CU_ASSERT_EQUAL(g.handlers, 0);
    CU_ASSERT_STRING_EQUAL(g.trace, "A>B>C><C<B<A");
    CU_ASSERT_TRUE(has_header(1, "X-A: 403"));
    CU_ASSERT_TRUE(is_uuid(header_of(1, "X-Request-ID")));
    /* Also where no route would have matched. */
    memset(&g, 0, sizeof(g));
    send_with(2, "GET", "/nowhere", stop);
    CU_ASSERT_TRUE_FATAL(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 403);
    finish_conn();
}

/* A request refused while its body arrived (413) goes through too. */
static void
test_intake_refusal(void)
{
    size_t saved = evf_settings.max_body;
    evf_settings.max_body = 8;
    open_conn();
    send_req(1, FCGI_KEEP_CONN, "POST", "/post-only", "text/plain",
             "0123456789abcdef");
    CU_ASSERT_TRUE_FATAL(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 413);
    CU_ASSERT_EQUAL(g.handlers, 0);
    CU_ASSERT_STRING_EQUAL(g.trace, "A>B>C><C<B<A");
    CU_ASSERT_TRUE(has_header(1, "X-A: 413"));
    CU_ASSERT_TRUE(is_uuid(header_of(1, "X-Request-ID")));
    finish_conn();
    evf_settings.max_body = saved;
}

/* ---- request id -------------------------------------------------------- */

static void
on_finished(const evf_access_entry_t *e, void *ud)
{
    (void)ud;
    snprintf(g.logged_id, sizeof(g.logged_id), "%s",
             e->x_request_id ? e->x_request_id : "(null)");
}

static void
test_request_id(void)
{
    CU_ASSERT_EQUAL_FATAL(evf__exchange_on_finished(on_finished, NULL), 0);
    static const char *const mine[] = {
        "HTTP_X_REQUEST_ID", "req-42_a.b:c+d/e=", NULL
    };
    open_conn();
    send_with(1, "GET", "/ok", mine);
    CU_ASSERT_TRUE_FATAL(ended(1, 5.0));
    CU_ASSERT_TRUE(has_header(1, "X-Request-ID: req-42_a.b:c+d/e="));
    CU_ASSERT_STRING_EQUAL(g.seen_id, "req-42_a.b:c+d/e=");
    CU_ASSERT_STRING_EQUAL(g.logged_id, "req-42_a.b:c+d/e=");

    /* Not a sane token: replaced. */
    char big[140];
    memset(big, 'a', 129);
    big[129] = '\0';
    const char *const bad[][3] = {
        { "HTTP_X_REQUEST_ID", "two words", NULL },
        { "HTTP_X_REQUEST_ID", "a\"b", NULL },
        { "HTTP_X_REQUEST_ID", "", NULL },
        { "HTTP_X_REQUEST_ID", big, NULL },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint16_t id = (uint16_t)(2 + i);
        send_with(id, "GET", "/ok", bad[i]);
        CU_ASSERT_TRUE_FATAL(ended(id, 5.0));
        const char *v = header_of(id, "X-Request-ID");
        CU_ASSERT_TRUE(is_uuid(v));
        CU_ASSERT_STRING_EQUAL(g.logged_id, v ? v : "?");
    }
    /* 128 characters are still fine. */
    big[128] = '\0';
    const char *const edge[] = { "HTTP_X_REQUEST_ID", big, NULL };
    send_with(9, "GET", "/nowhere", edge);
    CU_ASSERT_TRUE_FATAL(ended(9, 5.0));
    CU_ASSERT_STRING_EQUAL(header_of(9, "X-Request-ID"), big);
    /* Two generated ids differ. */
    char first[64];
    snprintf(first, sizeof(first), "%s", header_of(2, "X-Request-ID"));
    CU_ASSERT_STRING_NOT_EQUAL(first, header_of(3, "X-Request-ID"));
    finish_conn();
    evf__exchange_clear_hooks();
}

/* ---- CORS -------------------------------------------------------------- */

static void
test_cors_preflight(void)
{
    static const char *const ok[] = {
        "HTTP_ORIGIN", "http://app.example.test",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD", "POST",
        "HTTP_ACCESS_CONTROL_REQUEST_HEADERS", "content-type",
        NULL
    };
    open_conn();
    send_with(1, "OPTIONS", "/ok", ok);
    CU_ASSERT_TRUE_FATAL(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "OK"));
    CU_ASSERT_TRUE(has_header(1, "Content-Type: text/plain; charset=utf-8"));
    CU_ASSERT_TRUE(has_header(1, "Access-Control-Allow-Origin: "
                                 "http://app.example.test"));
    CU_ASSERT_TRUE(has_header(1, "Access-Control-Allow-Methods: GET, POST"));
    CU_ASSERT_TRUE(has_header(1, "Access-Control-Allow-Credentials: true"));
    CU_ASSERT_TRUE(has_header(1, "Access-Control-Max-Age: 600"));
    CU_ASSERT_TRUE(has_header(1, "Vary: Origin"));
    CU_ASSERT_EQUAL(g.handlers, 0);
    /* The app's middleware ran around it. */
    CU_ASSERT_STRING_EQUAL(g.trace, "A>B>C><C<B<A");
    CU_ASSERT_TRUE(has_header(1, "X-A: 200"));
    CU_ASSERT_TRUE(is_uuid(header_of(1, "X-Request-ID")));
    /* No route needed: not a 404 or a 405. */
    send_with(2, "OPTIONS", "/nowhere", ok);
    CU_ASSERT_TRUE_FATAL(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 200);

    static const char *const bad[] = {
        "HTTP_ORIGIN", "http://other.example.test",
        "HTTP_ACCESS_CONTROL_REQUEST_METHOD", "DELETE",
        NULL
    };
    send_with(3, "OPTIONS", "/ok", bad);
    CU_ASSERT_TRUE_FATAL(ended(3, 5.0));
    CU_ASSERT_EQUAL(status_of(3), 400);
    CU_ASSERT_TRUE(body_is(3, "Disallowed CORS origin, method"));
    CU_ASSERT_PTR_NULL(header_of(3, "Access-Control-Allow-Origin"));

    /* An OPTIONS without Access-Control-Request-Method is routed. */
    static const char *const plain[] = {
        "HTTP_ORIGIN", "http://app.example.test", NULL
    };
    send_with(4, "OPTIONS", "/ok", plain);
    CU_ASSERT_TRUE_FATAL(ended(4, 5.0));
    CU_ASSERT_EQUAL(status_of(4), 405);
    finish_conn();
}

static void
test_cors_simple(void)
{
    static const char *const ok[] = {
        "HTTP_ORIGIN", "http://app.example.test", NULL
    };
    static const char *const other[] = {
        "HTTP_ORIGIN", "http://other.example.test", NULL
    };
    open_conn();
    send_with(1, "GET", "/ok", ok);
    CU_ASSERT_TRUE_FATAL(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "ok"));
    CU_ASSERT_TRUE(has_header(1, "Access-Control-Allow-Origin: "
                                 "http://app.example.test"));
    CU_ASSERT_TRUE(has_header(1, "Access-Control-Allow-Credentials: true"));
    CU_ASSERT_TRUE(has_header(1, "Vary: Origin"));
    CU_ASSERT_PTR_NULL(header_of(1, "Access-Control-Allow-Methods"));

    /* Error answers are decorated too (a 404 the page can read). */
    send_with(2, "GET", "/nowhere", ok);
    CU_ASSERT_TRUE_FATAL(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 404);
    CU_ASSERT_TRUE(has_header(2, "Access-Control-Allow-Origin: "
                                 "http://app.example.test"));
    send_with(3, "GET", "/raise", ok);
    CU_ASSERT_TRUE_FATAL(ended(3, 5.0));
    CU_ASSERT_EQUAL(status_of(3), 418);
    CU_ASSERT_TRUE(has_header(3, "Access-Control-Allow-Origin: "
                                 "http://app.example.test"));

    /* Another origin: answered, with no CORS header at all. */
    send_with(4, "GET", "/ok", other);
    CU_ASSERT_TRUE_FATAL(ended(4, 5.0));
    CU_ASSERT_EQUAL(status_of(4), 200);
    CU_ASSERT_PTR_NULL(strstr(cl.rsp[4]->out, "Access-Control-"));
    CU_ASSERT_PTR_NULL(header_of(4, "Vary"));
    /* No Origin: not a CORS request. */
    send_with(5, "GET", "/ok", NULL);
    CU_ASSERT_TRUE_FATAL(ended(5, 5.0));
    CU_ASSERT_PTR_NULL(strstr(cl.rsp[5]->out, "Access-Control-"));
    finish_conn();
}

/* ---- suite ------------------------------------------------------------- */

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 1024;
    evf_settings.request_deadline = 0;
    if (evf_pool_start(cl.loop, 2, 16) < 0)
        return -1;
    if (evf_app_register(&app, "mw") < 0)
        return -1;
    return evf_apps_startup();
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_pool_stop();
    evf_apps_shutdown();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    return 0;
}

static CU_TestInfo tests[] = {
    { "before in order, after in reverse", test_order },
    { "every kind of answer goes through", test_every_answer },
    { "a before hook short-circuits", test_short_circuit },
    { "a 413 refused during intake goes through", test_intake_refusal },
    { "request id: reused, made, logged", test_request_id },
    { "CORS preflight without a route", test_cors_preflight },
    { "CORS simple requests", test_cors_simple },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("middleware", init, cleanup, tests);
}
