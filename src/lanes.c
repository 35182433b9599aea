/*
 * lanes: timers of one delay in a FIFO under one ev_timer (see lanes.h).
 *
 * A lane's ev_timer is armed for its head's due time.  libev measures a
 * timer from the loop's time, read when the iteration began, so it may
 * fire a little before the head's due time read off the clock at its
 * start; a head less than EARLY before its time counts as due (libev's
 * epoll backend wakes to the millisecond), and one further off re-arms
 * the lane for what is left.
 *
 * When the lane's timer fires, every due timer is moved to a batch on the
 * stack, and the lane is re-armed for the next, before any callback runs:
 * a callback may start timers (in this lane too), and stop others (in the
 * batch too, since an ltimer's lane is wherever it waits).
 */
#include "config.h"

#include <stddef.h>

#include "lanes.h"
#include "loop.h"

#define EARLY 0.001

typedef struct evf_lane {
    evf_fifo_t fifo;
    unsigned n;
    double delay;               /* < 0: a batch, not a lane */
    struct ev_loop *loop;       /* whose timers it holds */
    ev_timer w;                 /* armed for head, in a lane */
} lane_t;

/* Global-dynamic TLS: too big for the static block (see tls.h), and an
 * arm or a stop is not frequent enough for the call to matter. */
static _Thread_local lane_t lanes[EVF_LANES];

static void lane_cb(struct ev_loop *loop, ev_timer *w, int revents);

static evf_ltimer_t *
head_of(const lane_t *l)
{
    return l->fifo.head ? container_of(l->fifo.head, evf_ltimer_t, link)
                        : NULL;
}

static void
append(lane_t *l, evf_ltimer_t *t)
{
    t->lane = l;
    evf_fifo_append(&l->fifo, &t->link);
    l->n++;
}

static void
unlink_from(lane_t *l, evf_ltimer_t *t)
{
    evf_fifo_unlink(&l->fifo, &t->link);
    t->lane = NULL;
    l->n--;
}

/* Arm l's timer for its head, or stop it when l is empty. */
static void
rearm(struct ev_loop *loop, lane_t *l, double now)
{
    ev_timer_stop(loop, &l->w);
    evf_ltimer_t *head = head_of(l);
    if (!head)
        return;
    double after = head->due - now;
    ev_timer_set(&l->w, after > 0 ? after : 0., 0.);
    ev_timer_start(loop, &l->w);
}

void
evf_ltimer_init(evf_ltimer_t *t, void (*cb)(struct ev_loop *, ev_timer *, int))
{
    ev_init(&t->w, cb);
    t->link.prev = t->link.next = NULL;
    t->lane = NULL;
    t->due = 0;
}

void
evf_ltimer_start_alone(struct ev_loop *loop, evf_ltimer_t *t, double after)
{
    if (evf_ltimer_active(t))
        return;     /* as ev_timer_start does */
    ev_timer_set(&t->w, after, 0.);
    ev_timer_start(loop, &t->w);
}

/* loop's lane of delay `after`, or a free one for it; NULL when none.
 * (A lane that holds another loop's timers is neither.) */
static lane_t *
lane_for(struct ev_loop *loop, double after)
{
    lane_t *free_lane = NULL;
    for (lane_t *l = lanes; l < lanes + EVF_LANES; l++) {
        if (l->n && l->delay == after && l->loop == loop)
            return l;
        if (!l->n && !free_lane)
            free_lane = l;
    }
    return free_lane;
}

void
evf_ltimer_start(struct ev_loop *loop, evf_ltimer_t *t, double after)
{
    if (evf_ltimer_active(t))
        return;     /* as ev_timer_start does */
    lane_t *l = lane_for(loop, after);
    if (!l) {
        evf_ltimer_start_alone(loop, t, after);
        return;
    }
    double now = evf__now();
    t->due = now + after;
    append(l, t);
    if (l->n == 1) {
        l->delay = after;
        l->loop = loop;
        ev_init(&l->w, lane_cb);    /* an empty lane's timer is stopped */
        rearm(loop, l, now);
    }
}

void
evf_ltimer_stop(struct ev_loop *loop, evf_ltimer_t *t)
{
    lane_t *l = t->lane;
    if (!l) {
        ev_timer_stop(loop, &t->w);
        return;
    }
    bool was_head = head_of(l) == t;
    unlink_from(l, t);
    if (was_head && l->delay >= 0)
        rearm(loop, l, evf__now());
}

static void
lane_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    lane_t *l = container_of(w, lane_t, w);
    lane_t batch = { .delay = -1 };
    double now = evf__now();
    (void)revents;
    evf_ltimer_t *t;
    while ((t = head_of(l)) && t->due <= now + EARLY) {
        unlink_from(l, t);
        append(&batch, t);
    }
    rearm(loop, l, now);
    while ((t = head_of(&batch))) {
        unlink_from(&batch, t);
        ev_invoke(loop, &t->w, EV_TIMER);
    }
}

unsigned
evf_lanes_waiting(void)
{
    unsigned n = 0;
    for (lane_t *l = lanes; l < lanes + EVF_LANES; l++)
        n += l->n;
    return n;
}
