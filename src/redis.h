/*
 * redis: the worker's Redis client (evf_redis_* in evfcgi.h).
 *
 * Owns the loop thread's connection to Redis (hiredis async context on
 * the loop), its reconnection state and the copies of replies handed to
 * requests.  Loop thread only.  What is here is for tests.
 */
#ifndef EVF_REDIS_H
#define EVF_REDIS_H

#include <stdbool.h>

/* Commands sent and not answered yet. */
unsigned evf__redis_pending(void);
/* True while the connection is up (not only connecting). */
bool evf__redis_connected(void);

#endif
