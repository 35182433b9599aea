/*
 * middleware: runs an app's middleware chain (cors.h) around a request:
 * the before hooks in declared order when the request starts, the CORS
 * preflight answer, and the after hooks in reverse order just before the
 * answer's head is written (the simple-request CORS headers first).  Also
 * the built-in request-id middleware.  Request layer; the before hooks run
 * on the loop.
 *
 * exchange.c calls evf__mw_before when a request starts; response.c calls
 * evf__mw_after from the one place every head is written.  A request whose
 * app has no chain (r->mw NULL) costs one pointer test in each.
 */
#ifndef EVF_MIDDLEWARE_H
#define EVF_MIDDLEWARE_H

#include <stdbool.h>

#include "cors.h"
#include "evfcgi.h"

/*
 * Run chain's before hooks for r and remember the chain for the after
 * hooks.  Returns true when a hook (or the CORS preflight) answered r: the
 * caller finishes it without routing or running the handler.
 */
bool evf__mw_before(evf_req *r, const evf_mw_chain_t *chain);

/* The after hooks of the middlewares whose before ran (once per r). */
void evf__mw_after(evf_req *r, int status);

/*
 * The chain for requests no route matched (404, 405, intake refusals):
 * the first started app's that has one (set by app.c, NULL to clear).
 */
void evf__mw_set_fallback(const evf_mw_chain_t *chain);
const evf_mw_chain_t *evf__mw_fallback(void);

#endif
