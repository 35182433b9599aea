/*
 * deps: dependency resolution (see deps.h).
 *
 * DESIGN.  The cache is a short list of entries in the request's arena, one
 * per dependency (per use for no_cache ones): none -> resolving -> done.
 * A task that needs an entry another task is resolving waits for it (it is
 * woken when the value is there), so a dependency shared by two concurrent
 * branches runs once.  A list of several dependencies is resolved with
 * evf_gather: one sub-task per dependency, all on the loop.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deps.h"
#include "pool.h"
#include "request.h"

enum { NONE, RESOLVING, DONE };

typedef struct waiter {
    struct waiter *next;
    evf_task_t *task;
} waiter_t;

typedef struct entry {
    struct entry *next;
    const evf_dep *dep;
    int state;
    void *value;
    evf_task_t *resolver;   /* the task resolving it */
    waiter_t *waiters;
} entry_t;

static void resolve_list(evf_req *r, const evf_dep *const *deps);

/* ---- overrides ----------------------------------------------------------- */

typedef struct override {
    const evf_dep *real;    /* NULL: match by name */
    char *name;
    const evf_dep *fake;
} override_t;

static override_t *overrides;
static size_t noverrides;

static bool
override_matches(const override_t *o, const evf_dep *real, const char *name)
{
    if (real || o->real)
        return o->real == real;
    return strcmp(o->name, name) == 0;
}

int
evf__deps_override(const evf_dep *real, const char *name,
                   const evf_dep *fake)
{
    if (!real && !name)
        return -EINVAL;
    for (size_t i = 0; i < noverrides; i++) {
        if (!override_matches(&overrides[i], real, name))
            continue;
        if (fake) {
            overrides[i].fake = fake;
            return 0;
        }
        free(overrides[i].name);
        overrides[i] = overrides[--noverrides];
        if (!noverrides) {
            free(overrides);
            overrides = NULL;
        }
        return 0;
    }
    if (!fake)
        return 0;
    override_t *v = realloc(overrides, (noverrides + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    overrides = v;
    char *copy = NULL;
    if (!real && !(copy = strdup(name)))
        return -ENOMEM;
    v[noverrides++] = (override_t){ real, copy, fake };
    return 0;
}

void
evf__deps_clear_overrides(void)
{
    for (size_t i = 0; i < noverrides; i++)
        free(overrides[i].name);
    free(overrides);
    overrides = NULL;
    noverrides = 0;
}

/* What d resolves as: its override (by address first, then by name). */
static const evf_dep *
overridden(const evf_dep *d)
{
    for (size_t i = 0; i < noverrides; i++)
        if (overrides[i].real == d)
            return overrides[i].fake;
    for (size_t i = 0; i < noverrides; i++)
        if (!overrides[i].real && d->name &&
            strcmp(overrides[i].name, d->name) == 0)
            return overrides[i].fake;
    return d;
}

static entry_t *
find(evf_req *r, const evf_dep *d)
{
    for (entry_t *e = *evf__req_deps_cache(r); e; e = e->next)
        if (e->dep == d)
            return e;
    return NULL;
}

typedef struct blocking_call {
    evf_req *req;
    const evf_dep *dep;
    void *value;
} blocking_call_t;

static void
call_blocking(void *arg)
{
    blocking_call_t *bc = arg;
    bc->value = bc->dep->resolve(bc->req);
}

/* Run d (its sub-dependencies first) and return its value. */
static void *
compute(evf_req *r, const evf_dep *d)
{
    if (d->deps)
        resolve_list(r, d->deps);
    if (!d->resolve)
        return NULL;
    if (!d->blocking)
        return d->resolve(r);
    blocking_call_t bc = { r, d, NULL };
    if (evf_to_thread(r, call_blocking, &bc) == EVF_EBUSY)
        evf_raise(r, 503, "Service Unavailable");
    return bc.value;
}

/*
 * On a pool thread: the value of a dependency the route declared, which
 * was resolved on the loop before the blocking handler started.  Only the
 * thread that owns the request (a blocking handler) may read the cache:
 * elsewhere, tasks on the loop may be adding to it.
 */
static void *
declared_value(evf_req *r, const evf_dep *d)
{
    const char *name = d->name ? d->name : "?";
    if (!evf__req_on_pool(r)) {
        evf_log(r, EVF_LOG_ERROR, "evf_depends(%s) called from a blocking "
                "dependency or an evf_to_thread function: pass the value "
                "in, or declare it on the route", name);
        return NULL;
    }
    entry_t *e = d->no_cache ? NULL : find(r, d);
    if (e && e->state == DONE)
        return e->value;
    evf_log(r, EVF_LOG_ERROR, "evf_depends(%s) in a blocking handler: the "
            "route does not declare it%s (add it to the route's .deps)",
            name, d->no_cache ? " (no_cache dependencies cannot be "
            "resolved on a pool thread)" : "");
    return NULL;
}

void *
evf_depends(evf_req *r, const evf_dep *d)
{
    if (noverrides)
        d = overridden(d);
    if (evf_pool_on_thread())
        return declared_value(r, d);
    if (d->no_cache)
        return compute(r, d);
    entry_t *e = find(r, d);
    if (e && e->state == DONE)
        return e->value;
    if (e && e->state == RESOLVING) {
        evf_task_t *self = evf__req_task(r);
        if (e->resolver == self) {
            evf_log(r, EVF_LOG_ERROR, "dependency '%s' depends on itself",
                    d->name ? d->name : "?");
            evf_raise(r, 500, "Internal Server Error");
            return NULL;
        }
        waiter_t *w = evf_alloc(r, sizeof(*w));
        if (!w) {
            evf_raise(r, 500, "Internal Server Error");
            return NULL;
        }
        w->task = self;
        w->next = e->waiters;
        e->waiters = w;
        while (e->state != DONE)
            evf__task_park(self);
        return e->value;
    }
    if (!e) {
        e = evf_alloc(r, sizeof(*e));
        if (!e) {
            evf_raise(r, 500, "Internal Server Error");
            return NULL;
        }
        memset(e, 0, sizeof(*e));
        e->dep = d;
        e->next = *evf__req_deps_cache(r);
        *evf__req_deps_cache(r) = e;
    }
    e->state = RESOLVING;
    e->resolver = evf__req_task(r);
    e->value = compute(r, d);
    e->state = DONE;
    for (waiter_t *w = e->waiters; w; w = w->next)
        evf__task_wake(w->task, 0);
    e->waiters = NULL;
    return e->value;
}

static void
resolve_one(evf_req *r, void *arg)
{
    evf_depends(r, arg);
}

/*
 * Resolve a declared list.  no_cache dependencies are left out: each
 * evf_depends() call runs them afresh (FastAPI's use_cache=False: every
 * dependant gets its own value), so resolving them here would only run
 * them once more for nothing.
 */
static void
resolve_list(evf_req *r, const evf_dep *const *all)
{
    size_t n = 0, total = 0;
    while (all[total])
        total++;
    const evf_dep **deps = evf_alloc(r, (total + 1) * sizeof(*deps));
    if (!deps) {
        evf_raise(r, 500, "Internal Server Error");
        return;
    }
    for (size_t i = 0; i < total; i++)
        if (!(noverrides ? overridden(all[i]) : all[i])->no_cache)
            deps[n++] = all[i];
    deps[n] = NULL;
    if (n == 1) {
        evf_depends(r, deps[0]);
        return;
    }
    if (n == 0)
        return;
    void **args = evf_alloc(r, n * sizeof(void *));
    if (!args) {
        evf_raise(r, 500, "Internal Server Error");
        return;
    }
    for (size_t i = 0; i < n; i++)
        args[i] = (void *)deps[i];
    if (evf_gather(r, n, resolve_one, args) < 0)
        evf_raise(r, 503, "Service Unavailable");
}

int
evf__deps_resolve_route(evf_req *r)
{
    const evf_dep *const *app = evf__req_app_deps(r);
    const evf_dep *const *route = evf__req_route_deps(r);
    size_t na = 0, nr = 0;
    while (app && app[na])
        na++;
    while (route && route[nr])
        nr++;
    if (!na && !nr)
        return 0;
    if (!na || !nr) {
        resolve_list(r, na ? app : route);
        return 0;
    }
    /* Both: one list, so that the two sets resolve concurrently too. */
    const evf_dep **all = evf_alloc(r, (na + nr + 1) * sizeof(*all));
    if (!all) {
        evf_raise(r, 500, "Internal Server Error");
        return -1;
    }
    memcpy(all, app, na * sizeof(*all));
    memcpy(all + na, route, nr * sizeof(*all));
    all[na + nr] = NULL;
    resolve_list(r, all);
    return 0;
}
