/*
 * turns: the turn queue (see turns.h).
 */
#include "config.h"

#include <ev.h>

#include "loop.h"
#include "turns.h"

#define container_of(p, type, member) \
    ((type *)((char *)(p) - offsetof(type, member)))

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
    t->next = NULL;
    t->prev = q->tail;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
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
    if (t->prev)
        t->prev->next = t->next;
    else
        q->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    else
        q->tail = t->prev;
    t->prev = t->next = NULL;
    t->queued = false;
    if (!q->head) {
        struct ev_loop *loop = evf__loop();
        ev_check_stop(loop, &q->check);
        ev_idle_stop(loop, &q->awake);
    }
}
