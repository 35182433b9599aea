/*
 * app: application registry (see app.h).
 */
#include "config.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "cors.h"
#include "deps_graph.h"
#include "log.h"
#include "mem.h"
#include "middleware.h"
#include "model.h"
#include "router.h"

typedef struct option {
    char *app, *key, *value;
} option_t;

struct evf_app_ctx {
    const evf_app *app;
    void *dl;                   /* dlopen handle, NULL when built in */
    char *origin;
    evf_route_entry_t *entries;
    size_t nentries;
    struct evf_models *models;  /* compiled route models (issue 12) */
    bool started;
    evf_mw_chain_t *chain;      /* middleware and CORS, built at startup */
    evf_app_shared_t shared;    /* toolkit: state, exception handlers */
};

static struct {
    evf_app_ctx **apps;
    size_t n;
    evf_router_t *router;
    const char **labels;
    unsigned nroutes;
    option_t *opts;
    size_t nopts;
} reg;

unsigned
evf_apps_route_labels(const char *const **labels)
{
    *labels = reg.labels;
    return reg.nroutes;
}

const evf_router_t *
evf_apps_router(void)
{
    return reg.router;
}

const char *
evf_app_option(evf_app_ctx *app, const char *key)
{
    for (size_t i = reg.nopts; i-- > 0;)
        if (strcmp(reg.opts[i].app, app->app->name) == 0 &&
            strcmp(reg.opts[i].key, key) == 0)
            return reg.opts[i].value;
    return NULL;
}

int
evf_app_set_option(const char *app, const char *key, const char *value)
{
    option_t *v = evf_realloc(reg.opts, (reg.nopts + 1) * sizeof(*v));
    if (!v)
        return -1;
    reg.opts = v;
    v[reg.nopts] = (option_t){ evf_mem_strdup(app), evf_mem_strdup(key),
                               evf_mem_strdup(value) };
    reg.nopts++;
    return 0;
}

/* ---- toolkit (issue 13): app state, exception handlers ---------------- */

void
evf_app_set_state(evf_app_ctx *app, void *state)
{
    if (app)
        app->shared.state = state;
}

void *
evf_app_state_of(evf_app_ctx *app)
{
    return app ? app->shared.state : NULL;
}

/*
 * A path no route matches belongs to no app: the first loaded app with
 * exception handlers answers its 404 or 405 (the router keeps them).
 */
static void
set_fallback(void)
{
    if (!reg.router)
        return;
    for (size_t i = 0; i < reg.n; i++)
        if (reg.apps[i]->shared.exc) {
            evf_router_set_fallback(reg.router, &reg.apps[i]->shared);
            return;
        }
    evf_router_set_fallback(reg.router, NULL);
}

static void
ctx_free(evf_app_ctx *a)
{
    if (!a)
        return;
    evf_free(a->entries);
    evf_models_free(a->models);
    evf_free(a->origin);
    evf__mw_chain_free(a->chain);
    if (a->dl)
        dlclose(a->dl);
    evf_free(a);
}

/* Register app; takes the dl handle (closed on failure). */
static int
add(const evf_app *app, const char *origin, void *dl)
{
    char err[512];
    evf_app_ctx *a = evf_calloc(1, sizeof(*a));
    if (!a) {
        if (dl)
            dlclose(dl);
        return -1;
    }
    a->app = app;
    a->dl = dl;
    a->shared.exc = app->exception_handlers;
    a->origin = evf_mem_strdup(origin);
    if (app->abi != EVF_ABI_VERSION) {
        evf_log_error("%s: app built for evfcgi ABI %u, this is ABI %u: "
                      "rebuild it against this evfcgi.h", origin, app->abi,
                      EVF_ABI_VERSION);
        goto fail;
    }
    if (!app->name || !app->routes) {
        evf_log_error("%s: app has no name or no route table", origin);
        goto fail;
    }
    for (size_t i = 0; i < reg.n; i++)
        if (strcmp(reg.apps[i]->app->name, app->name) == 0) {
            evf_log_error("%s: an app named '%s' is already loaded (from "
                          "%s)", origin, app->name, reg.apps[i]->origin);
            goto fail;
        }
    size_t n = 0;
    while (app->routes[n].method)
        n++;
    a->entries = evf_calloc(n ? n : 1, sizeof(*a->entries));
    if (!a->entries)
        goto fail;
    if (!reg.router && !(reg.router = evf_router_new()))
        goto fail;
    /* Validate all first so a refused app leaves no route behind: the
     * router is rebuilt from scratch on failure. */
    for (size_t i = 0; i < n; i++) {
        const evf_route *rt = &app->routes[i];
        evf_route_entry_t *e = &a->entries[i];
        e->route = rt;
        e->app = a;
        e->app_deps = app->deps;
        e->shared = &a->shared;
        snprintf(e->label, sizeof(e->label), "%s %s", rt->method, rt->path);
        if (!rt->handler) {
            evf_log_error("%s: route %s has no handler", origin, e->label);
            goto rebuild;
        }
        if (evf_deps_find_cycle(app->deps, rt->deps, err, sizeof(err)) < 0) {
            evf_log_error("%s: route %s: dependency cycle: %s", origin,
                          e->label, err);
            goto rebuild;
        }
        if (evf__route_models(e, &a->models, err, sizeof(err)) < 0) {
            evf_log_error("%s: route %s: %s", origin, e->label, err);
            goto rebuild;
        }
        if (evf_router_add(reg.router, rt->method, rt->path, e, app->name,
                           err, sizeof(err)) < 0) {
            evf_log_error("%s: %s", origin, err);
            goto rebuild;
        }
    }
    a->nentries = n;
    evf_app_ctx **v = evf_realloc(reg.apps, (reg.n + 1) * sizeof(*v));
    if (!v)
        goto rebuild;
    const char **l = evf_realloc(reg.labels,
                                 (reg.nroutes + n + 1) * sizeof(*l));
    if (!l) {
        reg.apps = v;
        goto rebuild;
    }
    reg.labels = l;
    for (size_t i = 0; i < n; i++) {
        a->entries[i].index = reg.nroutes;
        reg.labels[reg.nroutes++] = a->entries[i].label;
    }
    reg.apps = v;
    v[reg.n++] = a;
    set_fallback();
    evf_log_info("loaded app '%s' from %s: %zu routes", app->name, origin, n);
    return 0;

rebuild:
    evf_router_free(reg.router);
    reg.router = evf_router_new();
    for (size_t k = 0; k < reg.n; k++)
        for (size_t i = 0; i < reg.apps[k]->nentries; i++) {
            evf_route_entry_t *e = &reg.apps[k]->entries[i];
            evf_router_add(reg.router, e->route->method, e->route->path, e,
                           reg.apps[k]->app->name, err, sizeof(err));
        }
    set_fallback();
fail:
    ctx_free(a);
    return -1;
}

int
evf_app_register(const evf_app *app, const char *origin)
{
    return add(app, origin, NULL);
}

int
evf_app_load(const char *path, const char *expect)
{
    /* A bare file name means the file here, not a library search. */
    char local[4096];
    if (!strchr(path, '/') && access(path, F_OK) == 0) {
        snprintf(local, sizeof(local), "./%s", path);
        path = local;
    }
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        evf_log_error("cannot load app %s: %s", path, dlerror());
        return -1;
    }
    const evf_app *app = dlsym(dl, EVF_APP_SYMBOL);
    if (!app) {
        evf_log_error("%s is not an evfcgi app: it exports no '%s' (define "
                      "one with EVF_APP())", path, EVF_APP_SYMBOL);
        dlclose(dl);
        return -1;
    }
    if (expect && (!app->name || strcmp(app->name, expect) != 0)) {
        evf_log_error("%s: section [app %s] loads an app named '%s': name "
                      "the section after the app, so its options reach it",
                      path, expect, app->name ? app->name : "(none)");
        dlclose(dl);
        return -1;
    }
    return add(app, path, dl);
}

static const char *
option_of(void *ud, const char *key)
{
    return evf_app_option(ud, key);
}

/*
 * The app's middleware chain (its middleware, its CORS policy with the
 * cors_* options), given to its routes; the first app with one also takes
 * the requests no route matched.  0, or -1 after logging.
 */
static int
build_chain(evf_app_ctx *a)
{
    char err[256];
    if (evf__mw_fallback() == a->chain)
        evf__mw_set_fallback(NULL);
    evf__mw_chain_free(a->chain);
    a->chain = NULL;
    if (evf__mw_chain_build(a->app->middleware, a->app->cors, option_of, a,
                            &a->chain, err, sizeof(err)) < 0) {
        evf_log_error("app '%s': %s", a->app->name, err);
        return -1;
    }
    for (size_t i = 0; i < a->nentries; i++)
        a->entries[i].mw = a->chain;
    if (a->chain && !evf__mw_fallback())
        evf__mw_set_fallback(a->chain);
    return 0;
}

int
evf_apps_check(void)
{
    char err[256];
    int rc = 0;
    for (size_t i = 0; i < reg.n; i++) {
        evf_app_ctx *a = reg.apps[i];
        evf_mw_chain_t *c;
        if (evf__mw_chain_build(a->app->middleware, a->app->cors, option_of,
                                a, &c, err, sizeof(err)) < 0) {
            evf_log_error("app '%s': %s", a->app->name, err);
            rc = -1;
            continue;
        }
        evf__mw_chain_free(c);
    }
    return rc;
}

int
evf_apps_startup(void)
{
    for (size_t i = 0; i < reg.n; i++) {
        evf_app_ctx *a = reg.apps[i];
        if (build_chain(a) < 0)
            return -1;
        if (a->app->startup && a->app->startup(a) != 0) {
            evf_log_error("app '%s': startup hook failed", a->app->name);
            return -1;
        }
        a->started = true;
    }
    return 0;
}

void
evf_apps_shutdown(void)
{
    for (size_t i = reg.n; i-- > 0;) {
        evf_app_ctx *a = reg.apps[i];
        if (a->started && a->app->shutdown)
            a->app->shutdown(a);
        a->started = false;
    }
}

void
evf_apps_free(void)
{
    evf__mw_set_fallback(NULL);
    for (size_t i = 0; i < reg.n; i++)
        ctx_free(reg.apps[i]);
    evf_free(reg.apps);
    evf_free(reg.labels);
    evf_router_free(reg.router);
    for (size_t i = 0; i < reg.nopts; i++) {
        evf_free(reg.opts[i].app);
        evf_free(reg.opts[i].key);
        evf_free(reg.opts[i].value);
    }
    evf_free(reg.opts);
    memset(&reg, 0, sizeof(reg));
}

/* ---- the apps, for the docs pages (docs.c) -------------------------------- */

size_t
evf_apps_count(void)
{
    return reg.n;
}

const evf_app *
evf_apps_at(size_t i, evf_app_ctx **ctx)
{
    if (i >= reg.n)
        return NULL;
    if (ctx)
        *ctx = reg.apps[i];
    return reg.apps[i]->app;
}
