/*
 * route: what the router maps a method and path to, as the request layer
 * sees it: one declared route of one app, with what dispatch needs.  The
 * app registry (app.c) fills these in when an app loads; the request layer
 * reads them and never reaches the registry itself.
 */
#ifndef EVF_ROUTE_H
#define EVF_ROUTE_H

#include "evfcgi.h"

typedef struct evf_route_entry {
    const evf_route *route;     /* borrowed from the app */
    evf_app_ctx *app;
    const evf_dep *const *app_deps; /* the app's own (evf_app.deps) */
    char label[128];            /* "GET /items/{item_id:int}", for logs */
    double slow_logged_at;      /* stall detector: last warning */
    unsigned index;             /* among all apps' routes, for stats */
    /* ---- middleware ---- */
    const struct evf_mw_chain *mw;  /* the app's chain, set at startup */
    /* ---- toolkit (issue 13) ---- */
    struct evf_app_shared *shared;  /* the app's state and handlers */
    /* ---- models (issue 12) ---- */
    const struct evf_cmodel *body_model;    /* of .body; owned by the app */
} evf_route_entry_t;

/*
 * toolkit: what an app shares with the request layer, owned by app.c
 * (one per loaded app, lives as long as the app): the state its startup
 * set (evf_app_set_state) and its exception handlers.
 */
typedef struct evf_app_shared {
    void *state;
    const evf_exception_handler *exc;
} evf_app_shared_t;

#endif
