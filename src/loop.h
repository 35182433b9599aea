/*
 * loop: the libev loop of the calling thread.
 *
 * Each worker thread that serves requests runs one loop; modules below the
 * connection layer reach it here instead of carrying it around.
 */
#ifndef EVF_LOOP_H
#define EVF_LOOP_H

struct ev_loop;

struct ev_loop *evf__loop(void);
void evf__loop_set(struct ev_loop *loop);

/*
 * The one clock: monotonic seconds, read now (the loop's ev_now() is the
 * time the current iteration started, stale after user code held it).
 */
double evf__now(void);

#endif
