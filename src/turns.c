/*
 * turns: the turn queue (see turns.h).
 */
#include "config.h"

#include <ev.h>

#include "loop.h"
#include "turns.h"

static void
serve_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    evf_turns_t *q = container_of(w, evf_turns_t, check);
    (void)loop, (void)revents;
    q->serve(q);
}

static void
awake_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)loop, (void)w, (void)revents;
}

void
evf_turns_push(evf_turns_t *q, evf_turn_t *t)
{
    t->queued = true;
    evf_fifo_append(&q->fifo, &t->link);
    if (!ev_is_active(&q->check)) {
        struct ev_loop *loop = evf__loop();
        ev_check_init(&q->check, serve_cb);
        ev_check_start(loop, &q->check);
        ev_idle_init(&q->awake, awake_cb);
        ev_idle_start(loop, &q->awake);
    }
}

void
evf_turns_remove(evf_turns_t *q, evf_turn_t *t)
{
    evf_fifo_unlink(&q->fifo, &t->link);
    t->queued = false;
    if (!q->fifo.head) {
        struct ev_loop *loop = evf__loop();
        ev_check_stop(loop, &q->check);
        ev_idle_stop(loop, &q->awake);
    }
}
