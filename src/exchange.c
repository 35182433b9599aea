/*
 * exchange: a request's life cycle (see exchange.h).
 *
 * DESIGN.  The request's input is complete when evf__req_start() runs: the
 * router's answer (404, 405) or a rejection decided during intake (413,
 * 431, 503) is written at once; otherwise the route's main task starts.  It
 * resolves the dependencies first, then answers the 422 of the handler's own
 * parameters if any (so a dependency's 401 wins over a bad query, as in
 * FastAPI), then runs the handler, on the pool for a blocking route.
 *
 * The scheduler tells how the main task ended through the group's ops:
 * returned (the handler's answer stands, or 500 if it gave none), raised
 * (the error answer is written), or expired (504).  finish() then counts
 * the request, calls the finished hooks and tells the owner; a request
 * with background tasks is detached from its owner (its answer is out) and
 * released when they end.
 */
#include "config.h"

#include <ev.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "deps.h"
#include "exchange.h"
#include "forms.h"
#include "log.h"
#include "loop.h"
#include "middleware.h"
#include "request_int.h"
#include "settings.h"
#include "stats.h"

/* ---- hooks -------------------------------------------------------------- */

#define MAX_HOOKS 4

static struct {
    evf_finished_hook fn;
    void *ud;
} hooks[MAX_HOOKS];
static unsigned nhooks;

int
evf__exchange_on_finished(evf_finished_hook fn, void *ud)
{
    if (nhooks == MAX_HOOKS)
        return -1;
    hooks[nhooks].fn = fn;
    hooks[nhooks].ud = ud;
    nhooks++;
    return 0;
}

void
evf__exchange_clear_hooks(void)
{
    nhooks = 0;
}

/* The request is over for the counters and the hooks. */
static void
account(evf_req *r, int status)
{
    if (r->counted) {
        evf_stats.route_in_flight[r->route->index]--;
        r->counted = false;
    }
    if (r->logged || !nhooks)
        return;
    r->logged = true;
    const char *uri = req_param(r, "REQUEST_URI");
    /* The real clock: a handler that blocked the loop made the loop's
     * cached time stale. */
    evf_access_entry_t e = {
        .remote_addr = req_param(r, "REMOTE_ADDR"),
        .method = r->method ? r->method : "-",
        .uri = uri ? uri : (r->path ? r->path : "-"),
        .status = status,
        .bytes = r->bytes_out,
        .duration = r->started > 0 ? evf__now() - r->started : 0,
        .route = r->route ? r->route->label : NULL,
        .request_id = r->id,
        .x_request_id = r->xrid,
    };
    for (unsigned i = 0; i < nhooks; i++)
        hooks[i].fn(&e, hooks[i].ud);
}

/* ---- the end ------------------------------------------------------------ */

/* Run the cleanups and free r (no pool job may be out). */
static void
free_req(evf_req *r)
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
    evf__forms_free(r);     /* uploads: closed and removed */
    json_object_put(r->errors);
    req_raw_free(r);
    evf_buf_free(&r->body);
    evf_buf_free(&r->pend);
    evf_arena_release(&r->arena);
    pthread_mutex_destroy(&r->mem_lock);
    evf_stats.in_flight--;
    evf_coro_slot_give(r->slot);    /* r lives in it */
}

void
evf__req_release(evf_req *r)
{
    if (evf__tasks_abandon(&r->tasks))
        free_req(r);
    /* else: the last pool job to come back frees it (t_release). */
}

static evf_req *detached_head;
static size_t ndetached;

static void
end_detached(evf_req *r)
{
    if (r->dprev)
        r->dprev->dnext = r->dnext;
    else
        detached_head = r->dnext;
    if (r->dnext)
        r->dnext->dprev = r->dprev;
    ndetached--;
    evf__req_release(r);
}

void
evf__exchange_cancel_detached(void)
{
    while (detached_head) {
        evf_req *r = detached_head;
        evf_stats.aborted++;
        evf__tasks_cancel(&r->tasks);
        end_detached(r);
    }
}

size_t
evf__exchange_detached(void)
{
    return ndetached;
}

/* Hooks of a request its connection has forgotten: nothing goes out. */
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
d_no(void *o)
{
    (void)o;
    return false;
}

static bool
d_yes(void *o)
{
    (void)o;
    return true;
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

static void
d_finished(void *o, evf_req *r, bool answered)
{
    (void)o, (void)r, (void)answered;
}

static const evf_router_t *
d_routes(void *o)
{
    (void)o;
    return NULL;
}

static const evf_req_owner_ops detached_ops = {
    .out = d_out, .flush = d_flush, .congested = d_no,
    .wait_drain = d_wait_drain, .hold = d_hold, .unhold = d_hold,
    .gone = d_yes, .finished = d_finished, .routes = d_routes,
};

static void
background_task(evf_task_t *t, void *fn, void *arg)
{
    evf_req *r = req_of_tasks(evf__task_group(t));
    ((evf_task_fn)fn)(r, arg);
}

/* The answer is out: run the background tasks, then release. */
static void
start_background(evf_req *r)
{
    r->detached = true;
    r->owner = r;
    r->ops = &detached_ops;
    /* The request's deadline bounded its answer, not what runs after. */
    evf__tasks_set_deadline_at(&r->tasks, 0);
    r->tasks.deadline_returns = false;
    r->dnext = detached_head;
    r->dprev = NULL;
    if (detached_head)
        detached_head->dprev = r;
    detached_head = r;
    ndetached++;
    for (background_t *b = r->bg; b; b = b->next) {
        evf_task_t *t = evf__task_new(&r->tasks, background_task,
                                      (void *)b->fn, b->arg);
        if (!t) {
            evf_log_error("%s: no stack for a background task; skipped",
                          evf__req_label(r));
            continue;
        }
        evf__task_schedule(t);
    }
    if (evf__tasks_empty(&r->tasks))
        end_detached(r);
}

/* The handler is done (or never ran): complete the answer and free r. */
static void
finish(evf_req *r, bool background)
{
    void *owner = r->owner;
    if (!r->answered) {
        evf_stats.handler_no_answer++;
        evf_log_error("%s: handler returned without answering; sent 500 "
                      "(answer with evf_respond/evf_json/evf_raise before "
                      "returning, and await what must finish first)",
                      evf__req_label(r));
        evf__req_answer_error(r, 500, "Internal Server Error", NULL);
    } else if (r->streaming) {
        evf_stream_end(r);
    }
    evf__tasks_cancel(&r->tasks);
    evf_stats.requests++;
    if (r->status >= 100 && r->status < 600)
        evf_stats.by_class[r->status / 100]++;
    account(r, r->status);
    r->ops->finished(owner, r, true);
    if (background && r->bg)
        start_background(r);
    else
        evf__req_release(r);
}

void
evf__req_abort(evf_req *r, bool send_end)
{
    if (r->stage == S_RUNNING) {
        evf_stats.aborted++;
        account(r, 499);    /* nginx's code for "the client went away" */
    }
    evf__tasks_cancel(&r->tasks);
    r->ops->finished(r->owner, r, send_end);
    evf__req_release(r);
}

/* ---- the scheduler's reports ------------------------------------------- */

static evf_hold_t
t_hold(evf_tasks_t *g)
{
    evf_req *r = req_of_tasks(g);
    r->ops->hold(r->owner);
    return (evf_hold_t){ r->ops->unhold, r->owner };
}

static void
t_flush(evf_tasks_t *g)
{
    evf_req *r = req_of_tasks(g);
    r->ops->flush(r->owner);
}

static void
t_ended(evf_tasks_t *g, int how)
{
    evf_req *r = req_of_tasks(g);
    if (r->detached) {
        /* A background task: the answer is long gone. */
        if (evf__tasks_empty(g))
            end_detached(r);
        return;
    }
    switch (how) {
    case EVF_TASK_RETURNED:
        finish(r, true);
        break;
    case EVF_TASK_RAISED:
        if (!r->answered && r->raise_status)
            evf__req_answer_error(r, r->raise_status, r->raise_detail,
                                  r->raise_headers);
        finish(r, false);
        break;
    case EVF_TASK_EXPIRED:
        /* As asyncio.timeout: the handler is not resumed. */
        if (!r->answered)
            evf__req_answer_error(r, 504, "Gateway Timeout", NULL);
        finish(r, false);
        break;
    }
}

/*
 * A handler ran this long without awaiting: every other request waited.
 * Counted always; logged once a minute per route, with the fix.
 */
static void
t_slow(evf_tasks_t *g, double seconds)
{
    evf_req *r = req_of_tasks(g);
    if (seconds <= evf_settings.slow_callback)
        return;
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

static void
t_job_back(evf_tasks_t *g)
{
    evf_req *r = req_of_tasks(g);
    r->on_pool = false;
    evf__req_take_pending(r);
}

static void
t_release(evf_tasks_t *g)
{
    free_req(req_of_tasks(g));
}

static const evf_tasks_ops task_ops = {
    .hold = t_hold, .flush = t_flush, .ended = t_ended, .slow = t_slow,
    .job_back = t_job_back, .release = t_release,
};

void
evf__req_tasks_init(evf_req *r)
{
    evf__tasks_init(&r->tasks, &task_ops);
}

/* ---- starting ----------------------------------------------------------- */

static void
run_blocking(void *arg)
{
    evf_req *r = arg;
    r->route->route->handler(r);
}

/* The route's main task: dependencies, the 422, then the handler. */
static void
main_task(evf_task_t *t, void *arg, void *unused)
{
    evf_req *r = arg;
    (void)unused;
    if (evf__deps_resolve_route(r) < 0)
        return;
    if (r->errors) {
        if (evf__req_exc_answer(r, 422, NULL, r->errors))   /* toolkit */
            return;
        json_object *o = json_object_new_object();
        if (o) {
            json_object_object_add(o, "detail", r->errors);
            r->errors = NULL;
            evf_json(r, 422, o);
        } else {
            evf__req_answer_error(r, 503, "Service Unavailable", NULL);
        }
        return;
    }
    if (!r->route->route->blocking) {
        r->route->route->handler(r);
        return;
    }
    r->on_pool = true;
    if (evf__task_to_thread(t, run_blocking, r, false) == EVF_EBUSY) {
        /* Every thread busy and the queue full: say so at once. */
        r->on_pool = false;
        static const char *const retry[] = { "Retry-After: 1", NULL };
        evf__req_answer_error(r, 503, "Service Unavailable", retry);
    }
}

/* Answer what was decided before any handler: r ends here. */
static void
answer_now(evf_req *r, int status, const char *detail,
           const char *const *headers)
{
    evf__req_answer_error(r, status, detail, headers);
    finish(r, false);
}

void
evf__req_start(evf_req *r)
{
    void *owner = r->owner;
    const evf_req_owner_ops *ops = r->ops;
    r->t0 = ev_now(evf__loop());
    /* The real clock, for the finished hooks (the access log) only: a
     * clock read costs as much as a tenth of a small request. */
    if (nhooks)
        r->started = evf__now();
    ops->hold(owner);
    const evf_router_t *rt = ops->routes(owner);
    r->router = rt;     /* toolkit: 404/405 exception handlers */
    evf_match_t m;
    if (rt && !r->reject)
        evf_router_match(rt, r->method, r->path, &m);
    else
        m.status = 404;
    /* The app's middleware; unrouted requests get the fallback's. */
    const evf_mw_chain_t *mw = m.status == 0
        ? ((const evf_route_entry_t *)m.data)->mw : evf__mw_fallback();
    if (mw && evf__mw_before(r, mw)) {
        finish(r, false);
        goto out;
    }
    if (r->reject) {
        answer_now(r, r->reject, r->reject_detail, NULL);
        goto out;
    }
    if (m.status == 405) {
        char allow[256];
        snprintf(allow, sizeof(allow), "Allow: %s", m.allow);
        const char *const hdrs[] = { allow, NULL };
        answer_now(r, 405, "Method Not Allowed", hdrs);
        goto out;
    }
    if (m.status) {
        answer_now(r, 404, "Not Found", NULL);
        goto out;
    }
    r->route = m.data;
    if (evf__req_validate(r, &m) < 0) {
        evf_log_error("%s: out of memory reading the request's parameters",
                      r->route->label);
        answer_now(r, 503, "Service Unavailable", NULL);
        goto out;
    }
    /* Forms and uploads: the body's fields, after path and query. */
    if (evf__forms_validate(r) < 0 || r->reject) {
        answer_now(r, r->reject ? r->reject : 503, r->reject_detail, NULL);
        goto out;
    }
    const evf_route *route = r->route->route;
    double dl = route->deadline > 0 ? route->deadline
                                    : evf_settings.request_deadline;
    if (dl > 0)
        evf__tasks_set_deadline_at(&r->tasks, r->t0 + dl);
    r->tasks.deadline_returns = route->deadline_returns;
    if (r->route->index < EVF_STATS_MAX_ROUTES) {
        evf_stats.route_in_flight[r->route->index]++;
        r->counted = true;
    }
    evf_task_t *t = evf__task_new_in(&r->tasks, r->slot, main_task, r, NULL);
    if (!t) {
        evf_log_error("%s: out of coroutine stacks", r->route->label);
        answer_now(r, 503, "Service Unavailable", NULL);
        goto out;
    }
    evf__task_run(t);
out:
    ops->unhold(owner);     /* r may be gone by now */
}
