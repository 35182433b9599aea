/*
 * cors: an app's CORS policy and its middleware chain, as data (pure: no
 * request, no loop).
 *
 * The policy has FastAPI's (Starlette's) CORSMiddleware semantics: a
 * request with an Origin is a preflight when it is an OPTIONS carrying
 * Access-Control-Request-Method, answered here without a route (200 "OK"
 * or 400 "Disallowed CORS origin, method, headers" with the preflight
 * headers); any other request with an Origin is a simple one, whose answer
 * gets Access-Control-Allow-Origin and the rest when the origin is allowed.
 * Unlike Starlette, a disallowed origin gets no CORS header at all on a
 * simple request (no Allow-Credentials, no Expose-Headers), and with
 * allow_credentials and "*" the origin is echoed (a browser refuses "*"
 * on a credentialed request) even when the request has no cookie.
 *
 * The chain is what the request layer runs (middleware.c): the app's
 * middleware in order, then the CORS policy (innermost).  It is built once
 * per worker when the apps start (app.c) and read-only afterwards.
 */
#ifndef EVF_CORS_H
#define EVF_CORS_H

#include <stdbool.h>
#include <stddef.h>

#include "evfcgi.h"

typedef struct evf_cors_cfg evf_cors_cfg_t;

/* One header of a CORS answer: strings borrowed (policy or request). */
typedef struct evf_cors_hdr {
    const char *name, *value;
} evf_cors_hdr_t;

#define EVF_CORS_MAX_HDRS 8

typedef struct evf_cors_res {
    int status;             /* preflight: 200 or 400 */
    char body[48];          /* preflight: "OK" or "Disallowed CORS ..." */
    size_t n;
    evf_cors_hdr_t h[EVF_CORS_MAX_HDRS];
} evf_cors_res_t;

/* The app's conf options, read while building: value or NULL. */
typedef const char *(*evf_cors_opt_fn)(void *ud, const char *key);

/*
 * Build a policy from spec (may be NULL) with the cors_* options read
 * through opt (may be NULL) overriding its fields.  *out is NULL when
 * neither gives any (CORS off).  Returns 0, or -1 with a message in err
 * (a bad regex, boolean or number, or no memory).  Free with
 * evf__cors_free.
 */
int evf__cors_build(const evf_cors *spec, evf_cors_opt_fn opt, void *ud,
                    evf_cors_cfg_t **out, char *err, size_t errlen);
void evf__cors_free(evf_cors_cfg_t *c);

/* True when a request with this method and headers is a preflight. */
bool evf__cors_is_preflight(const char *method, const char *origin,
                            const char *request_method);
/*
 * The preflight answer for origin (non-NULL), the requested method and
 * headers (Access-Control-Request-Headers, may be NULL).  The values in
 * res borrow from c and the arguments.
 */
void evf__cors_preflight(const evf_cors_cfg_t *c, const char *origin,
                         const char *request_method,
                         const char *request_headers, evf_cors_res_t *res);
/*
 * The headers a simple request's answer gets (res->n 0: none): origin
 * non-NULL; has_cookie when the request carries a Cookie header.
 */
void evf__cors_simple(const evf_cors_cfg_t *c, const char *origin,
                      bool has_cookie, evf_cors_res_t *res);

/* ---- the chain ---------------------------------------------------------- */

typedef struct evf_mw_chain {
    const evf_middleware *const *mw;    /* the app's, borrowed */
    size_t n;
    evf_cors_cfg_t *cors;               /* owned; NULL: no CORS */
} evf_mw_chain_t;

/*
 * The chain of an app declaring middleware (may be NULL) and cors (may be
 * NULL), with its options read through opt.  *out is NULL when there is
 * neither (the app pays nothing).  0, or -1 with a message in err.
 */
int evf__mw_chain_build(const evf_middleware *const *mw, const evf_cors *cors,
                        evf_cors_opt_fn opt, void *ud, evf_mw_chain_t **out,
                        char *err, size_t errlen);
void evf__mw_chain_free(evf_mw_chain_t *c);

#endif
