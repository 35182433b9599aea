/*
 * exchange: a request's life cycle once its input is in: route it, run its
 * dependencies and handler as tasks, answer what the router or the
 * scheduler decided (404, 405, 422, 500, 503, 504), finish it (counters,
 * the "finished" hooks), run its background tasks after the answer, or
 * abort it.  Loop thread.
 *
 * It reaches the route table through its owner (evf_req_owner_ops.routes)
 * and tells the rest of the process about finished requests through hooks
 * (the access log, worker recycling), never through globals of theirs.
 */
#ifndef EVF_EXCHANGE_H
#define EVF_EXCHANGE_H

#include "access.h"
#include "evfcgi.h"

/*
 * Called for every finished request (answered, or aborted with status
 * 499), after the answer was written.  The entry's strings live until the
 * hook returns.
 */
typedef void (*evf_finished_hook)(const evf_access_entry_t *e, void *ud);

/* Add a hook (at most 4).  0, or -1 when full. */
int evf__exchange_on_finished(evf_finished_hook fn, void *ud);
/* Remove every hook (tests, a new generation). */
void evf__exchange_clear_hooks(void);

/*
 * Cancel requests that finished their answer but still run background
 * tasks (daemon shutdown).
 */
void evf__exchange_cancel_detached(void);

/* Requests still running background tasks after their answer. */
size_t evf__exchange_detached(void);

#endif
