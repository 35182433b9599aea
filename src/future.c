/*
 * future: futures for callback APIs, and the loop handed to apps (see
 * future.h and the futures section of evfcgi.h).
 *
 * DESIGN.  A future is a small heap object with two references, the
 * request's and the resolver's; all reference counting happens on the
 * loop thread, so no atomics are needed beyond the hub's mutex:
 *
 *  - evf_future_new (loop thread) registers an evf_defer cleanup that
 *    drops the request's reference and forgets the request;
 *  - evf_future_resolve on the loop thread settles at once: it stores the
 *    value, wakes the awaiting task (on the loop's next iteration, never
 *    from inside the resolver) and drops the resolver's reference;
 *  - evf_future_resolve on any other thread puts the future on its hub's
 *    queue and sends the hub's ev_async; the async callback drains the
 *    whole queue (sends coalesce) and settles each future on the loop.
 *
 * An awaiting task registers a drop notice with the scheduler: when the
 * request is cancelled, raises or expires, its task is dropped without
 * being resumed and the notice makes the future forget it, so a late
 * resolution never wakes freed memory.  Whoever drops the last reference
 * frees the value (free_value) and the future.
 */
#include "config.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "evfcgi.h"
#include "future.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "pool.h"
#include "request.h"
#include "task.h"

typedef struct hub {
    struct ev_loop *loop;
    pthread_t thread;           /* the loop's */
    ev_async async;
    pthread_mutex_t mu;
    evf_future *head, **tail;   /* resolved elsewhere, not yet settled */
    size_t futures;             /* live futures bound to this hub */
} hub_t;

struct evf_future {
    hub_t *hub;
    evf_req *req;               /* NULL once the request ended */
    evf_task_t *task;           /* the awaiting task, or NULL */
    void (*free_value)(void *);
    void *value;
    int result;
    unsigned refs;              /* loop thread only */
    bool resolved;              /* settled on the loop */
    atomic_bool called;         /* evf_future_resolve was called */
    int posted_result;          /* from another thread, until settled */
    void *posted_value;
    evf_future *qnext;
};

static _Thread_local hub_t *tl_hub;
static atomic_size_t live;

size_t
evf__future_live(void)
{
    return atomic_load(&live);
}

struct ev_loop *
evf_loop(void)
{
    return evf__loop();
}

/* ---- references ---------------------------------------------------------- */

static void
unref(evf_future *f)
{
    if (--f->refs)
        return;
    if (f->free_value && f->value)
        f->free_value(f->value);
    f->hub->futures--;
    atomic_fetch_sub(&live, 1);
    evf_free(f);
}

/* On the loop: the resolution takes effect. */
static void
settle(evf_future *f, int result, void *value)
{
    f->result = result;
    f->value = value;
    f->resolved = true;
    if (f->task) {
        evf_task_t *t = f->task;
        f->task = NULL;
        evf__task_on_drop(t, NULL, NULL);
        evf__task_wake(t, 0);
    }
    unref(f);   /* the resolver's */
}

static void
async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    hub_t *h = w->data;
    (void)loop, (void)revents;
    pthread_mutex_lock(&h->mu);
    evf_future *f = h->head;
    h->head = NULL;
    h->tail = &h->head;
    pthread_mutex_unlock(&h->mu);
    while (f) {
        evf_future *next = f->qnext;
        settle(f, f->posted_result, f->posted_value);
        f = next;
    }
}

/* This loop thread's hub, made on first use; NULL when out of memory. */
static hub_t *
hub_get(void)
{
    struct ev_loop *loop = evf__loop();
    if (tl_hub && tl_hub->loop == loop)
        return tl_hub;
    if (tl_hub)
        evf__future_shutdown();     /* a new loop on this thread (tests) */
    hub_t *h = evf_calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->loop = loop;
    h->thread = pthread_self();
    h->tail = &h->head;
    pthread_mutex_init(&h->mu, NULL);
    ev_async_init(&h->async, async_cb);
    h->async.data = h;
    ev_async_start(loop, &h->async);
    ev_unref(loop);     /* the hub alone keeps nothing running */
    tl_hub = h;
    return h;
}

void
evf__future_shutdown(void)
{
    hub_t *h = tl_hub;
    if (!h)
        return;
    tl_hub = NULL;
    ev_ref(h->loop);
    ev_async_stop(h->loop, &h->async);
    async_cb(h->loop, &h->async, 0);    /* settle what was posted */
    if (h->futures) {
        /* Futures still point at it: keep it (the process is ending). */
        evf_log_warn("futures: %zu futures still pending at shutdown",
                     h->futures);
        return;
    }
    pthread_mutex_destroy(&h->mu);
    evf_free(h);
}

/* ---- the API ------------------------------------------------------------- */

/* The request ended: forget it, drop its reference. */
static void
req_gone(void *arg)
{
    evf_future *f = arg;
    f->req = NULL;
    f->task = NULL;
    unref(f);
}

evf_future *
evf_future_new(evf_req *r, void (*free_value)(void *value))
{
    if (evf_pool_on_thread()) {
        evf__req_misuse(r, "evf_future_new");
        return NULL;
    }
    hub_t *h = hub_get();
    if (!h)
        return NULL;
    evf_future *f = evf_calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->hub = h;
    f->req = r;
    f->free_value = free_value;
    f->refs = 2;
    atomic_init(&f->called, false);
    if (evf_defer(r, req_gone, f) < 0) {
        evf_free(f);
        return NULL;
    }
    h->futures++;
    atomic_fetch_add(&live, 1);
    return f;
}

void
evf_future_resolve(evf_future *f, int result, void *value)
{
    if (!f)
        return;
    if (atomic_exchange(&f->called, true)) {
        evf_log_error("evf_future_resolve: a future was resolved twice; "
                      "the second value is ignored");
        return;
    }
    hub_t *h = f->hub;
    if (pthread_equal(pthread_self(), h->thread)) {
        settle(f, result, value);
        return;
    }
    f->posted_result = result;
    f->posted_value = value;
    f->qnext = NULL;
    pthread_mutex_lock(&h->mu);
    *h->tail = f;
    h->tail = &f->qnext;
    pthread_mutex_unlock(&h->mu);
    ev_async_send(h->loop, &h->async);
}

bool
evf_future_done(const evf_future *f)
{
    return f && f->resolved;
}

/* The awaiting task was dropped (cancelled, raised, expired). */
static void
waiter_dropped(void *arg)
{
    evf_future *f = arg;
    f->task = NULL;
}

int
evf_future_await(evf_req *r, evf_future *f, void **value)
{
    if (value)
        *value = NULL;
    if (evf_pool_on_thread())
        return evf__req_misuse(r, "evf_future_await");
    if (!f || f->req != r)
        return EVF_EINVAL;
    evf_task_t *t = evf__req_task(r);
    if (!f->resolved) {
        if (f->task) {
            evf_log(r, EVF_LOG_ERROR, "evf_future_await: the future is "
                    "already awaited by another task");
            return EVF_EINVAL;
        }
        f->task = t;
        evf__task_on_drop(t, waiter_dropped, f);
        int rc = evf__task_await(t);
        evf__task_on_drop(t, NULL, NULL);
        f->task = NULL;
        if (!f->resolved)
            return rc == EVF_ETIMEDOUT ? EVF_ETIMEDOUT : EVF_EINVAL;
    }
    if (value)
        *value = f->value;
    return f->result;
}
