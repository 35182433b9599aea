/*
 * deps_graph: checks on the dependency graph of an app, pure.
 *
 * An app's and its routes' dependencies (evf_dep, FastAPI's Depends) form
 * a graph through each dependency's own deps list.  The graph is checked
 * once, when the app loads (app.c), so that resolving a request (deps.c)
 * can trust it: no cycle, no nesting deeper than EVF_DEPS_MAX_DEPTH.
 * Works on the caller's constant tables; keeps no state between calls.
 */
#ifndef EVF_DEPS_GRAPH_H
#define EVF_DEPS_GRAPH_H

#include <stddef.h>

#include "evfcgi.h"

#define EVF_DEPS_MAX_DEPTH 64

/*
 * Find a cycle among the dependencies reachable from two NULL-terminated
 * lists (either may be NULL): the app's and a route's.  Returns 0, or -1
 * with a message in msg[0..len) (truncated to fit): the cycle as
 * "a -> b -> a" (a dependency without a name shows as "?"), that the
 * dependencies nest deeper than EVF_DEPS_MAX_DEPTH, or "out of memory".
 * Each dependency is walked once: the time grows with the number of
 * dependencies, not of paths through them.
 */
int evf_deps_find_cycle(const evf_dep *const *a, const evf_dep *const *b,
                        char *msg, size_t len);

#endif
