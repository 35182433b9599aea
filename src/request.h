/*
 * request: one FastCGI request, from BEGIN_REQUEST to END_REQUEST.
 *
 * Owns the request's params, body, arena, response state, and the
 * coroutines (tasks) its handler runs on; implements the handler API of
 * evfcgi.h (accessors, responses, awaits).  Runs on the loop's thread.
 *
 * It reaches its connection only through the owner hooks it was created
 * with, never through conn.h: the connection gives an output buffer, a
 * flush, and is told when the request is finished.
 *
 * Life cycle.  evf__req_new (BEGIN) -> evf__req_params/... (PARAMS) ->
 * evf__req_stdin (STDIN) -> on the empty STDIN record the route runs
 * (exchange.c).  The
 * request ends when its handler returns (or raises), or when it is aborted;
 * either way the owner's finished hook is called exactly once, and the
 * request's memory is freed right after.  Functions marked "may finish"
 * may free the request before they return: callers must not touch it
 * afterwards unless told it is still alive.
 */
#ifndef EVF_REQUEST_H
#define EVF_REQUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "evfcgi.h"
#include "task.h"

typedef struct evf_req_owner_ops {
    /* Buffer to append the request's records to. */
    evf_buf_t *(*out)(void *owner);
    /* Try to send what is buffered.  0, or EVF_EGONE if the peer is gone. */
    int (*flush)(void *owner);
    /* True while buffered output is above the high-water mark. */
    bool (*congested)(void *owner);
    /* Call evf__req_drained(r) once output drops below the low-water mark. */
    void (*wait_drain)(void *owner, evf_req *r);
    /* Keep the owner alive across a run of user code / let it go. */
    void (*hold)(void *owner);
    void (*unhold)(void *owner);
    /* True when the peer is gone. */
    bool (*gone)(void *owner);
    /*
     * The request is finished: the owner forgets it (it stays valid until
     * this returns).  answered says whether END_REQUEST must be written
     * (false when the connection is going away).
     */
    void (*finished)(void *owner, evf_req *r, bool answered);
    /* The route table to dispatch on (NULL: none, every path is 404). */
    const struct evf_router *(*routes)(void *owner);
} evf_req_owner_ops;

/* Request-level protocol errors: the connection must be closed. */
#define EVF_EPROTO (-71)

evf_req *evf__req_new(void *owner, const evf_req_owner_ops *ops,
                      uint16_t id, uint8_t flags);
uint16_t evf__req_id(const evf_req *r);
bool evf__req_keep_conn(const evf_req *r);
/*
 * Whether r has work to do after its answer (teardowns, background
 * tasks): its owner then sends the answer before that work runs.
 */
bool evf__req_has_after(const evf_req *r);

/*
 * While the request's PARAMS or STDIN is still arriving: the loop time
 * (ev_now) of its BEGIN_REQUEST; once it runs (or was answered): 0.
 */
double evf__req_intake_since(const evf_req *r);

/* A piece of the PARAMS stream; len 0 ends it.  0 or EVF_EPROTO. */
int evf__req_params(evf_req *r, const uint8_t *data, size_t len);
/*
 * A piece of the STDIN stream; len 0 ends it and runs the route (may
 * finish).  0 or EVF_EPROTO.
 */
int evf__req_stdin(evf_req *r, const uint8_t *data, size_t len);

/*
 * The web server aborted the request (ABORT_REQUEST: send_end is true) or
 * the connection is gone (send_end false).  Cancels its tasks without
 * resuming them, runs its cleanups.  Finishes the request.
 */
void evf__req_abort(evf_req *r, bool send_end);

/* Output dropped below the low-water mark: resume a waiting stream write. */
void evf__req_drained(evf_req *r);

/* Linked-list hook the owner may use (e.g. drain waiters). */
evf_req **evf__req_link(evf_req *r);

/* For deps.c: the request's dependency cache head, and its declarations. */
void **evf__req_deps_cache(evf_req *r);
const evf_dep *const *evf__req_app_deps(evf_req *r);
const evf_dep *const *evf__req_route_deps(evf_req *r);

/* The running task, checked to be r's (asserts on misuse). */
evf_task_t *evf__req_task(evf_req *r);

/* True on the pool thread that runs r's blocking handler (it owns r). */
bool evf__req_on_pool(const evf_req *r);

/* An await was called on a pool thread: log why, return EVF_EINVAL. */
int evf__req_misuse(evf_req *r, const char *what);

/* Seconds left before the request's deadline; -1 when it has none. */
double evf__req_time_left(evf_req *r);

#endif
