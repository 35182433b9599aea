/*
 * request: one FastCGI request and the handler API (see request.h).
 *
 * DESIGN.  A request's handler runs as a task: a coroutine whose stack
 * top holds the task_t (timer and io watchers embedded), so an await costs
 * no allocation.  evf_gather adds child tasks.  Tasks are resumed only from
 * the loop's stack, by run(), which is the single place where user code
 * starts or continues; after each resume run() settles what happened: the
 * task finished (the request may be done), it raised, or it suspended
 * (buffered output is flushed then).
 *
 * Cancellation never resumes a task: its watchers are stopped and its stack
 * goes back to the pool; the request's evf_defer() cleanups run and its
 * arena is freed.  An await therefore either returns normally or never.
 *
 * The request's layout is in request_int.h; what it brought (params,
 * query, typed path parameters, validation) is read in inputs.c.
 *
 * Ownership.  The connection (owner) keeps the request in its table from
 * evf__req_new until the finished hook; request.c frees the request right
 * after that hook returns.
 */
#include "config.h"

#include <assert.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <time.h>
#include <ctype.h>
#include <ev.h>
#include <fastcgi.h>
#include <json-c/json.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"
#include "app.h"
#include "coro.h"
#include "deps.h"
#include "fcgi_params.h"
#include "fcgi_writer.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "pool.h"
#include "request.h"
#include "router.h"
#include "settings.h"
#include "stats.h"

#include "request_int.h"



static void run(task_t *t);
static void finish(evf_req *r);
static void release(evf_req *r);
static int pool_await(evf_req *r, task_t *t, bool handler,
                      void (*fn)(void *), void *arg);
static void start_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void end_detached(evf_req *r);
static void start_background(evf_req *r);
struct pool_job;
static evf_req *pool_job_req(struct pool_job *pj);
static evf_job_t *pool_job_of(struct pool_job *pj);
static void pool_job_raise(struct pool_job *pj, int status,
                           const char *detail);

/* Where the request's records go: the connection, or (on a pool thread,
 * which must not touch it) a buffer handed over when the job is done. */
static evf_buf_t *
outbuf(evf_req *r)
{
    return r->on_pool ? &r->pend : r->ops->out(r->owner);
}

static bool
gone(evf_req *r)
{
    if (r->on_pool)
        return atomic_load(&r->cancelled);
    return r->ops->gone(r->owner);
}

/* Free r now, or when its last pool job is done. */
static void
release_or_defer(evf_req *r)
{
    if (r->jobs) {
        atomic_store(&r->cancelled, true);
        return;
    }
    release(r);
}

/* An await was called where it cannot suspend (on a pool thread). */
static int
misuse(evf_req *r, const char *what)
{
    evf_log_error("%s: %s called from a blocking handler (pool thread); "
                  "awaits only work in async handlers",
                  r->route ? r->route->label : r->path, what);
    return EVF_EINVAL;
}

/* ---- allocation -------------------------------------------------------- */

static bool
mem_lock(evf_req *r)
{
    if (!r->jobs && !evf_pool_on_thread())
        return false;
    pthread_mutex_lock(&r->mem_lock);
    return true;
}

static void
mem_unlock(evf_req *r, bool locked)
{
    if (locked)
        pthread_mutex_unlock(&r->mem_lock);
}

void *
evf_alloc(evf_req *r, size_t size)
{
    bool l = mem_lock(r);
    void *p = evf_arena_alloc(&r->arena, size);
    mem_unlock(r, l);
    return p;
}

char *
evf_strdup(evf_req *r, const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = evf_alloc(r, n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *
evf__req_strndup(evf_req *r, const char *s, size_t n)
{
    char *d = evf_alloc(r, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

int
evf_defer(evf_req *r, void (*fn)(void *), void *arg)
{
    defer_t *d = evf_alloc(r, sizeof(*d));
    if (!d)
        return -1;
    d->fn = fn;
    d->arg = arg;
    bool l = mem_lock(r);
    d->next = r->defers;
    r->defers = d;
    mem_unlock(r, l);
    return 0;
}

int
evf_teardown(evf_req *r, void (*fn)(evf_req *r, void *arg), void *arg)
{
    teardown_t *t = evf_alloc(r, sizeof(*t));
    if (!t)
        return EVF_EINVAL;
    t->fn = fn;
    t->arg = arg;
    bool l = mem_lock(r);
    t->next = r->teardowns;
    r->teardowns = t;
    mem_unlock(r, l);
    return 0;
}

int
evf_background(evf_req *r, evf_task_fn fn, void *arg)
{
    background_t *b = evf_alloc(r, sizeof(*b));
    if (!b)
        return EVF_EINVAL;
    b->fn = fn;
    b->arg = arg;
    b->next = NULL;
    if (evf_pool_on_thread())
        return EVF_EINVAL;  /* only the loop owns the background list */
    if (!r->bg_tail)
        r->bg_tail = &r->bg;
    *r->bg_tail = b;
    r->bg_tail = &b->next;
    return 0;
}

void **
evf__req_deps_cache(evf_req *r)
{
    return &r->deps_cache;
}

const evf_dep *const *
evf__req_app_deps(evf_req *r)
{
    return evf__app_deps(r->route->app);
}

const evf_dep *const *
evf__req_route_deps(evf_req *r)
{
    return r->route->route->deps;
}

/* ---- creation and input ------------------------------------------------ */

evf_req *
evf__req_new(void *owner, const evf_req_owner_ops *ops, uint16_t id,
             uint8_t flags)
{
    evf_req *r = evf_malloc(sizeof(*r));
    if (!r)
        return NULL;
    memset(r, 0, offsetof(evf_req, arena0));
    r->owner = owner;
    r->ops = ops;
    r->id = id;
    r->flags = flags;
    r->stage = S_PARAMS;
    pthread_mutex_init(&r->mem_lock, NULL);
    evf_arena_init(&r->arena, r->arena0, sizeof(r->arena0));
    evf_stats.in_flight++;
    return r;
}

uint16_t
evf__req_id(const evf_req *r)
{
    return r->id;
}

bool
evf__req_keep_conn(const evf_req *r)
{
    return r->flags & FCGI_KEEP_CONN;
}

evf_req **
evf__req_link(evf_req *r)
{
    return &r->link;
}

/*
 * The PARAMS stream ended: build the params table from the strings the
 * intake stored, find the method and decode the path.
 */
static int
params_end(evf_req *r)
{
    /* Bytes after the last pair reported: the stream ended inside one. */
    if (r->scan != r->raw.len)
        return EVF_EPROTO;
    const char *s = (const char *)r->raw.data;
    size_t n = 0;
    for (size_t i = 0; i < r->raw.off; i++)
        n += s[i] == '\0';
    n /= 2;
    pair_t *t = evf_alloc(r, (n ? n : 1) * sizeof(pair_t));
    if (!t)
        return EVF_EPROTO;
    /* The buffer stays as the strings' storage until the request ends. */
    for (size_t i = 0; i < n; i++) {
        t[i].name = s;
        s += strlen(s) + 1;
        t[i].value = s;
        s += strlen(s) + 1;
    }
    r->params = t;
    r->nparams = n;

    r->method = req_param(r, "REQUEST_METHOD");
    if (!r->method)
        r->method = "GET";
    /*
     * Route on REQUEST_URI: nginx and Apache's mod_proxy_fcgi both send it
     * unchanged, while they split SCRIPT_NAME and PATH_INFO differently.
     */
    const char *uri = req_param(r, "REQUEST_URI");
    if (!uri)
        uri = req_param(r, "DOCUMENT_URI");
    if (!uri)
        uri = req_param(r, "SCRIPT_NAME");
    if (!uri || !*uri)
        uri = "/";
    size_t len = strcspn(uri, "?");
    char *path = evf_alloc(r, len + 1);
    if (!path)
        return EVF_EPROTO;
    evf_pct_decode(path, uri, len, false);
    r->path = path;
    return 0;
}

/* Copy p[0..len) up to its first NUL byte to dst, NUL-terminated. */
static char *
store_str(char *dst, const uint8_t *p, size_t len)
{
    const uint8_t *nul = memchr(p, '\0', len);
    if (nul)
        len = (size_t)(nul - p);
    memmove(dst, p, len);
    dst[len] = '\0';
    return dst + len + 1;
}

/*
 * Take each pair of the PARAMS stream once, as soon as it has arrived
 * (fcgi_params.h's scanner; r->scan is its position).  Its name and value
 * move at once, NUL-terminated, to raw.off, the end of the strings stored
 * at the start of the raw buffer: a pair's encoded lengths take at least
 * the two bytes its terminators need, so the write position never passes
 * the scanner's, and the scanner never reads behind its position again.
 * A name or value keeps what precedes its first NUL byte (all a C string
 * shows anyway), so that params_end can walk the strings back.
 *
 * A pair claiming more bytes than the params limit could ever hold is an
 * impossible length: the connection is closed at once instead of waiting
 * for bytes that will not come.
 */
static int
scan_pairs(evf_req *r)
{
    evf_fcgi_scan_t scan = { .pos = r->scan };
    evf_fcgi_pair_t p;
    int rc;

    while ((rc = evf_fcgi_params_next(&scan, r->raw.data, r->raw.len,
                                      evf_settings.max_params, &p)) > 0) {
        char *base = (char *)r->raw.data;
        char *end = store_str(base + r->raw.off, p.name, p.nlen);
        end = store_str(end, p.value, p.vlen);
        r->raw.off = (size_t)(end - base);
    }
    r->scan = scan.pos;
    return rc < 0 ? EVF_EPROTO : 0;
}

int
evf__req_params(evf_req *r, const uint8_t *data, size_t len)
{
    if (r->stage != S_PARAMS)
        return EVF_EPROTO;
    if (len == 0) {
        r->stage = S_STDIN;
        if (r->reject)
            return 0;
        return params_end(r);
    }
    if (r->reject)
        return 0;   /* over the limit: the rest is read and dropped */
    if (len > evf_settings.max_params - r->raw.len) {
        r->reject = 431;
        evf_buf_free(&r->raw);
        return 0;
    }
    /* raw.off is the strings' write position, not a consumed prefix: hide
     * it from the append, which would reclaim such a prefix by moving the
     * data down. */
    size_t wr = r->raw.off;
    r->raw.off = 0;
    int rc = evf_buf_append(&r->raw, data, len);
    r->raw.off = wr;
    if (rc < 0)
        return EVF_EPROTO;
    return scan_pairs(r);
}

static void start(evf_req *r);

int
evf__req_stdin(evf_req *r, const uint8_t *data, size_t len)
{
    if (r->stage != S_STDIN)
        return EVF_EPROTO;
    if (len == 0) {
        r->stage = S_RUNNING;
        start(r);
        return 0;
    }
    if (r->reject)
        return 0;
    if (len > evf_settings.max_body - r->body.len) {
        r->reject = 413;
        evf_buf_free(&r->body);
        return 0;
    }
    return evf_buf_append(&r->body, data, len) < 0 ? EVF_EPROTO : 0;
}

/* ---- responses --------------------------------------------------------- */

static const char *
reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Request Entity Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default:
        if (status < 200) return "Informational";
        if (status < 300) return "Success";
        if (status < 400) return "Redirection";
        if (status < 500) return "Client Error";
        return "Server Error";
    }
}

int
evf_add_header(evf_req *r, const char *name, const char *value)
{
    if (r->answered)
        return EVF_EINVAL;
    /* A CR or LF would let a value start a header of its own. */
    if (strpbrk(name, "\r\n:") || strpbrk(value, "\r\n"))
        return EVF_EINVAL;
    size_t nl = strlen(name), vl = strlen(value);
    size_t need = r->hdrs_len + nl + vl + 4;
    char *h = evf_alloc(r, need + 1);
    if (!h)
        return EVF_EINVAL;
    if (r->hdrs_len)
        memcpy(h, r->hdrs, r->hdrs_len);
    sprintf(h + r->hdrs_len, "%s: %s\r\n", name, value);
    r->hdrs = h;
    r->hdrs_len = need;
    return 0;
}

/*
 * Write the CGI response head and body (or, for a stream, the head only).
 * Returns 0, EVF_EINVAL when already answered, EVF_EGONE when the client
 * left.
 */
static int
answer(evf_req *r, int status, const char *ctype, const void *body,
       size_t len, bool stream)
{
    if (r->answered)
        return EVF_EINVAL;
    r->answered = true;
    r->status = status;
    r->streaming = stream;
    if (gone(r))
        return EVF_EGONE;
    if (status < 100 || status > 999)
        status = 500;

    char small[512];
    size_t cap = sizeof(small);
    char *head = small;
    size_t need = 128 + (ctype ? strlen(ctype) : 0) + r->hdrs_len;
    if (need > cap) {
        head = evf_alloc(r, need);
        if (!head)
            return EVF_EINVAL;
        cap = need;
    }
    int n = snprintf(head, cap, "Status: %d %s\r\n", status, reason(status));
    if (ctype)
        n += snprintf(head + n, cap - (size_t)n, "Content-Type: %s\r\n",
                      ctype);
    if (!stream)
        n += snprintf(head + n, cap - (size_t)n, "Content-Length: %zu\r\n",
                      len);
    if (r->hdrs_len)
        memcpy(head + n, r->hdrs, r->hdrs_len);
    n += (int)r->hdrs_len;
    head[n++] = '\r';
    head[n++] = '\n';

    evf_buf_t *out = outbuf(r);
    if (evf_fcgi_write_stream2(out, FCGI_STDOUT, r->id, head, (size_t)n,
                               body, len) < 0)
        return EVF_EGONE;
    if (!stream && evf_fcgi_write_stream(out, FCGI_STDOUT, r->id, NULL, 0) < 0)
        return EVF_EGONE;
    r->bytes_out += len;
    return 0;
}

int
evf_respond(evf_req *r, int status, const char *content_type,
            const void *body, size_t len)
{
    return answer(r, status, content_type, body, len, false);
}

int
evf_text(evf_req *r, int status, const char *text)
{
    return answer(r, status, "text/plain; charset=utf-8", text, strlen(text),
                  false);
}

static int
answer_json_str(evf_req *r, int status, const char *json, size_t len)
{
    return answer(r, status, "application/json", json, len, false);
}

int
evf_json(evf_req *r, int status, json_object *obj)
{
    size_t len;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    int rc = answer_json_str(r, status, s, len);
    json_object_put(obj);
    return rc;
}

int
evf_json_printf(evf_req *r, int status, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return EVF_EINVAL;
    if ((size_t)n < sizeof(small))
        return answer_json_str(r, status, small, (size_t)n);
    char *big = evf_alloc(r, (size_t)n + 1);
    if (!big)
        return EVF_EINVAL;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return answer_json_str(r, status, big, (size_t)n);
}

/* {"detail": detail} */
static int
answer_detail(evf_req *r, int status, const char *detail)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "detail", json_object_new_string(detail));
    return evf_json(r, status, o);
}

/* ---- tasks ------------------------------------------------------------- */

static task_t *
self_task(evf_req *r)
{
    evf_coro_t *c = evf_coro_self();
    assert(c && "an await was called outside a request's handler");
    task_t *t = evf_coro_extra(c);
    assert(t->req == r && "an await was given another request");
    return t;
}

static void
task_entry(evf_coro_t *c, void *arg)
{
    task_t *t = evf_coro_extra(c);
    evf_req *r = t->req;
    (void)arg;
    if (t->fn) {
        t->fn(r, t->arg);
        return;
    }
    /* The main task: dependencies first (an evf_raise in one ends the
     * request here), then the handler, on the pool if it blocks. */
    if (evf__deps_resolve_route(r) < 0)
        return;
    if (!r->route->route->blocking) {
        r->route->route->handler(r);
        return;
    }
    if (pool_await(r, t, true, NULL, NULL) == EVF_EBUSY) {
        /* Every thread busy and the queue full: say so at once. */
        evf_add_header(r, "Retry-After", "1");
        answer_detail(r, 503, "Service Unavailable");
    }
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void io_cb(struct ev_loop *loop, ev_io *w, int revents);

static task_t *
task_new(evf_req *r, evf_task_fn fn, void *arg)
{
    void *extra;
    task_t *t;
    evf_coro_t *c = evf_coro_new(task_entry, NULL, sizeof(*t), &extra);
    if (!c)
        return NULL;
    t = extra;
    t->coro = c;
    t->req = r;
    t->fn = fn;
    t->arg = arg;
    ev_init(&t->timer, timer_cb);
    ev_init(&t->io, io_cb);
    t->next = r->tasks;
    r->tasks = t;
    return t;
}

/* Stop t's watchers and drop its stack (t is gone afterwards). */
static void
task_drop(task_t *t)
{
    evf_req *r = t->req;
    struct ev_loop *loop = evf__loop();
    ev_timer_stop(loop, &t->timer);
    ev_io_stop(loop, &t->io);
    for (task_t **pp = &r->tasks; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    if (r->drain_task == t)
        r->drain_task = NULL;
    /* A pool thread may still write to what the task lent it (often on
     * its stack): the stack is freed when the job is done. */
    if (t->in_pool) {
        t->orphaned = true;
        evf_pool_cancel(pool_job_of(t->job));   /* if it has not started */
        return;
    }
    evf_coro_free(t->coro);
}

static void
drop_all_tasks(evf_req *r)
{
    while (r->tasks)
        task_drop(r->tasks);
}

/* Suspend the running task t until a watcher or a hook resumes it. */
static int
suspend(task_t *t)
{
    evf_req *r = t->req;
    /* What the handler wrote so far goes out while it waits. */
    r->ops->flush(r->owner);
    evf_coro_yield(t->coro);
    return t->result;
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    task_t *t = container_of(w, task_t, timer);
    (void)revents;
    ev_io_stop(loop, &t->io);
    t->result = t->timer_result;
    run(t);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    task_t *t = container_of(w, task_t, io);
    ev_timer_stop(loop, &t->timer);
    ev_io_stop(loop, w);
    t->result = (revents & EV_READ ? EVF_READ : 0) |
                (revents & EV_WRITE ? EVF_WRITE : 0);
    run(t);
}

/* ---- background tasks ------------------------------------------------- */

/* Hooks of a request the connection has forgotten: nothing goes out. */
static evf_buf_t *
d_out(void *o)
{
    return &((evf_req *)o)->pend;
}

static int
d_flush(void *o)
{
    evf_buf_free(&((evf_req *)o)->pend);
    return EVF_EGONE;
}

static bool
d_congested(void *o)
{
    (void)o;
    return false;
}

static void
d_wait_drain(void *o, evf_req *r)
{
    (void)o, (void)r;
}

static void
d_hold(void *o)
{
    (void)o;
}

static bool
d_gone(void *o)
{
    (void)o;
    return true;
}

static void
d_finished(void *o, evf_req *r, bool answered)
{
    (void)o, (void)r, (void)answered;
}

static const evf_req_owner_ops detached_ops = {
    .out = d_out, .flush = d_flush, .congested = d_congested,
    .wait_drain = d_wait_drain, .hold = d_hold, .unhold = d_hold,
    .gone = d_gone, .finished = d_finished,
};

static evf_req *detached_head;

/* The answer is out: run the background tasks, then release. */
static void
start_background(evf_req *r)
{
    r->detached = true;
    r->owner = r;
    r->ops = &detached_ops;
    r->dnext = detached_head;
    if (detached_head)
        detached_head->dprev = r;
    detached_head = r;
    for (background_t *b = r->bg; b; b = b->next) {
        task_t *t = task_new(r, b->fn, b->arg);
        if (!t) {
            evf_log_error("%s: no stack for a background task; skipped",
                          r->route ? r->route->label : r->path);
            continue;
        }
        t->background = true;
        ev_set_cb(&t->timer, start_cb);
        ev_timer_set(&t->timer, 0., 0.);
        ev_timer_start(evf__loop(), &t->timer);
    }
    if (!r->tasks)
        end_detached(r);
}

static void
end_detached(evf_req *r)
{
    if (r->dprev)
        r->dprev->dnext = r->dnext;
    else
        detached_head = r->dnext;
    if (r->dnext)
        r->dnext->dprev = r->dprev;
    release_or_defer(r);
}

void
evf__req_cancel_detached(void)
{
    while (detached_head) {
        evf_req *r = detached_head;
        evf_stats.aborted++;
        drop_all_tasks(r);
        end_detached(r);
    }
}

/* ---- waiting for another task ------------------------------------------ */

void *
evf__task_self(evf_req *r)
{
    return self_task(r);
}

void
evf__task_suspend(evf_req *r)
{
    suspend(self_task(r));
}

void
evf__task_wake(void *task)
{
    task_t *t = task;
    t->timer_result = 0;
    ev_timer_stop(evf__loop(), &t->timer);
    ev_timer_set(&t->timer, 0., 0.);
    ev_timer_start(evf__loop(), &t->timer);
}

/*
 * A handler ran this long without awaiting: every other request waited.
 * Counted always; logged once a minute per route, with the fix.
 */
static void
slow_slice(evf_req *r, double seconds)
{
    evf_stats.slow_callbacks++;
    if (!r->route)
        return;
    double now = evf__now();
    if (r->route->slow_logged_at && now - r->route->slow_logged_at < 60)
        return;
    r->route->slow_logged_at = now;
    evf_log_warn("%s blocked the event loop for %.0f ms without awaiting "
                 "(slow_callback_ms is %.0f): every other request waited. "
                 "Declare the route .blocking = true, or move the blocking "
                 "call into evf_to_thread()", r->route->label,
                 seconds * 1000, evf_settings.slow_callback * 1000);
}

/*
 * Resume t from the loop and settle what it did.  The only place user code
 * runs from.  May finish (and free) t's request.
 */
static void
run(task_t *t)
{
    evf_req *r = t->req;
    void *owner = r->owner;
    const evf_req_owner_ops *ops = r->ops;

    ops->hold(owner);
    double t0 = evf__now();
    bool alive = evf_coro_resume(t->coro);
    double slice = evf__now() - t0;
    if (slice > evf_settings.slow_callback)
        slow_slice(r, slice);
    if (r->detached) {
        /* A background task: the answer is long gone. */
        if (r->raised || !alive) {
            if (r->raised)
                drop_all_tasks(r);
            else
                task_drop(t);
            if (!r->tasks)
                end_detached(r);
        }
    } else if (r->raised) {
        drop_all_tasks(r);
        finish(r);
    } else if (!alive) {
        task_t *parent = t->parent;
        task_drop(t);
        if (!parent) {
            finish(r);
        } else if (--parent->children == 0) {
            parent->result = 0;
            run(parent);
        }
    } else {
        ops->flush(owner);
    }
    ops->unhold(owner);
}

/* A gathered child's first run; its timer serves its awaits afterwards. */
static void
start_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    ev_set_cb(w, timer_cb);
    run(container_of(w, task_t, timer));
}

/* ---- awaits ------------------------------------------------------------ */

/*
 * Arm t's timer for an await of `seconds` (< 0: none) under the request's
 * deadline.  Returns EVF_ETIMEDOUT when the deadline has already passed.
 */
static int
arm_timer(task_t *t, double seconds)
{
    evf_req *r = t->req;
    struct ev_loop *loop = evf__loop();
    t->timer_result = 0;
    if (r->deadline > 0) {
        double left = r->deadline - ev_now(loop);
        if (left <= 0)
            return EVF_ETIMEDOUT;
        if (seconds < 0 || left < seconds) {
            seconds = left;
            t->timer_result = EVF_ETIMEDOUT;
        }
    }
    if (seconds >= 0) {
        ev_timer_set(&t->timer, seconds, 0.);
        ev_timer_start(loop, &t->timer);
    }
    return 0;
}

int
evf_sleep(evf_req *r, double seconds)
{
    if (evf_pool_on_thread())
        return misuse(r, "evf_sleep");
    task_t *t = self_task(r);
    int rc = arm_timer(t, seconds < 0 ? 0 : seconds);
    if (rc < 0)
        return rc;
    return suspend(t);
}

int
evf_wait_fd(evf_req *r, int fd, int events, double timeout)
{
    if (evf_pool_on_thread())
        return misuse(r, "evf_wait_fd");
    task_t *t = self_task(r);
    int ev = (events & EVF_READ ? EV_READ : 0) |
             (events & EVF_WRITE ? EV_WRITE : 0);
    if (fd < 0 || !ev)
        return EVF_EINVAL;
    int rc = arm_timer(t, timeout);
    if (rc < 0)
        return rc;
    /* Here the timer, if armed, is the await's timeout or the deadline. */
    t->timer_result = EVF_ETIMEDOUT;
    ev_io_set(&t->io, fd, ev);
    ev_io_start(evf__loop(), &t->io);
    return suspend(t);
}

int
evf_gather(evf_req *r, size_t n, evf_task_fn fn, void *const *args)
{
    if (evf_pool_on_thread())
        return misuse(r, "evf_gather");
    task_t *self = self_task(r);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        task_t *c = task_new(r, fn, args[i]);
        if (!c) {
            /* Out of stacks: the children already started still finish
             * before this returns. */
            rc = EVF_EINVAL;
            break;
        }
        c->parent = self;
        self->children++;
        /* Children start from the loop: resumes never nest. */
        ev_set_cb(&c->timer, start_cb);
        ev_timer_set(&c->timer, 0., 0.);
        ev_timer_start(evf__loop(), &c->timer);
    }
    if (self->children)
        suspend(self);
    return rc;
}

void
evf_set_deadline(evf_req *r, double seconds)
{
    r->deadline = seconds > 0 ? ev_now(evf__loop()) + seconds : 0;
}

double
evf__req_time_left(evf_req *r)
{
    if (r->deadline <= 0)
        return -1;
    double left = r->deadline - ev_now(evf__loop());
    return left > 0 ? left : 0;
}

bool
evf_is_disconnected(evf_req *r)
{
    return gone(r);
}

/* ---- streaming --------------------------------------------------------- */

int
evf_stream_begin(evf_req *r, int status, const char *content_type)
{
    return answer(r, status, content_type, NULL, 0, true);
}

int
evf_stream_write(evf_req *r, const void *data, size_t len)
{
    if (!r->streaming)
        return EVF_EINVAL;
    if (gone(r))
        return EVF_EGONE;
    if (len == 0)
        return 0;
    evf_buf_t *out = outbuf(r);
    if (evf_fcgi_write_stream(out, FCGI_STDOUT, r->id, data, len) < 0)
        return EVF_EGONE;
    r->bytes_out += len;
    /* A blocking handler's stream is sent when the handler returns. */
    if (r->on_pool)
        return 0;
    if (r->ops->flush(r->owner) < 0)
        return EVF_EGONE;
    if (r->ops->congested(r->owner)) {
        task_t *t = self_task(r);
        r->drain_task = t;
        r->ops->wait_drain(r->owner, r);
        suspend(t);
        if (r->ops->gone(r->owner))
            return EVF_EGONE;
    }
    return 0;
}

int
evf_stream_printf(evf_req *r, const char *fmt, ...)
{
    char small[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return EVF_EINVAL;
    if ((size_t)n < sizeof(small))
        return evf_stream_write(r, small, (size_t)n);
    char *big = evf_alloc(r, (size_t)n + 1);
    if (!big)
        return EVF_EINVAL;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return evf_stream_write(r, big, (size_t)n);
}

int
evf_stream_end(evf_req *r)
{
    if (!r->streaming)
        return EVF_EINVAL;
    r->streaming = false;
    if (gone(r))
        return EVF_EGONE;
    evf_buf_t *out = outbuf(r);
    return evf_fcgi_write_stream(out, FCGI_STDOUT, r->id, NULL, 0) < 0
               ? EVF_EGONE : 0;
}

void
evf__req_drained(evf_req *r)
{
    task_t *t = r->drain_task;
    if (!t)
        return;
    r->drain_task = NULL;
    t->result = 0;
    run(t);
}

/* ---- raising ----------------------------------------------------------- */

static _Thread_local struct pool_job *pool_current;
static _Thread_local jmp_buf *raise_target;

int
evf_raise(evf_req *r, int status, const char *detail)
{
    if (!detail)
        detail = reason(status);
    if (evf_pool_on_thread()) {
        /* The loop answers once the job is back (job_done). */
        struct pool_job *pj = pool_current;
        if (!pj || !raise_target || pool_job_req(pj) != r)
            return EVF_EINVAL;
        pool_job_raise(pj, status, detail);
        longjmp(*raise_target, 1);
    }
    int rc = answer_detail(r, status, detail);
    evf_coro_t *c = evf_coro_self();
    if (!c)
        return rc;
    task_t *t = evf_coro_extra(c);
    if (t->req != r)
        return rc;
    /* Like an exception: the request's tasks end here.  run() sees
     * r->raised and finishes the request; this task is never resumed. */
    r->raised = true;
    evf_coro_yield(c);
    abort();    /* not reached */
}

/* ---- the pool ---------------------------------------------------------- */

/*
 * A job for the pool: fn(arg) for evf_to_thread, or a blocking route's
 * handler (on_pool: its responses go to r->pend).  evf_raise on the pool
 * thread lands back in job_work, and the loop answers for it.
 */
struct pool_job {
    evf_job_t job;
    task_t *task;
    evf_req *req;
    void (*fn)(void *arg);
    void *arg;
    bool handler;           /* run the route's handler, not fn */
    int raised;             /* status evf_raise asked for, or 0 */
    char *detail;
};
typedef struct pool_job pool_job_t;

static evf_job_t *
pool_job_of(pool_job_t *pj)
{
    return &pj->job;
}

static evf_req *
pool_job_req(pool_job_t *pj)
{
    return pj->req;
}

/* Pool thread: keep what evf_raise asked for (the arena is the job's
 * request's, which this thread owns while the job runs). */
static void
pool_job_raise(pool_job_t *pj, int status, const char *detail)
{
    pj->raised = status;
    pj->detail = evf_strdup(pj->req, detail);
    if (!pj->detail)
        pj->detail = (char *)"";
}

static void
job_work(evf_job_t *j)
{
    pool_job_t *pj = container_of(j, pool_job_t, job);
    jmp_buf target;
    if (atomic_load(&pj->req->cancelled))
        return;     /* nobody waits for it any more */
    pool_current = pj;
    if (setjmp(target) == 0) {
        raise_target = &target;
        if (pj->handler)
            pj->req->route->route->handler(pj->req);
        else
            pj->fn(pj->arg);
    }
    raise_target = NULL;
    pool_current = NULL;
}

static void
job_done(evf_job_t *j)
{
    pool_job_t *pj = container_of(j, pool_job_t, job);
    task_t *t = pj->task;
    evf_req *r = pj->req;
    r->jobs--;
    r->on_pool = false;
    t->in_pool = false;
    if (t->orphaned) {
        /* The request was cancelled meanwhile: only memory is left. */
        evf_coro_free(t->coro);
        if (atomic_load(&r->cancelled) && !r->jobs)
            release(r);
        return;
    }
    if (evf_buf_used(&r->pend)) {
        evf_buf_t *out = r->ops->out(r->owner);
        if (evf_buf_append(out, r->pend.data + r->pend.off,
                           evf_buf_used(&r->pend)) < 0)
            evf_log_error("%s: out of memory for the response",
                          r->route->label);
    }
    evf_buf_free(&r->pend);
    if (pj->raised) {
        /* Raised on the pool thread: end the request as the loop would. */
        if (!r->answered)
            answer_detail(r, pj->raised, pj->detail);
        r->raised = true;
    }
    t->result = 0;
    run(t);
}

/* Submit fn(arg), or the handler, from task t and await it. */
static int
pool_await(evf_req *r, task_t *t, bool handler, void (*fn)(void *),
           void *arg)
{
    pool_job_t *pj = evf_alloc(r, sizeof(*pj));
    if (!pj)
        return EVF_EINVAL;
    *pj = (pool_job_t){
        .job = { .work = job_work, .done = job_done },
        .task = t, .req = r, .fn = fn, .arg = arg, .handler = handler,
    };
    r->jobs++;
    t->in_pool = true;
    t->job = pj;
    r->on_pool = handler;
    if (evf_pool_submit(&pj->job) < 0) {
        r->jobs--;
        t->in_pool = false;
        r->on_pool = false;
        return EVF_EBUSY;
    }
    int rc = suspend(t);
    if (r->raised)
        evf_coro_yield(t->coro);    /* raised on the pool: ends here */
    return rc;
}

int
evf_to_thread(evf_req *r, void (*fn)(void *arg), void *arg)
{
    if (evf_pool_on_thread())
        return misuse(r, "evf_to_thread");
    return pool_await(r, self_task(r), false, fn, arg);
}

/* ---- starting a request ------------------------------------------------ */

/* The daemon's own paths: ping and the status page.  True if answered. */
static bool
builtin_path(evf_req *r)
{
    const char *ping = evf_settings.ping_path;
    const char *status = evf_settings.status_path;
    if (ping && strcmp(r->path, ping) == 0) {
        const char *resp = evf_settings.ping_response
                               ? evf_settings.ping_response : "pong";
        evf_add_header(r, "Cache-Control", "no-store");
        evf_respond(r, 200, "text/plain", resp, strlen(resp));
        return true;
    }
    if (status && strcmp(r->path, status) == 0) {
        const char *qs = req_param(r, "QUERY_STRING");
        bool json = !(qs && strstr(qs, "text"));
        const char *const *labels;
        unsigned n = evf_apps_route_labels(&labels);
        char *body = evf_stats_render(json, labels, n, evf_settings.started,
                                      evf_settings.workers);
        if (!body)
            return false;
        evf_add_header(r, "Cache-Control", "no-store");
        evf_respond(r, 200, json ? "application/json" : "text/plain", body,
                    strlen(body));
        evf_free(body);
        return true;
    }
    return false;
}

void (*evf__recycle_hook)(void);

/* The request is over for the counters and the access log. */
static void
account(evf_req *r, int status)
{
    if (r->counted) {
        evf_stats.route_in_flight[r->route->index]--;
        r->counted = false;
    }
    if (r->logged || !evf_access_enabled())
        return;
    r->logged = true;
    evf_access_entry_t e = {
        .remote_addr = req_param(r, "REMOTE_ADDR"),
        .method = r->method ? r->method : "-",
        .uri = req_param(r, "REQUEST_URI") ? req_param(r, "REQUEST_URI")
                                       : (r->path ? r->path : "-"),
        .status = status,
        .bytes = r->bytes_out,
        .duration = r->t0 > 0 ? ev_now(evf__loop()) - r->t0 : 0,
        .route = r->route ? r->route->label : NULL,
        .request_id = r->id,
    };
    evf_access_write(&e);
}

/* STDIN ended: route the request and start its handler.  May finish. */
static void
start(evf_req *r)
{
    struct ev_loop *loop = evf__loop();
    void *owner = r->owner;
    const evf_req_owner_ops *ops = r->ops;
    r->t0 = ev_now(loop);
    ops->hold(owner);
    if (r->reject) {
        answer_detail(r, r->reject, reason(r->reject));
        finish(r);
        goto out;
    }
    if (builtin_path(r)) {
        finish(r);
        goto out;
    }
    const evf_router_t *rt = evf_apps_router();
    evf_match_t m;
    if (rt)
        evf_router_match(rt, r->method, r->path, &m);
    else
        m.status = 404;
    if (m.status == 405) {
        evf_add_header(r, "Allow", m.allow);
        answer_detail(r, 405, "Method Not Allowed");
        finish(r);
        goto out;
    }
    if (m.status) {
        answer_detail(r, 404, "Not Found");
        finish(r);
        goto out;
    }
    r->route = m.data;
    if (!evf__req_validate(r, &m)) {
        finish(r);
        goto out;
    }
    double dl = r->route->route->deadline > 0 ? r->route->route->deadline
                                              : evf_settings.request_deadline;
    if (dl > 0)
        r->deadline = r->t0 + dl;
    if (r->route->index < EVF_STATS_MAX_ROUTES) {
        evf_stats.route_in_flight[r->route->index]++;
        r->counted = true;
    }
    task_t *t = task_new(r, NULL, NULL);
    if (!t) {
        evf_log_error("%s: out of coroutine stacks", r->route->label);
        answer_detail(r, 503, "Service Unavailable");
        finish(r);
        goto out;
    }
    run(t);
out:
    ops->unhold(owner);     /* r may be gone by now */
}

/* ---- the end ----------------------------------------------------------- */

static void
release(evf_req *r)
{
    /* Teardowns first (dependency cleanups may use what defers free). */
    while (r->teardowns) {
        teardown_t *t = r->teardowns;
        r->teardowns = t->next;
        t->fn(r, t->arg);
    }
    while (r->defers) {
        defer_t *d = r->defers;
        r->defers = d->next;
        d->fn(d->arg);
    }
    evf_buf_free(&r->raw);
    evf_buf_free(&r->body);
    evf_buf_free(&r->pend);
    evf_arena_release(&r->arena);
    pthread_mutex_destroy(&r->mem_lock);
    evf_stats.in_flight--;
    evf_free(r);
}

/* The handler is done (or never ran): complete the answer and free r. */
static void
finish(evf_req *r)
{
    void *owner = r->owner;
    if (!r->answered) {
        evf_stats.handler_no_answer++;
        evf_log_error("%s: handler returned without answering; sent 500 "
                      "(answer with evf_respond/evf_json/evf_raise before "
                      "returning, and await what must finish first)",
                      r->route ? r->route->label : r->path);
        answer_detail(r, 500, "Internal Server Error");
    } else if (r->streaming) {
        evf_stream_end(r);
    }
    drop_all_tasks(r);
    evf_stats.requests++;
    if (r->status >= 100 && r->status < 600)
        evf_stats.by_class[r->status / 100]++;
    account(r, r->status);
    if (evf_settings.max_requests && evf__recycle_hook &&
        evf_stats.requests == evf_settings.max_requests)
        evf__recycle_hook();
    r->ops->finished(owner, r, true);
    if (r->bg && !r->raised)
        start_background(r);
    else
        release_or_defer(r);
}

void
evf__req_abort(evf_req *r, bool send_end)
{
    if (r->stage == S_RUNNING) {
        evf_stats.aborted++;
        account(r, 499);    /* nginx's code for "the client went away" */
    }
    drop_all_tasks(r);
    r->ops->finished(r->owner, r, send_end);
    release_or_defer(r);
}

void
evf_log(evf_req *r, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    evf_log_msg(level, "%s (request %u): %s",
                r->route ? r->route->label : r->path, r->id, msg);
}
