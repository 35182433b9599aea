/*
 * lanes: one-shot timers that need no entry in libev's timer heap.
 *
 * Timers started with the same delay come due in the order they were
 * started, so they need no priority queue: a lane keeps them in a FIFO,
 * and one ev_timer, armed for its head, stands for all of them.  That is
 * the common case of a server: every request of a route awaits the same
 * 100 ms, or the same wake-up with no delay.  Starting and stopping such
 * a timer is a few pointer writes (the heap costs O(log n) each), and a
 * pending timer costs nothing outside the evf_ltimer_t its owner embeds
 * (the heap holds 16 bytes per timer, and grows with the peak).
 *
 * A thread has EVF_LANES lanes.  A lane belongs to one delay while it
 * holds timers; a delay with no lane takes a free one, and when none is
 * free its timers go to libev's heap as before.  Due times are read off
 * CLOCK_MONOTONIC, as libev's timers are, so a step of the wall clock
 * neither hurries nor delays them.
 *
 * An evf_ltimer_t wraps an ev_timer: it is started and stopped here, and
 * when it comes due its ev_timer's callback is called as libev would call
 * it.  Everything happens on the loop's thread.
 */
#ifndef EVF_LANES_H
#define EVF_LANES_H

#include <ev.h>
#include <stdbool.h>

#include "fifo.h"

#define EVF_LANES 8

struct evf_lane;

typedef struct evf_ltimer {
    ev_timer w;                 /* its callback; the heap when no lane */
    evf_link_t link;            /* in its lane */
    struct evf_lane *lane;      /* the lane it waits in, or NULL */
    double due;                 /* CLOCK_MONOTONIC seconds, in a lane */
} evf_ltimer_t;

/* Prepare t to call cb when due (then t is stopped). */
void evf_ltimer_init(evf_ltimer_t *t,
                     void (*cb)(struct ev_loop *, ev_timer *, int));

/*
 * Start t to come due in `after` seconds (>= 0), in a lane if
 * one is free for that delay, in libev's heap otherwise.  Timers whose
 * delays vary from start to start (deadlines) should use
 * evf_ltimer_start_alone: they would hold lanes one timer each.
 */
void evf_ltimer_start(struct ev_loop *loop, evf_ltimer_t *t, double after);
/* Start t in libev's heap.  Either start is a no-op on a started t. */
void evf_ltimer_start_alone(struct ev_loop *loop, evf_ltimer_t *t,
                            double after);
/* Stop t if it is started (a no-op otherwise). */
void evf_ltimer_stop(struct ev_loop *loop, evf_ltimer_t *t);

static inline bool
evf_ltimer_active(const evf_ltimer_t *t)
{
    return t->lane || ev_is_active(&t->w);
}

/* How many timers wait in lanes on this thread (for tests). */
unsigned evf_lanes_waiting(void);

#endif
