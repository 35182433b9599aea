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
    /* ---- models (issue 12) ---- */
    const struct evf_cmodel *body_model;    /* of .body; owned by the app */
} evf_route_entry_t;

#endif
