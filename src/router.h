/*
 * router: route table (method + path template -> route data), pure.
 *
 * Templates are split into segments at '/'.  A segment is a literal, or a
 * whole-segment parameter {name}, {name:int}, {name:float}, {name:str}, or
 * a final {name:path} that takes the rest of the path.  The table is a
 * trie of segments: matching walks the request path once, trying a literal
 * child (binary search) before the parameter child, so its cost depends on
 * the path's depth, not on the number of routes, and no regex runs.
 *
 * A parameter segment matches any non-empty segment: typed conversion is
 * validation, done after matching (FastAPI answers 422 for /items/abc, not
 * 404), by convert.h's functions.
 */
#ifndef EVF_ROUTER_H
#define EVF_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evfcgi.h"


#define EVF_ROUTER_MAX_CAPS 16

typedef struct evf_router evf_router_t;

typedef struct evf_capture {
    const char *name;       /* borrowed from the router */
    evf_type type;
    const char *value;      /* borrowed from the matched path */
    size_t len;
} evf_capture_t;

typedef struct evf_match {
    void *data;             /* the route's data, when status is 0 */
    int status;             /* 0, 404 or 405 */
    char allow[96];         /* for 405: "GET, POST" */
    size_t ncaps;
    evf_capture_t caps[EVF_ROUTER_MAX_CAPS];
} evf_match_t;

evf_router_t *evf_router_new(void);
void evf_router_free(evf_router_t *rt);

/*
 * Add a route.  owner names who added it (the app), for messages.  Returns
 * 0, or -1 with a message in err: bad template, or a clash with a route
 * already there (same method and same path shape).
 */
int evf_router_add(evf_router_t *rt, const char *method, const char *path,
                   void *data, const char *owner, char *err, size_t errlen);

/*
 * Match a decoded path (no query).  Fills *m; captures point into path,
 * which must outlive the match.
 */
void evf_router_match(const evf_router_t *rt, const char *method,
                      const char *path, evf_match_t *m);

/* Number of routes. */
size_t evf_router_count(const evf_router_t *rt);

/* ---- toolkit (issue 13) ---- */
/*
 * The router's fallback data: what answers a path no route matches (the
 * exception handlers of 404 and 405).  The owner sets it; borrowed.
 */
void evf_router_set_fallback(evf_router_t *rt, const void *data);
const void *evf_router_fallback(const evf_router_t *rt);

#endif
