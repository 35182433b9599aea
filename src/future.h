/*
 * future: a one-shot value that a callback API resolves and a request's
 * handler awaits (evf_future_* in evfcgi.h).
 *
 * Owns the futures and, per loop thread, the hub that carries resolutions
 * from other threads to the loop (an ev_async whose callback drains a
 * queue).  A future holds two references: the request's (dropped by an
 * evf_defer cleanup when the request ends) and the resolver's (dropped
 * when it is resolved); it is freed, with its value, when both are gone.
 * So a resolution that comes after the request ended finds the future
 * still there, sees nobody waits, and frees the value: it never touches
 * the request.
 */
#ifndef EVF_FUTURE_H
#define EVF_FUTURE_H

#include <stddef.h>

/* Futures not yet freed, on every thread (for tests and leak checks). */
size_t evf__future_live(void);

/*
 * Stop this loop thread's hub and free it (after the loop ran its last
 * iteration).  Resolutions posted after this are lost: the callers that
 * may still resolve must be stopped first.
 */
void evf__future_shutdown(void);

#endif
