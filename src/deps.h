/*
 * deps: dependency resolution (FastAPI's Depends) on the request's tasks.
 *
 * Runs on the loop's thread, inside a request's tasks: resolving may await
 * (a dependency's own awaits, another task's resolution of a shared
 * dependency, a pool thread for a blocking one).  The per-request cache
 * lives in the request (evf__req_deps_cache).  The cycle check, which runs
 * when an app loads, is deps_graph's.
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

/* ---- overrides (the test client's dependency_overrides) ---------------- */

/*
 * From now on resolve real (or every dependency named name, when real is
 * NULL) as fake; fake NULL removes that override.  Loop thread, between
 * requests.  0, or -ENOMEM.  While none is set, resolution pays nothing.
 */
int evf__deps_override(const evf_dep *real, const char *name,
                       const evf_dep *fake);
/* Remove every override. */
void evf__deps_clear_overrides(void);

#endif
