/*
 * turns: work that waits its turn to the next loop iterations, and the
 * budget of work one iteration may do.
 *
 * Two bounded loops use it: the connections read past the read budget
 * (conn.c) and the tasks due past the resume budget (task.c).  A turn
 * queue is an intrusive FIFO (an evf_turn_t lives in what waits).  While
 * it holds anything, its serve function runs first in each iteration (a
 * check watcher: libev runs those before the I/O and timer callbacks of
 * their iteration) and an idle watcher keeps the loop from sleeping.
 * Everything is on the loop's thread.
 */
#ifndef EVF_TURNS_H
#define EVF_TURNS_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "fifo.h"

typedef struct evf_turn {
    evf_link_t link;        /* first: a link is its turn */
    bool queued;
} evf_turn_t;

typedef struct evf_turns {
    evf_fifo_t fifo;
    void (*serve)(struct evf_turns *q);     /* set before the first push */
    ev_check check;
    ev_idle awake;
} evf_turns_t;

/* Append t (not queued) at the end of q. */
void evf_turns_push(evf_turns_t *q, evf_turn_t *t);
/* Take t (queued) off q, wherever it is. */
void evf_turns_remove(evf_turns_t *q, evf_turn_t *t);

/* The first turn waiting in q, or NULL. */
static inline evf_turn_t *
evf_turns_first(const evf_turns_t *q)
{
    return (evf_turn_t *)q->fifo.head;
}

/* Work done in one loop iteration: counted against a budget. */
typedef struct evf_budget {
    unsigned iteration;     /* ev_iteration() of used */
    size_t used;
} evf_budget_t;

/* The work b counted in this loop iteration (0 in a new one). */
static inline size_t
evf_budget_used(evf_budget_t *b, struct ev_loop *loop)
{
    if (b->iteration != ev_iteration(loop)) {
        b->iteration = ev_iteration(loop);
        b->used = 0;
    }
    return b->used;
}

#endif
