/*
 * fifo.h: an intrusive doubly linked FIFO.  The link lives in what waits
 * (an evf_link_t member), so appending and taking out anywhere cost a few
 * pointer writes and no allocation.  Used by the turn queues (turns.h)
 * and the timer lanes (lanes.h).  Its container_of serves every embedded
 * member (a link, a watcher) in the core.
 */
#ifndef EVF_FIFO_H
#define EVF_FIFO_H

#include <stddef.h>

/* What holds member `member` of type `type` at p: from an embedded link
 * (or watcher) back to its owner. */
#define container_of(p, type, member) \
    ((type *)((char *)(p) - offsetof(type, member)))

typedef struct evf_link {
    struct evf_link *prev, *next;
} evf_link_t;

typedef struct evf_fifo {
    evf_link_t *head, *tail;
} evf_fifo_t;

/* Append e (in no FIFO) at the end of q. */
static inline void
evf_fifo_append(evf_fifo_t *q, evf_link_t *e)
{
    e->next = NULL;
    e->prev = q->tail;
    if (q->tail)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
}

/* Take e (in q) out of q, wherever it is. */
static inline void
evf_fifo_unlink(evf_fifo_t *q, evf_link_t *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        q->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        q->tail = e->prev;
    e->prev = e->next = NULL;
}

#endif
