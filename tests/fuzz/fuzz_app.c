/*
 * fuzz_app: the app run by fuzz_request and fuzz_conn, and the response
 * check (see fuzz_app.h).
 *
 * Routes (all async, on the loop):
 *
 *   GET  /hello                     200 JSON
 *   GET  /items/{item_id:int}       ?wait: awaits 1 ms first; 200 JSON
 *   GET  /typed/{f:float}/{s}/{rest:path}
 *                                   the typed path values, as text
 *   GET  /q                         declared n (int, 0..100, default 5),
 *                                   f (float, optional), b (bool, default
 *                                   false), s (str, optional); reads them
 *                                   and undeclared x, u with every accessor
 *   POST /json                      .json_body: the parsed body back
 *   POST /echo                      the body back, the request's
 *                                   Content-Type in its own (refused if
 *                                   it has a control byte)
 *   GET  /raise                     ?h=NAME&v=VALUE added as a header (may
 *                                   be refused), then evf_raise(status,
 *                                   detail) from the query
 *   GET  /stream                    ?n=0..5 events 0.5 ms apart, ?ct
 *                                   inside the content type
 *   GET  /gather                    two 0.5 ms awaits at once
 *   GET  /deadline                  a 1 ms route deadline over a 50 ms
 *                                   await: 504
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fcgi_parser.h"
#include "fuzz_app.h"

void
fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

/* ---- handlers ------------------------------------------------------------ */

static void
h_hello(evf_req *r)
{
    evf_json_printf(r, 200, "{\"message\":\"hello\"}");
}

static void
h_item(evf_req *r)
{
    int64_t id = evf_path_int(r, "item_id");
    if (evf_query_has(r, "wait") && evf_sleep(r, 0.001) < 0)
        return;
    evf_json_printf(r, 200, "{\"item_id\":%lld,\"data\":\"some data\"}",
                    (long long)id);
}

static void
h_typed(evf_req *r)
{
    char out[256];
    double f = evf_path_float(r, "f");
    const char *s = evf_path_str(r, "s");
    const char *rest = evf_path_str(r, "rest");
    FUZZ_CHECK(s && rest);
    FUZZ_CHECK(evf_path_str(r, "absent") == NULL);
    snprintf(out, sizeof(out), "%g|%.80s|%.80s|%s", f, s, rest,
             evf_path(r));
    evf_text(r, 200, out);
}

static const evf_query q_params[] = {
    EVF_Q("n", EVF_INT, .def = "5", .has_ge = true, .ge = 0,
          .has_le = true, .le = 100),
    EVF_Q("f", EVF_FLOAT, .optional = true),
    EVF_Q("b", EVF_BOOL, .def = "false"),
    EVF_Q("s", EVF_STR, .optional = true),
    { .name = NULL }
};

static void
h_query(evf_req *r)
{
    char out[512];
    int64_t n = evf_query_int(r, "n");
    FUZZ_CHECK(n >= 0 && n <= 100);
    double f = evf_query_float(r, "f");
    bool b = evf_query_bool(r, "b");
    const char *s = evf_query_str(r, "s");
    FUZZ_CHECK(!s || evf_query_has(r, "s"));
    const char *x = evf_query_str(r, "x");
    int64_t u = evf_query_int(r, "u");
    double uf = evf_query_float(r, "u");
    bool ub = evf_query_bool(r, "u");
    const char *e = evf_query_str(r, "");
    const char *ua = evf_header(r, "User-Agent");
    const char *ct = evf_param(r, "CONTENT_TYPE");
    snprintf(out, sizeof(out), "%lld %g %d %.40s %.40s %lld %g %d %.20s "
             "%.40s %.40s %s", (long long)n, f, b, s ? s : "-",
             x ? x : "-", (long long)u, uf, ub, e ? e : "-",
             ua ? ua : "-", ct ? ct : "-", evf_method(r));
    evf_text(r, 200, out);
}

static void
h_json(evf_req *r)
{
    json_object *o = evf_body_json(r);
    /* NULL for a body that is JSON's null (evf_json takes NULL as a
     * failure to build the answer). */
    if (!o)
        evf_json_printf(r, 200, "null");
    else
        evf_json(r, 200, json_object_get(o));
}

static void
h_echo(evf_req *r)
{
    size_t len;
    const void *body = evf_body(r, &len);
    const char *ct = evf_header(r, "Content-Type");
    char type[512];
    /* The body is the client's: never claimed to be JSON here. */
    snprintf(type, sizeof(type), "text/x-echo; of=%s", ct ? ct : "");
    evf_respond(r, 200, type, body, len);
}

static void
h_raise(evf_req *r)
{
    const char *h = evf_query_str(r, "h");
    const char *v = evf_query_str(r, "v");
    if (h && v)
        evf_add_header(r, h, v);
    int64_t status = evf_query_int(r, "status");
    evf_raise(r, (int)status, evf_query_str(r, "detail"));
}

static const evf_query raise_params[] = {
    EVF_Q("status", EVF_INT, .def = "400", .has_ge = true, .ge = 100,
          .has_le = true, .le = 999),
    EVF_Q("h", EVF_STR, .optional = true),
    EVF_Q("v", EVF_STR, .optional = true),
    EVF_Q("detail", EVF_STR, .optional = true),
    { .name = NULL }
};

static const evf_query stream_params[] = {
    EVF_Q("n", EVF_INT, .def = "2", .has_ge = true, .ge = 0,
          .has_le = true, .le = 5),
    EVF_Q("ct", EVF_STR, .def = "text/event-stream"),
    { .name = NULL }
};

static void
h_stream(evf_req *r)
{
    int64_t n = evf_query_int(r, "n");
    char type[512];
    /* Events, whatever the client asks: never claimed to be JSON. */
    snprintf(type, sizeof(type), "text/x-stream; of=%s",
             evf_query_str(r, "ct"));
    if (evf_stream_begin(r, 200, type) < 0)
        return;
    for (int64_t i = 0; i < n; i++) {
        if (evf_stream_printf(r, "data: %lld\n\n", (long long)i) < 0)
            return;
        if (evf_sleep(r, 0.0005) < 0)
            return;
    }
    evf_stream_end(r);
}

static void
gathered(evf_req *r, void *arg)
{
    (void)arg;
    evf_sleep(r, 0.0005);
}

static void
h_gather(evf_req *r)
{
    void *args[2] = { NULL, NULL };
    if (evf_gather(r, 2, gathered, args) < 0)
        return;
    evf_json_printf(r, 200, "{\"gathered\":2}");
}

static void
h_deadline(evf_req *r)
{
    if (evf_sleep(r, 0.05) < 0)
        return;
    evf_text(r, 200, "late");
}

static const evf_route routes[] = {
    EVF_GET("/hello", h_hello),
    EVF_GET("/items/{item_id:int}", h_item),
    EVF_GET("/typed/{f:float}/{s}/{rest:path}", h_typed),
    EVF_GET("/q", h_query, .query = q_params),
    EVF_POST("/json", h_json, .json_body = true),
    EVF_POST("/echo", h_echo),
    EVF_GET("/raise", h_raise, .query = raise_params),
    EVF_GET("/stream", h_stream, .query = stream_params),
    EVF_GET("/gather", h_gather),
    EVF_GET("/deadline", h_deadline, .deadline = 0.001),
    EVF_END
};

const evf_app fuzz_app = {
    .abi = EVF_ABI_VERSION,
    .name = "fuzz",
    .routes = routes,
};

/* ---- the response check -------------------------------------------------- */

static bool
is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool
fuzz_valid_json(const uint8_t *p, size_t len)
{
    json_tokener *tok = json_tokener_new();
    FUZZ_CHECK(tok != NULL);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                           JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, (const char *)p, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    bool whole = json_tokener_get_parse_end(tok) == len;
    if (e == json_tokener_continue && whole) {
        /* A value that may go on (a number): the input ends it. */
        o = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok);
    }
    json_object_put(o);
    json_tokener_free(tok);
    return e == json_tokener_success && whole;
}

void
fuzz_check_response(const uint8_t *p, size_t len, bool complete)
{
    const uint8_t *end, *line = p;
    long clen = -1;
    bool json = false;
    unsigned nstatus = 0;

    if (len == 0) {
        FUZZ_CHECK(!complete);
        return;
    }
    end = p + len;
    FUZZ_CHECK(len >= 8 && memcmp(p, "Status: ", 8) == 0);
    for (;;) {
        const uint8_t *nl = NULL;
        for (const uint8_t *q = line; q + 1 < end; q++)
            if (q[0] == '\r' && q[1] == '\n') {
                nl = q;
                break;
            }
        if (!nl) {
            FUZZ_CHECK(!complete);  /* a head is written in one piece */
            return;
        }
        if (nl == line)
            break;                  /* the blank line */
        const uint8_t *c = line;
        while (c < nl && *c != ':')
            FUZZ_CHECK(is_tchar(*c++));
        FUZZ_CHECK(c < nl && c > line && c + 1 < nl && c[1] == ' ');
        size_t nlen = (size_t)(c - line);
        for (const uint8_t *v = c + 2; v < nl; v++)
            FUZZ_CHECK(*v >= 0x20 ? *v != 0x7f : *v == '\t');
        if (nlen == 6 && strncasecmp((const char *)line, "Status", 6) == 0) {
            FUZZ_CHECK(line == p);
            FUZZ_CHECK(nl - c >= 5 && c[2] >= '1' && c[2] <= '9');
            nstatus++;
        } else if (nlen == 14 &&
                   strncasecmp((const char *)line, "Content-Length", 14)
                   == 0) {
            FUZZ_CHECK(clen < 0);
            clen = strtol((const char *)c + 2, NULL, 10);
        } else if (nlen == 12 &&
                   strncasecmp((const char *)line, "Content-Type", 12) == 0) {
            json = nl - (c + 2) >= 16 &&
                   memcmp(c + 2, "application/json", 16) == 0;
        }
        line = nl + 2;
    }
    FUZZ_CHECK(nstatus == 1);
    const uint8_t *body = line + 2;
    size_t blen = (size_t)(end - body);
    if (!complete)
        return;
    if (clen >= 0)
        FUZZ_CHECK((size_t)clen == blen);
    if (json)
        FUZZ_CHECK(fuzz_valid_json(body, blen));
}

/* ---- the server's records, per request id ------------------------------ */

typedef struct rsp {
    uint8_t *out;
    size_t len, cap;
    bool out_end;           /* the empty STDOUT record came */
    bool touched;
    unsigned ends;          /* END_REQUEST records */
} rsp_t;

static rsp_t *rsps;         /* 65536, allocated on first use */
static uint16_t *touched;
static size_t ntouched;
static evf_fcgi_parser_t parser;
static int last_status;
static bool mgmt_seen;

static rsp_t *
rsp_of(uint16_t id)
{
    if (!rsps) {
        rsps = calloc(65536, sizeof(*rsps));
        touched = calloc(65536, sizeof(*touched));
        FUZZ_CHECK(rsps && touched);
    }
    rsp_t *x = &rsps[id];
    if (!x->touched) {
        x->touched = true;
        touched[ntouched++] = id;
    }
    return x;
}

/* One response is over (END_REQUEST, or the end): check it, start anew. */
static void
rsp_done(rsp_t *x)
{
    if (x->len > 11)
        last_status = atoi((const char *)x->out + 8);
    static int show = -1;
    if (show < 0)
        show = getenv("FUZZ_SHOW") != NULL;
    if (show)
        fprintf(stderr, "response (%s, %zu bytes):\n%.*s\n",
                x->out_end ? "complete" : "cut", x->len,
                (int)(x->len < 400 ? x->len : 400), (const char *)x->out);
    fuzz_check_response(x->out, x->len, x->out_end);
    x->len = 0;
    x->out_end = false;
}

void
fuzz_out_feed(const uint8_t *p, size_t n)
{
    evf_fcgi_event_t ev;
    while (n) {
        ssize_t used = evf_fcgi_parse(&parser, p, n, &ev);
        FUZZ_CHECK(used >= 0);      /* evfcgi writes valid records */
        p += used;
        n -= (size_t)used;
        if (ev.kind == EVF_FCGI_EV_NONE)
            break;
        FUZZ_CHECK(ev.kind == EVF_FCGI_EV_CONTENT);
        rsp_t *x = rsp_of(ev.request_id);
        switch (ev.type) {
        case 6:     /* FCGI_STDOUT */
            FUZZ_CHECK(ev.request_id != 0 && !x->out_end);
            if (ev.len == 0 && ev.content_length == 0) {
                x->out_end = true;
                break;
            }
            if (x->len + ev.len > x->cap) {
                size_t cap = x->cap ? x->cap : 256;
                while (cap < x->len + ev.len)
                    cap *= 2;
                x->out = realloc(x->out, cap);
                FUZZ_CHECK(x->out != NULL);
                x->cap = cap;
            }
            memcpy(x->out + x->len, ev.data, ev.len);
            x->len += ev.len;
            break;
        case 3:     /* FCGI_END_REQUEST */
            FUZZ_CHECK(ev.request_id != 0 && ev.content_length == 8);
            if (ev.last) {
                x->ends++;
                rsp_done(x);
            }
            break;
        case 10:    /* FCGI_GET_VALUES_RESULT */
        case 11:    /* FCGI_UNKNOWN_TYPE */
            FUZZ_CHECK(ev.request_id == 0);
            mgmt_seen = true;
            break;
        default:
            FUZZ_CHECK(!"a record type the server does not write");
        }
    }
}

int
fuzz_out_status(void)
{
    return last_status;
}

unsigned
fuzz_out_ends(uint16_t id)
{
    return rsps ? rsps[id].ends : 0;
}

size_t
fuzz_out_len(uint16_t id)
{
    return rsps ? rsps[id].len : 0;
}

void
fuzz_out_finish(void)
{
    for (size_t i = 0; i < ntouched; i++) {
        rsp_t *x = &rsps[touched[i]];
        if (x->len || x->out_end)
            rsp_done(x);
        free(x->out);
        memset(x, 0, sizeof(*x));
    }
    ntouched = 0;
    last_status = 0;
    memset(&parser, 0, sizeof(parser));
    mgmt_seen = false;
}
