/*
 * exc: exception handlers (FastAPI's app.exception_handler).
 *
 * An error answer (response.c's evf__req_answer_error: 404, 405, 500,
 * 504, evf_raise, app-defined codes) and the 422 of the parameters
 * (exchange.c) first ask here: the handler the app registered for that
 * status answers instead.  The route's app owns the request; a request no
 * route matched belongs to the first loaded app with handlers (the
 * router's fallback, set by app.c).  Loop thread, or the pool thread of a
 * blocking request that raised.
 */
#include "config.h"

#include "request_int.h"

bool
evf__req_exc_answer(evf_req *r, int status, const char *detail,
                    json_object *errors)
{
    if (r->answered || r->in_exc_handler)
        return false;
    const evf_app_shared_t *sh = NULL;
    if (r->route)
        sh = r->route->shared;
    else if (r->router)
        sh = evf_router_fallback(r->router);
    if (!sh || !sh->exc)
        return false;
    const evf_exception_handler *h = sh->exc;
    while (h->status && h->status != status)
        h++;
    if (!h->status || !h->fn)
        return false;
    /* An evf_raise inside the handler sends the framework's answer. */
    r->in_exc_handler = true;
    h->fn(r, status, detail, errors);
    r->in_exc_handler = false;
    return r->answered;
}
