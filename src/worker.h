/*
 * worker: one serving process, its loop and its signals.
 *
 * Runs the apps' startup hooks, the thread pool and the listeners on the
 * default libev loop until a signal stops it: TERM/INT at once, QUIT
 * gracefully (no new connections; requests finish within the grace
 * period), USR1 reopens the logs.  A worker also retires by itself
 * (gracefully) after max_requests.  Signals are ev_signal watchers.
 */
#ifndef EVF_WORKER_H
#define EVF_WORKER_H

#include <stddef.h>

/*
 * Serve on the listening fds until stopped.  ready_fd (>= 0) gets our pid
 * (an int32_t) once we accept, then is closed.  Returns the exit status.
 */
int evf_worker_run(const int *fds, size_t nfds, double grace, int ready_fd);

#endif
