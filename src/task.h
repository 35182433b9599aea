/*
 * task: the scheduler.  Tasks are coroutines grouped under one owner (a
 * request), resumed only from the loop's stack; they await timers, file
 * descriptors, each other, and jobs on the thread pool.
 *
 * The scheduler knows nothing about HTTP.  It tells its owner what happened
 * through the group's ops table: a task suspended (flush what it wrote), a
 * root task ended (returned, raised, or ran past the group's deadline), a
 * pool job came back, a task held the loop too long.  Runs on the loop's
 * thread, except where a function says it may be called from a pool thread.
 *
 * Awaits either return, or never: a group that raises, expires or is
 * cancelled has every task dropped without being resumed (its stack goes
 * back to the pool), and the owner's cleanups release what they held.
 *
 * Deadline.  A group may have an absolute deadline (loop clock).  Every
 * await is bounded by it.  By default an await that reaches the deadline
 * never returns: the group expires (the owner answers 504).  A group that
 * sets deadline_returns gets EVF_ETIMEDOUT from that await instead.
 */
#ifndef EVF_TASK_H
#define EVF_TASK_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "coro.h"

typedef struct evf_task evf_task_t;

/* Tasks resumed by their timers in one loop iteration, at most; the rest
 * go first in the next iterations (see task.c). */
#define EVF__TASK_RUN_BUDGET 512
typedef struct evf_tasks evf_tasks_t;

/* A hold on an owner: release(arg) lets it go (release may be NULL). */
typedef struct evf_hold {
    void (*release)(void *arg);
    void *arg;
} evf_hold_t;

/* How a group's root task ended (evf_tasks_ops.ended). */
enum evf_task_end {
    EVF_TASK_RETURNED,      /* the root task's function returned */
    EVF_TASK_RAISED,        /* a task unwound (evf__task_unwind) */
    EVF_TASK_EXPIRED        /* an await reached the deadline */
};

typedef struct evf_tasks_ops {
    /*
     * Keep the owner alive across a run of user code.  The hold is
     * released through what it returns, since the group itself may be
     * gone by then.
     */
    evf_hold_t (*hold)(evf_tasks_t *g);
    /* A task suspended: send what it wrote so far. */
    void (*flush)(evf_tasks_t *g);
    /*
     * A root task ended.  For RAISED and EXPIRED every task of the group
     * has been dropped.  The owner may free itself (through
     * evf__tasks_abandon) before this returns.
     */
    void (*ended)(evf_tasks_t *g, int how);
    /* A task ran this many seconds without awaiting. */
    void (*slow)(evf_tasks_t *g, double seconds);
    /* A pool job came back, before its task goes on (loop thread). */
    void (*job_back)(evf_tasks_t *g);
    /* An abandoned group's last pool job came back: free the owner. */
    void (*release)(evf_tasks_t *g);
} evf_tasks_ops;

/* A group, embedded in its owner.  Fields are private to task.c. */
struct evf_tasks {
    const evf_tasks_ops *ops;
    evf_task_t *list;           /* live tasks */
    double deadline;            /* absolute, loop clock; 0: none */
    bool deadline_returns;      /* awaits see EVF_ETIMEDOUT at the deadline */
    bool raised;
    bool expired;
    bool abandoned;
    unsigned jobs;              /* pool jobs out */
    atomic_bool cancelled;      /* read by pool threads */
};

/*
 * A task's function: fn(t, a, b).  Two arguments so that a caller can pass
 * its own function and argument through (see request.c).
 */
typedef void (*evf__task_fn)(evf_task_t *t, void *a, void *b);

void evf__tasks_init(evf_tasks_t *g, const evf_tasks_ops *ops);

/* A new task of g, not started.  NULL when out of stacks. */
evf_task_t *evf__task_new(evf_tasks_t *g, evf__task_fn fn, void *a,
                          void *b);
/* The same, on a slot the caller took (coro.h), below its bytes; NULL
 * slot: a slot of its own. */
evf_task_t *evf__task_new_in(evf_tasks_t *g, evf_coro_slot_t *slot,
                             evf__task_fn fn, void *a, void *b);
/* Start or continue t now (from the loop's stack only).  May end g. */
void evf__task_run(evf_task_t *t);
/* Start t on the next loop iteration (resumes never nest). */
void evf__task_schedule(evf_task_t *t);

/* The running task (NULL on the loop's stack or a pool thread). */
evf_task_t *evf__task_current(void);
evf_tasks_t *evf__task_group(const evf_task_t *t);

/*
 * Awaits, called on the running task t.  Each returns what woke it, or
 * EVF_ETIMEDOUT at the deadline when the group has deadline_returns.
 */
int evf__task_sleep(evf_task_t *t, double seconds);
/* EVF_READ/EVF_WRITE ready, or EVF_ETIMEDOUT after timeout (< 0: none). */
int evf__task_wait_fd(evf_task_t *t, int fd, int events, double timeout);
/* Until evf__task_wake(t, result); returns result. */
int evf__task_await(evf_task_t *t);
/* Suspend without the deadline (the owner resumes it with wake). */
int evf__task_park(evf_task_t *t);
/* Wake t (awaiting or parked) from the loop on its next iteration. */
void evf__task_wake(evf_task_t *t, int result);
/*
 * Run fn(a, b) as n child tasks (one per b in bs), concurrently, and wait
 * for all of them.  0, or EVF_EINVAL when out of stacks (the children that
 * started still finish first).
 */
int evf__task_gather(evf_task_t *t, size_t n, evf__task_fn fn, void *a,
                     void *const *bs);
/*
 * Run fn(arg) on the thread pool and await it.  bounded: the deadline
 * applies (the job is abandoned if it passes; its memory is kept until it
 * returns).  0, or EVF_EBUSY when the pool's queue is full.
 */
int evf__task_to_thread(evf_task_t *t, void (*fn)(void *arg), void *arg,
                        bool bounded);

/*
 * End the group now, like an exception: no task of it is resumed, and the
 * owner hears EVF_TASK_RAISED.  On the loop, t must be the running task;
 * on a pool thread inside evf__task_to_thread's fn, the job returns at
 * once and the group ends when the loop takes the job back.  Returns only
 * when there is nothing to unwind (called outside a task).
 */
void evf__task_unwind(evf_tasks_t *g);

/* Drop every task of g without resuming it (cancellation). */
void evf__tasks_cancel(evf_tasks_t *g);
/*
 * The owner is done with g: true when it may be freed now; false when pool
 * jobs are still out (ops->release runs when the last comes back).
 */
bool evf__tasks_abandon(evf_tasks_t *g);
/* True while pool jobs of g are out (they may touch the owner's memory). */
bool evf__tasks_jobs_out(const evf_tasks_t *g);
bool evf__tasks_empty(const evf_tasks_t *g);

/* Deadline: seconds from now (<= 0: none); seconds left (-1: none). */
void evf__tasks_set_deadline(evf_tasks_t *g, double seconds);
void evf__tasks_set_deadline_at(evf_tasks_t *g, double when);
double evf__tasks_time_left(const evf_tasks_t *g);

/*
 * Until t's next await returns, fn(arg) runs if t is dropped instead of
 * being resumed (its group cancelled, raised or expired), so that whoever
 * would wake it forgets it (futures).  Set it just before the await.
 */
void evf__task_on_drop(evf_task_t *t, void (*fn)(void *arg), void *arg);

#endif
