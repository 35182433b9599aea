/*
 * deps: dependency resolution (FastAPI's Depends) on the request's tasks.
 *
 * Runs on the loop's thread, inside a request's tasks: resolving may await
 * (a dependency's own awaits, another task's resolution of a shared
 * dependency, a pool thread for a blocking one).  The per-request cache
 * lives in the request (evf__req_deps_cache).  The cycle check is pure and
 * runs when an app loads.
 */
#ifndef EVF_DEPS_H
#define EVF_DEPS_H

#include <stddef.h>

#include "evfcgi.h"

/*
 * Resolve the app's and the route's dependencies (main task, before the
 * handler).  Returns 0; a dependency that raised never returns here.
 */
int evf__deps_resolve_route(evf_req *r);

/*
 * Find a cycle among the dependencies reachable from two lists (either may
 * be NULL).  Returns 0, or -1 with "a -> b -> a" in msg.
 */
int evf_deps_find_cycle(const evf_dep *const *a, const evf_dep *const *b,
                        char *msg, size_t len);

#endif
