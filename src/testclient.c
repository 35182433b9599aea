/*
 * testclient: the TestClient (evfcgi_test.h; the file split is in
 * testclient.h).
 *
 * DESIGN.  A client sets the process up as a worker of evfcgid would be:
 * a configuration at its defaults (plus the test's directives) applied,
 * the built-in pages and the app registered through app.c (so the same
 * route table, clash and cycle checks), its own libev loop made current
 * (evf_loop() is it), the thread pool started on it, the app's startup
 * run.  An exchange is one request: it owns the request through the owner
 * hooks (evf_req_owner_ops), as conn.c does for a FastCGI connection, but
 * with nothing in between: PARAMS and STDIN are handed over as a web
 * server would send them, and the request's output buffer is where its
 * records land.  Each call runs the loop (EVRUN_ONCE, bounded by a timer)
 * until what it waits for is there: the END_REQUEST record and the end of
 * the request's background tasks, the head of a stream, its next piece.
 * The records are decoded on every flush and after every loop iteration:
 * the STDOUT bytes go to the CGI head until its blank line, then to the
 * body (a stream: one piece per flush, i.e. per evf_stream_write).
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <ev.h>
#include <fastcgi.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "app.h"
#include "builtin.h"
#include "conf.h"
#include "deps.h"
#include "exchange.h"
#include "future.h"
#include "http_client.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "request.h"
#include "settings.h"
#include "testclient.h"

#define DEFAULT_TIMEOUT 30.0
#define STDIN_PIECE 32768       /* STDIN is handed over in pieces this big */

typedef struct piece {
    struct piece *next;
    size_t len;
    char data[];
} piece_t;

typedef struct xch {
    evf_client *c;
    evf_req *r;             /* NULL once finished */
    bool gone;              /* the test left (stream closed, timeout) */
    bool ended;             /* END_REQUEST seen */
    evf_buf_t out;          /* records the request wrote, not decoded */
    evf_buf_t head;         /* the CGI head while it arrives */
    bool head_done;
    evf_client_resp *resp;
    evf_buf_t body;         /* body bytes (a stream: not yet a piece) */
    bool stream;            /* cut the body into pieces */
    piece_t *pieces, **tail;
    int err;                /* out of memory decoding */
} xch_t;

struct evf_client_stream {
    xch_t x;
    piece_t *cur;           /* the piece the test is reading */
    evf_client_stream *next;    /* the client's open streams */
};

struct evf_client {
    struct ev_loop *loop;
    evf_config_t conf;
    double timeout;
    ev_timer cap;
    bool expired;
    bool started;           /* the pool and the app's startup ran */
    evf_client_stream *streams;
};

static evf_client *live;

/* ---- decoding what the request wrote ------------------------------------- */

static void
add_body(xch_t *x, const char *p, size_t n)
{
    if (n && evf_buf_append(&x->body, p, n) < 0)
        x->err = -ENOMEM;
}

/* STDOUT bytes: the head until its blank line, then the body. */
static void
take(xch_t *x, const uint8_t *p, size_t n)
{
    if (x->head_done) {
        add_body(x, (const char *)p, n);
        return;
    }
    size_t before = evf_buf_used(&x->head);
    if (evf_buf_append(&x->head, p, n) < 0) {
        x->err = -ENOMEM;
        return;
    }
    const char *h = (const char *)x->head.data + x->head.off;
    size_t len = evf_buf_used(&x->head);
    size_t from = before > 3 ? before - 3 : 0;
    const char *end = memmem(h + from, len - from, "\r\n\r\n", 4);
    if (!end)
        return;
    x->head_done = true;
    size_t hlen = (size_t)(end - h);
    if (evf__tc_parse_head(h, hlen + 2, x->resp) < 0)
        x->err = -ENOMEM;
    add_body(x, end + 4, len - hlen - 4);
    evf_buf_free(&x->head);
}

/* Decode the complete records in x->out. */
static void
pump(xch_t *x)
{
    const uint8_t *p = x->out.data + x->out.off;
    size_t used = evf_buf_used(&x->out), i = 0;
    while (used - i >= FCGI_HEADER_LEN) {
        size_t clen = (size_t)p[i + 4] << 8 | p[i + 5];
        size_t rec = FCGI_HEADER_LEN + clen + p[i + 6];
        if (used - i < rec)
            break;
        if (p[i + 1] == FCGI_STDOUT)
            take(x, p + i + FCGI_HEADER_LEN, clen);
        else if (p[i + 1] == FCGI_END_REQUEST)
            x->ended = true;
        i += rec;
    }
    evf_buf_consume(&x->out, i);
    if (!x->stream || !x->head_done || !evf_buf_used(&x->body))
        return;
    /* What arrived since the last piece is the next one. */
    size_t n = evf_buf_used(&x->body);
    piece_t *pc = malloc(sizeof(*pc) + n + 1);
    if (!pc) {
        x->err = -ENOMEM;
        return;
    }
    pc->next = NULL;
    pc->len = n;
    memcpy(pc->data, x->body.data + x->body.off, n);
    pc->data[n] = '\0';
    *x->tail = pc;
    x->tail = &pc->next;
    evf_buf_free(&x->body);
}

/* ---- the owner hooks ----------------------------------------------------- */

static evf_buf_t *
h_out(void *o)
{
    return &((xch_t *)o)->out;
}

static int
h_flush(void *o)
{
    xch_t *x = o;
    pump(x);
    return x->gone ? EVF_EGONE : 0;
}

static bool
h_no(void *o)
{
    (void)o;
    return false;
}

static void
h_wait_drain(void *o, evf_req *r)
{
    /* Never congested: the test's buffer takes everything. */
    (void)o, (void)r;
}

static void
h_hold(void *o)
{
    (void)o;
}

static bool
h_gone(void *o)
{
    return ((xch_t *)o)->gone;
}

static void
h_finished(void *o, evf_req *r, bool answered)
{
    xch_t *x = o;
    (void)r;
    x->r = NULL;
    if (answered && !x->gone) {
        /* As conn.c writes it: the record that ends the exchange. */
        static const uint8_t end[FCGI_HEADER_LEN + 8] = {
            FCGI_VERSION_1, FCGI_END_REQUEST, 0, 1, 0, 8, 0, 0,
        };
        if (evf_buf_append(&x->out, end, sizeof(end)) < 0)
            x->err = -ENOMEM;
    }
    pump(x);
}

static const evf_router_t *
h_routes(void *o)
{
    (void)o;
    return evf_apps_router();
}

static const evf_req_owner_ops ops = {
    .out = h_out, .flush = h_flush, .congested = h_no,
    .wait_drain = h_wait_drain, .hold = h_hold, .unhold = h_hold,
    .gone = h_gone, .finished = h_finished, .routes = h_routes,
};

/* ---- running the loop ---------------------------------------------------- */

static void
cap_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)revents;
    ((evf_client *)t->data)->expired = true;
}

/* Run the loop until done(x) holds: 0, or EVF_ETIMEDOUT. */
static int
run_until(evf_client *c, xch_t *x, bool (*done)(xch_t *x))
{
    if (x)
        pump(x);
    if (done(x))
        return 0;
    c->expired = false;
    ev_timer_set(&c->cap, c->timeout, 0.);
    ev_timer_start(c->loop, &c->cap);
    while (!c->expired) {
        ev_run(c->loop, EVRUN_ONCE);
        if (x)
            pump(x);
        if (done(x))
            break;
    }
    ev_timer_stop(c->loop, &c->cap);
    return done(x) ? 0 : EVF_ETIMEDOUT;
}

/* The answer is complete and what it left in the background is done. */
static bool
all_done(xch_t *x)
{
    return (!x || (!x->r && (x->ended || x->gone))) &&
           evf__exchange_detached() == 0;
}

static bool
head_or_end(xch_t *x)
{
    return x->head_done || !x->r || x->err;
}

static bool
piece_or_end(xch_t *x)
{
    return x->pieces || !x->r || x->err;
}

/* The test gives up on x: the request is aborted as on a disconnect. */
static void
leave(xch_t *x)
{
    x->gone = true;
    if (x->r)
        evf__req_abort(x->r, false);
    x->r = NULL;
}

/* ---- an exchange --------------------------------------------------------- */

static void
xch_free(xch_t *x)
{
    evf_buf_free(&x->out);
    evf_buf_free(&x->head);
    evf_buf_free(&x->body);
    while (x->pieces) {
        piece_t *p = x->pieces;
        x->pieces = p->next;
        free(p);
    }
}

/* Hand the request over: x->r is set until it finishes.  0 or < 0. */
static int
start(evf_client *c, xch_t *x, const evf_client_req *req,
      evf_client_resp *resp)
{
    evf_buf_t params = { 0 }, body = { 0 };
    memset(resp, 0, sizeof(*resp));
    x->c = c;
    x->resp = resp;
    x->tail = &x->pieces;
    int rc = evf__tc_encode(req ? req : &(evf_client_req){ 0 }, &params,
                            &body);
    if (rc < 0)
        goto out;
    x->r = evf__req_new(x, &ops, 1, FCGI_KEEP_CONN);
    if (!x->r) {
        rc = -ENOMEM;
        goto out;
    }
    evf_req *r = x->r;
    rc = EVF_EINVAL;
    if (evf__req_params(r, params.data, evf_buf_used(&params)) < 0 ||
        evf__req_params(r, NULL, 0) < 0)
        goto abort;
    for (size_t off = 0; off < evf_buf_used(&body); off += STDIN_PIECE) {
        size_t n = evf_buf_used(&body) - off;
        if (evf__req_stdin(r, body.data + off,
                           n < STDIN_PIECE ? n : STDIN_PIECE) < 0)
            goto abort;
    }
    rc = 0;
    if (evf__req_stdin(r, NULL, 0) < 0) {   /* may finish the request */
        rc = EVF_EINVAL;
        goto abort;
    }
    goto out;
abort:
    evf_log_error("testclient: the request layer refused the request");
    leave(x);
out:
    evf_buf_free(&params);
    evf_buf_free(&body);
    return rc;
}

/* Move the body into resp (NUL-terminated). */
static int
give_body(xch_t *x)
{
    size_t n = evf_buf_used(&x->body);
    char *b = malloc(n + 1);
    if (!b)
        return -ENOMEM;
    if (n)
        memcpy(b, x->body.data + x->body.off, n);
    b[n] = '\0';
    x->resp->body = b;
    x->resp->body_len = n;
    return 0;
}

int
evf_client_request(evf_client *c, const evf_client_req *req,
                   evf_client_resp *resp)
{
    xch_t x = { 0 };
    if (!c) {
        memset(resp, 0, sizeof(*resp));
        return EVF_EINVAL;
    }
    int rc = start(c, &x, req, resp);
    if (rc == 0)
        rc = run_until(c, &x, all_done);
    if (rc == EVF_ETIMEDOUT) {
        evf_log_error("testclient: no complete answer in %.1f s: the "
                      "request is cancelled", c->timeout);
        leave(&x);
        evf__exchange_cancel_detached();
    }
    if (rc == 0 && x.err)
        rc = x.err;
    if (rc == 0 && !x.head_done) {
        evf_log_error("testclient: the answer had no complete head");
        rc = EVF_EINVAL;
    }
    if (rc == 0)
        rc = give_body(&x);
    xch_free(&x);
    if (rc < 0 && !resp->body)
        give_body(&(xch_t){ .resp = resp });
    return rc;
}

int
evf_client_get(evf_client *c, const char *path, evf_client_resp *resp)
{
    return evf_client_request(c, &(evf_client_req){ .path = path }, resp);
}

int
evf_client_post_json(evf_client *c, const char *path, const char *json,
                     evf_client_resp *resp)
{
    return evf_client_request(c, &(evf_client_req){ .method = "POST",
                                                    .path = path,
                                                    .json = json },
                              resp);
}

/* ---- streams ------------------------------------------------------------- */

int
evf_client_stream_open(evf_client *c, const evf_client_req *req,
                       evf_client_resp *resp, evf_client_stream **sp)
{
    *sp = NULL;
    evf_client_stream *s = c ? calloc(1, sizeof(*s)) : NULL;
    if (!s) {
        memset(resp, 0, sizeof(*resp));
        return c ? -ENOMEM : EVF_EINVAL;
    }
    s->x.stream = true;
    int rc = start(c, &s->x, req, resp);
    if (rc == 0)
        rc = run_until(c, &s->x, head_or_end);
    if (rc == 0 && s->x.err)
        rc = s->x.err;
    if (rc == 0 && !s->x.head_done)
        rc = EVF_EINVAL;
    if (rc < 0) {
        leave(&s->x);
        xch_free(&s->x);
        free(s);
        return rc;
    }
    s->next = c->streams;
    c->streams = s;
    *sp = s;
    return 0;
}

int
evf_client_stream_next(evf_client_stream *s, const char **data, size_t *len)
{
    free(s->cur);
    s->cur = NULL;
    *data = NULL;
    *len = 0;
    int rc = run_until(s->x.c, &s->x, piece_or_end);
    if (rc < 0)
        return rc;
    if (s->x.err)
        return s->x.err;
    if (!s->x.pieces)
        return 0;
    s->cur = s->x.pieces;
    s->x.pieces = s->cur->next;
    if (!s->x.pieces)
        s->x.tail = &s->x.pieces;
    *data = s->cur->data;
    *len = s->cur->len;
    return 1;
}

void
evf_client_stream_close(evf_client_stream *s)
{
    if (!s)
        return;
    evf_client *c = s->x.c;
    for (evf_client_stream **pp = &c->streams; *pp; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    leave(&s->x);
    free(s->cur);
    xch_free(&s->x);
    free(s);
}

/* ---- the client ---------------------------------------------------------- */

/* The configuration: defaults, then the test's directives.  0 or -1. */
static int
configure(evf_client *c, const evf_client_opts *o)
{
    char err[512];
    if (evf_config_init(&c->conf) < 0)
        return -1;
    for (size_t i = 0; o && o->directives && o->directives[i]; i += 2) {
        const char *v = o->directives[i + 1];
        if (!v || evf_config_set(&c->conf, o->directives[i], v, err,
                                 sizeof(err)) < 0) {
            evf_log_error("testclient: directive %s: %s", o->directives[i],
                          v ? err : "no value");
            return -1;
        }
    }
    evf_config_apply(&c->conf);
    if (c->conf.log && strcmp(c->conf.log, "stderr") != 0 &&
        evf_log_open(c->conf.log) < 0)
        return -1;
    c->timeout = o && o->timeout > 0 ? o->timeout : DEFAULT_TIMEOUT;
    return 0;
}

/* The name of the app the shared object at path exports. */
static const char *
loaded_name(const char *path)
{
    char local[4096];
    if (!strchr(path, '/') && access(path, F_OK) == 0) {   /* as app.c */
        snprintf(local, sizeof(local), "./%s", path);
        path = local;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    const evf_app *app = dl ? dlsym(dl, EVF_APP_SYMBOL) : NULL;
    const char *name = app ? app->name : NULL;
    if (dl)
        dlclose(dl);    /* app.c holds its own reference */
    return name;
}

static evf_client *
client_new(const evf_app *app, const char *path, const evf_client_opts *o)
{
    if (live) {
        evf_log_error("testclient: another client is live: free it first "
                      "(one client at a time per process)");
        return NULL;
    }
    evf_client *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    live = c;
    evf_apps_free();
    if (configure(c, o) < 0 ||
        evf_builtin_register(c->conf.ping_path, c->conf.ping_response,
                             c->conf.status_path) < 0)
        goto fail;
    if (app ? evf_app_register(app, "testclient") < 0
            : evf_app_load(path, NULL) < 0)
        goto fail;
    const char *name = app ? app->name : loaded_name(path);
    for (size_t i = 0; o && o->options && o->options[i]; i += 2)
        if (!name || !o->options[i + 1] ||
            evf_app_set_option(name, o->options[i], o->options[i + 1]) < 0) {
            evf_log_error("testclient: cannot set app option %s",
                          o->options[i]);
            goto fail;
        }
    c->loop = ev_loop_new(EVFLAG_AUTO);
    if (!c->loop)
        goto fail;
    evf__loop_set(c->loop);
    ev_init(&c->cap, cap_cb);
    c->cap.data = c;
    evf__exchange_clear_hooks();
    if (evf_pool_start(c->loop, evf_settings.pool_threads,
                       evf_settings.pool_queue) < 0)
        goto fail;
    c->started = true;
    if (evf_apps_startup() < 0)
        goto fail;
    return c;
fail:
    evf_client_free(c);
    return NULL;
}

evf_client *
evf_client_new(const evf_app *app, const evf_client_opts *opts)
{
    return app ? client_new(app, NULL, opts) : NULL;
}

evf_client *
evf_client_load(const char *path, const evf_client_opts *opts)
{
    return path ? client_new(NULL, path, opts) : NULL;
}

void
evf_client_free(evf_client *c)
{
    if (!c)
        return;
    while (c->streams)
        evf_client_stream_close(c->streams);
    if (c->started) {
        /* As a worker stops (worker.c). */
        evf__exchange_cancel_detached();
        evf_pool_stop();
        evf__future_shutdown();
        evf_http_shutdown();
        evf_apps_shutdown();
    }
    evf__deps_clear_overrides();
    evf_apps_free();
    evf_builtin_free();
    if (c->loop) {
        ev_timer_stop(c->loop, &c->cap);
        ev_loop_destroy(c->loop);
        evf__loop_set(NULL);
    }
    evf_config_free(&c->conf);
    if (live == c)
        live = NULL;
    free(c);
}

int
evf_client_override(evf_client *c, const evf_dep *real, const evf_dep *fake)
{
    (void)c;
    return real ? evf__deps_override(real, NULL, fake) : EVF_EINVAL;
}

int
evf_client_override_name(evf_client *c, const char *name,
                         const evf_dep *fake)
{
    (void)c;
    return name ? evf__deps_override(NULL, name, fake) : EVF_EINVAL;
}

/* ---- answers ------------------------------------------------------------- */

const char *
evf_client_resp_header(const evf_client_resp *resp, const char *name)
{
    for (size_t i = 0; i < resp->nheaders; i++)
        if (strcasecmp(resp->headers[i].name, name) == 0)
            return resp->headers[i].value;
    return NULL;
}

json_object *
evf_client_resp_json(evf_client_resp *resp)
{
    if (!resp->json && resp->body)
        resp->json = json_tokener_parse(resp->body);
    return resp->json;
}

void
evf_client_resp_free(evf_client_resp *resp)
{
    json_object_put(resp->json);
    free(resp->headers);
    free(resp->body);
    memset(resp, 0, sizeof(*resp));
}
