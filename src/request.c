/*
 * request: one FastCGI request's state and the handler API's memory and
 * await functions (see request.h).
 *
 * Owns the request's arena and cleanups (evf_alloc, evf_defer,
 * evf_teardown, evf_background registration), the PARAMS and STDIN intake,
 * and the awaits of evfcgi.h, which are the scheduler's (task.c) bound to
 * the request's task group.  What the request brought is read in inputs.c,
 * the answer is written in response.c, and its life cycle (start, finish,
 * abort, background tasks) is exchange.c's.  The layout is in
 * request_int.h.  Loop thread; the functions that say so may also run on
 * a pool thread that owns a blocking request.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <fastcgi.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_params.h"
#include "forms.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "request.h"
#include "settings.h"
#include "stats.h"
#include "url.h"

#include "request_int.h"

const char *
evf__req_label(const evf_req *r)
{
    if (r->route)
        return r->route->label;
    return r->path ? r->path : "(request)";
}

/* An await was called where it cannot suspend (on a pool thread). */
int
evf__req_misuse(evf_req *r, const char *what)
{
    evf_log_error("%s: %s called from a blocking handler or function (pool "
                  "thread); awaits only work in async handlers",
                  evf__req_label(r), what);
    return EVF_EINVAL;
}

bool
evf__req_on_pool(const evf_req *r)
{
    return r->on_pool && evf_pool_on_thread();
}

evf_task_t *
evf__req_task(evf_req *r)
{
    evf_task_t *t = evf__task_current();
    assert(t && "an await was called outside a request's handler");
    assert(evf__task_group(t) == &r->tasks &&
           "an await was given another request");
    return t;
}

/* ---- allocation -------------------------------------------------------- */

static bool
mem_lock(evf_req *r)
{
    if (!evf__tasks_jobs_out(&r->tasks) && !evf_pool_on_thread())
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
    return r->route->app_deps;
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
    evf_coro_slot_t *slot;
    evf_req *r = evf_coro_slot_take(sizeof(*r), &slot);
    if (!r)
        return NULL;
    memset(r, 0, offsetof(evf_req, arena0));
    r->slot = slot;
    r->raw = (evf_buf_t){ .data = r->raw0, .cap = sizeof(r->raw0) };
    r->owner = owner;
    r->ops = ops;
    r->id = id;
    r->flags = flags;
    r->stage = S_PARAMS;
    r->begun = ev_now(evf__loop());
    evf__req_tasks_init(r);
    pthread_mutex_init(&r->mem_lock, NULL);
    evf_arena_init(&r->arena, r->arena0, sizeof(r->arena0));
    evf_stats.in_flight++;
    return r;
}

double
evf__req_intake_since(const evf_req *r)
{
    return r->stage == S_RUNNING ? 0 : r->begun;
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

bool
evf__req_has_after(const evf_req *r)
{
    return r->teardowns || r->bg;
}

evf_req **
evf__req_link(evf_req *r)
{
    return &r->link;
}

/* The first pair named key in t[0..n), its value, or NULL (first bytes
 * compared before strcmp: most names differ there). */
static const char *
find_pair(const pair_t *t, size_t n, const char *key)
{
    char c0 = key[0];
    for (size_t i = 0; i < n; i++)
        if (t[i].name[0] == c0 && strcmp(t[i].name, key) == 0)
            return t[i].value;
    return NULL;
}

/*
 * The PARAMS stream ended: the params table (built while scanning when
 * every pair came in one record, else from the strings the intake
 * stored), the method and the decoded path.
 */
static int
params_end(evf_req *r)
{
    /* Bytes after the last pair reported: the stream ended inside one. */
    if (r->scan != r->raw.len)
        return EVF_EPROTO;
    size_t n = r->npairs;
    pair_t *t = r->params;
    if (!t) {
        const char *s = (const char *)r->raw.data;
        t = evf_alloc(r, (n ? n : 1) * sizeof(pair_t));
        if (!t) {
            r->reject = 503;    /* out of memory: this request only */
            return 0;
        }
        /* The buffer stays as the strings' storage until the request
         * ends. */
        for (size_t i = 0; i < n; i++) {
            t[i].name = s;
            s += strlen(s) + 1;
            t[i].value = s;
            s += strlen(s) + 1;
        }
    }
    r->params = t;
    r->nparams = n;

    r->method = find_pair(t, n, "REQUEST_METHOD");
    if (!r->method)
        r->method = "GET";
    /*
     * Route on REQUEST_URI: nginx and Apache's mod_proxy_fcgi both send it
     * unchanged, while they split SCRIPT_NAME and PATH_INFO differently.
     */
    const char *uri = find_pair(t, n, "REQUEST_URI");
    if (!uri)
        uri = find_pair(t, n, "DOCUMENT_URI");
    if (!uri)
        uri = find_pair(t, n, "SCRIPT_NAME");
    if (!uri || !*uri)
        uri = "/";
    size_t len = strcspn(uri, "?");
    char *path = evf_alloc(r, len + 1);
    if (!path) {
        r->reject = 503;
        return 0;
    }
    r->path_len = evf_pct_decode(path, uri, len, false);
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
 * memmove(dst, src, n) for dst below src, without a library call for the
 * short strings most CGI names and values are: up to 16 bytes as two
 * overlapping words, both read before either is written.
 */
static inline void
move_down(char *dst, const uint8_t *src, size_t n)
{
    if (n > 16) {
        memmove(dst, src, n);
    } else if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, src, 8);
        memcpy(&b, src + n - 8, 8);
        memcpy(dst, &a, 8);
        memcpy(dst + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, src, 4);
        memcpy(&b, src + n - 4, 4);
        memcpy(dst, &a, 4);
        memcpy(dst + n - 4, &b, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            dst[i] = (char)src[i];
    }
}

/* Pairs of the first record that make the table at once (nginx: ~18). */
#define TABLE_NOW 48

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
 * When the pairs come in the stream's first record (nginx sends them all
 * in one), the table of them is made here, in r->params, saving
 * params_end the walk; evf__req_params drops it when more bytes come (the
 * buffer may move).
 *
 * A pair claiming more bytes than the params limit could ever hold is
 * answered 431 as soon as its lengths arrive, like a stream over the limit:
 * the rest of it is read and dropped, and the connection goes on (any
 * 31-bit length is valid FastCGI).  Returns 0.
 */
static int
scan_pairs(evf_req *r)
{
    evf_fcgi_scan_t scan = { .pos = r->scan };
    evf_fcgi_pair_t p;
    pair_t now[TABLE_NOW];
    size_t k = 0;
    bool table = r->npairs == 0;
    int rc;

    /* The buffer does not move while scanning: its fields in locals. */
    uint8_t *data = r->raw.data;
    size_t len = r->raw.len, limit = evf_settings.max_params;
    char *w = (char *)data + r->raw.off;
    size_t npairs = r->npairs;
    for (;;) {
        /*
         * A pair with one-byte lengths that ends within both the bytes
         * in and the limit is decoded here, as the scanner would (nearly
         * every CGI param: a call less per pair); any other goes to the
         * scanner, which tells a pair, not yet, or past the limit.
         */
        size_t at = scan.pos;
        if (at + 2 <= len && !((data[at] | data[at + 1]) & 0x80) &&
            at + 2 + data[at] + data[at + 1] <= len &&
            at + 2 + data[at] + data[at + 1] <= limit) {
            p.name = data + at + 2;
            p.nlen = data[at];
            p.value = p.name + p.nlen;
            p.vlen = data[at + 1];
            scan.pos = at + 2 + p.nlen + p.vlen;
        } else if ((rc = evf_fcgi_params_next(&scan, data, len, limit,
                                              &p)) <= 0) {
            break;
        }
        char *name = w, *value;
        /* Name and value are adjacent: one search tells whether either
         * has a NUL byte (almost never). */
        if (!memchr(p.name, '\0', p.nlen + p.vlen)) {
            move_down(name, p.name, p.nlen);
            name[p.nlen] = '\0';
            value = name + p.nlen + 1;
            move_down(value, p.value, p.vlen);
            value[p.vlen] = '\0';
            w = value + p.vlen + 1;
        } else {
            value = store_str(name, p.name, p.nlen);
            w = store_str(value, p.value, p.vlen);
        }
        npairs++;
        if (table && k < TABLE_NOW) {
            now[k].name = name;
            now[k].value = value;
            now[k].vlen = 0;
            k++;
        } else {
            table = false;
        }
    }
    r->raw.off = (size_t)(w - (char *)data);
    r->npairs = npairs;
    r->scan = scan.pos;
    if (rc < 0) {
        /*
         * The pair would end past the limit: answer 431 whatever the
         * record boundaries, and drop the rest of the stream unstored.
         */
        r->reject = 431;
        r->params = NULL;
        req_raw_free(r);
        return 0;
    }
    if (table && k) {
        pair_t *t = evf_alloc(r, k * sizeof(pair_t));
        if (t) {
            memcpy(t, now, k * sizeof(pair_t));
            r->params = t;     /* nparams stays 0 until params_end */
        }
    }
    return 0;
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
    /* The table of the first record's pairs points into the buffer, which
     * the append may move: params_end walks the strings instead. */
    r->params = NULL;
    if (len > evf_settings.max_params - r->raw.len) {
        r->reject = 431;
        req_raw_free(r);
        return 0;
    }
    /* raw.off is the strings' write position, not a consumed prefix: hide
     * it from the append, which would reclaim such a prefix by moving the
     * data down. */
    size_t wr = r->raw.off;
    r->raw.off = 0;
    int rc = 0;
    if (r->raw.data == r->raw0 && len > r->raw.cap - r->raw.len) {
        /* Past raw0: the stream moves to the heap. */
        evf_buf_t heap = { 0 };
        rc = evf_buf_reserve(&heap, r->raw.len + len);
        if (rc == 0) {
            memcpy(heap.data, r->raw0, r->raw.len);
            heap.len = r->raw.len;
            r->raw = heap;
        }
    }
    if (rc == 0)
        rc = evf_buf_append(&r->raw, data, len);
    r->raw.off = wr;
    if (rc < 0) {
        r->reject = 503;    /* out of memory: this request only */
        req_raw_free(r);
        return 0;
    }
    return scan_pairs(r);
}

int
evf__req_stdin(evf_req *r, const uint8_t *data, size_t len)
{
    if (r->stage != S_STDIN)
        return EVF_EPROTO;
    if (len == 0) {
        r->stage = S_RUNNING;
        if (r->forms)
            evf__forms_end(r);
        evf__req_start(r);
        return 0;
    }
    if (r->reject)
        return 0;
    /* Forms and uploads: a multipart body for a form route is streamed. */
    if (r->forms || (!r->forms_checked && evf__forms_begin(r)))
        return evf__forms_feed(r, data, len);
    if (len > evf_settings.max_body - r->body.len) {
        r->reject = 413;
        evf_buf_free(&r->body);
        return 0;
    }
    if (evf_buf_append(&r->body, data, len) < 0) {
        /* Out of memory: this request answers 503, the others go on. */
        r->reject = 503;
        evf_buf_free(&r->body);
    }
    return 0;
}

/* ---- awaits ------------------------------------------------------------ */

int
evf_sleep(evf_req *r, double seconds)
{
    if (evf_pool_on_thread())
        return evf__req_misuse(r, "evf_sleep");
    return evf__task_sleep(evf__req_task(r), seconds);
}

int
evf_wait_fd(evf_req *r, int fd, int events, double timeout)
{
    if (evf_pool_on_thread())
        return evf__req_misuse(r, "evf_wait_fd");
    return evf__task_wait_fd(evf__req_task(r), fd, events, timeout);
}

/* A gathered child: the user's function and argument, passed through. */
static void
gathered(evf_task_t *t, void *fn, void *arg)
{
    evf_tasks_t *g = evf__task_group(t);
    ((evf_task_fn)fn)(req_of_tasks(g), arg);
}

int
evf_gather(evf_req *r, size_t n, evf_task_fn fn, void *const *args)
{
    if (evf_pool_on_thread())
        return evf__req_misuse(r, "evf_gather");
    return evf__task_gather(evf__req_task(r), n, gathered, (void *)fn,
                            args);
}

int
evf_to_thread(evf_req *r, void (*fn)(void *arg), void *arg)
{
    if (evf_pool_on_thread())
        return evf__req_misuse(r, "evf_to_thread");
    return evf__task_to_thread(evf__req_task(r), fn, arg, true);
}

void
evf_set_deadline(evf_req *r, double seconds)
{
    evf__tasks_set_deadline(&r->tasks, seconds);
}

void
evf_deadline_returns(evf_req *r, bool on)
{
    r->tasks.deadline_returns = on;
}

double
evf__req_time_left(evf_req *r)
{
    return evf__tasks_time_left(&r->tasks);
}

void
evf_log(evf_req *r, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!r) {
        /* App-level: startup, shutdown, a library callback. */
        evf_log_msg(level, "%s", msg);
        return;
    }
    evf_log_msg(level, "%s (request %u): %s", evf__req_label(r), r->id, msg);
}
