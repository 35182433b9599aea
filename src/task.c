/*
 * task: the scheduler (see task.h).
 *
 * DESIGN.  A task lives at the top of its coroutine's stack (timer and io
 * watchers embedded), so an await costs no allocation, and neither does a
 * pool job: the job is embedded too.  Tasks are resumed only by
 * evf__task_run(), from the loop's stack; it is the single place where
 * user code starts or continues, and after each resume it settles what the
 * task did: suspended (the owner flushes), returned (a gathered parent may
 * go on; a root task's end is told to the owner), raised or expired (the
 * whole group is dropped and the owner told).
 *
 * A task's timer means one thing at a time (kind): a wake-up with a result,
 * the await's own timeout, or the group's deadline.  Wake-ups go through
 * the timer with a zero delay, so a wake never resumes a task from inside
 * another task.  Wake-ups and awaits of a fixed delay wait in timer lanes
 * (lanes.h), which keeps them out of libev's heap; a deadline's timer,
 * whose delay differs each time, goes to the heap.
 *
 * Timer resumes are bounded per loop iteration (RUN_BUDGET).  Requests
 * that began together and await the same delay expire together: after a
 * burst, thousands of timers come due in one iteration, and resuming them
 * all at once held the loop for 10 to 20 ms.  Past the budget a due task
 * waits in the ready queue (turns.h), run first in the next iterations,
 * before their timers.  A queued task is about to resume: a wake-up for
 * it is ignored (its timer fired first, as it would have resumed first),
 * and dropping it takes it off the queue.
 *
 * Pool jobs.  While a task's job runs on a pool thread the task is in_pool;
 * dropping it then only marks it orphaned, since the thread may still write
 * to what the task lent it (often on its stack): the stack is freed when
 * the job comes back.  The group counts jobs out, and an abandoned group is
 * released by its owner only when the last one is back.
 */
#include "config.h"

#include <assert.h>
#include <ev.h>
#include <setjmp.h>
#include <stdlib.h>

#include "coro.h"
#include "evfcgi.h"
#include "lanes.h"
#include "loop.h"
#include "pool.h"
#include "task.h"
#include "tls.h"
#include "turns.h"

enum timer_kind { T_WAKE, T_TIMEOUT, T_DEADLINE };

struct evf_task {
    evf_coro_t *coro;
    evf_tasks_t *group;
    evf_task_t *next;           /* the group's live tasks */
    evf_task_t *parent;         /* gather: the awaiting task */
    unsigned children;          /* gather: children still running */
    evf__task_fn fn;
    void *a, *b;
    evf_ltimer_t timer;         /* in a lane when it can (lanes.h) */
    ev_io io;
    int kind;                   /* what the timer means */
    int wake_result;            /* T_WAKE: what the await returns */
    int result;
    bool in_pool;
    bool orphaned;              /* dropped while in_pool */
    bool job_raised;            /* the job unwound on the pool thread */
    evf_job_t job;
    void (*job_fn)(void *);
    void *job_arg;
    void (*on_drop)(void *);    /* evf__task_on_drop: while suspended */
    void *on_drop_arg;
    evf_turn_t turn;            /* on the ready queue */
};

#define RUN_BUDGET EVF__TASK_RUN_BUDGET

static void run_ready(evf_turns_t *q);

static EVF_TLS struct {
    evf_budget_t runs;      /* timer resumes in this iteration */
    evf_turns_t q;          /* the ready queue */
} rq = { .q.serve = run_ready };

#define task_of_turn(t) container_of((t), evf_task_t, turn)

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents);
static void io_cb(struct ev_loop *loop, ev_io *w, int revents);

static void
unhold(evf_hold_t h)
{
    if (h.release)
        h.release(h.arg);
}

void
evf__tasks_init(evf_tasks_t *g, const evf_tasks_ops *ops)
{
    g->ops = ops;
    g->list = NULL;
    g->deadline = 0;
    g->deadline_returns = false;
    g->raised = g->expired = g->abandoned = false;
    g->jobs = 0;
    atomic_init(&g->cancelled, false);
}

static void
entry(evf_coro_t *c, void *arg)
{
    evf_task_t *t = evf_coro_extra(c);
    (void)arg;
    t->fn(t, t->a, t->b);
}

evf_task_t *
evf__task_new(evf_tasks_t *g, evf__task_fn fn, void *a, void *b)
{
    return evf__task_new_in(g, NULL, fn, a, b);
}

evf_task_t *
evf__task_new_in(evf_tasks_t *g, evf_coro_slot_t *slot, evf__task_fn fn,
                 void *a, void *b)
{
    void *extra;
    evf_coro_t *c = slot ? evf_coro_new_in(slot, entry, NULL,
                                           sizeof(evf_task_t), &extra)
                         : evf_coro_new(entry, NULL, sizeof(evf_task_t),
                                        &extra);
    if (!c)
        return NULL;
    evf_task_t *t = extra;
    t->coro = c;
    t->group = g;
    t->fn = fn;
    t->a = a;
    t->b = b;
    evf_ltimer_init(&t->timer, timer_cb);
    ev_init(&t->io, io_cb);
    t->next = g->list;
    g->list = t;
    return t;
}

evf_task_t *
evf__task_current(void)
{
    evf_coro_t *c = evf_coro_self();
    return c ? evf_coro_extra(c) : NULL;
}

evf_tasks_t *
evf__task_group(const evf_task_t *t)
{
    return t->group;
}

/* ---- the ready queue ---------------------------------------------------- */

/* Room for one more timer resume in this loop iteration? */
static bool
run_budget_left(struct ev_loop *loop)
{
    return evf_budget_used(&rq.runs, loop) < RUN_BUDGET;
}

/* First in each iteration: the tasks whose timers fired past the budget,
 * in the order they fired. */
static void
run_ready(evf_turns_t *q)
{
    struct ev_loop *loop = evf__loop();
    while (evf_turns_first(q) && run_budget_left(loop)) {
        evf_task_t *t = task_of_turn(evf_turns_first(q));
        evf_turns_remove(q, &t->turn);
        rq.runs.used++;
        evf__task_run(t);
    }
}

/* Stop t's watchers and drop its stack (t is gone afterwards). */
static void
drop(evf_task_t *t)
{
    evf_tasks_t *g = t->group;
    struct ev_loop *loop = evf__loop();
    evf_ltimer_stop(loop, &t->timer);
    ev_io_stop(loop, &t->io);
    if (t->turn.queued)
        evf_turns_remove(&rq.q, &t->turn);
    for (evf_task_t **pp = &g->list; *pp; pp = &(*pp)->next)
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    if (t->on_drop) {
        void (*fn)(void *) = t->on_drop;
        t->on_drop = NULL;
        fn(t->on_drop_arg);
    }
    if (t->in_pool) {
        t->orphaned = true;
        evf_pool_cancel(&t->job);   /* if no thread has started it */
        return;
    }
    evf_coro_free(t->coro);
}

void
evf__tasks_cancel(evf_tasks_t *g)
{
    /*
     * Not the cancelled flag: a finished request's background tasks still
     * run jobs on the pool.  Abandoning the group sets it.
     */
    while (g->list)
        drop(g->list);
}

bool
evf__tasks_abandon(evf_tasks_t *g)
{
    g->abandoned = true;
    atomic_store(&g->cancelled, true);
    return g->jobs == 0;
}

bool
evf__tasks_jobs_out(const evf_tasks_t *g)
{
    return g->jobs > 0;
}

bool
evf__tasks_empty(const evf_tasks_t *g)
{
    return g->list == NULL;
}

/* Raised or expired: drop everything and tell the owner. */
static void
end_group(evf_tasks_t *g, int how)
{
    evf__tasks_cancel(g);
    g->ops->ended(g, how);
}

void
evf__task_run(evf_task_t *t)
{
    evf_tasks_t *g = t->group;
    const evf_tasks_ops *ops = g->ops;
    if (t->turn.queued)
        evf_turns_remove(&rq.q, &t->turn);  /* resumed another way */
    /* The owner may be freed by ended(): the hold outlives it. */
    evf_hold_t h = ops->hold(g);
    double t0 = evf__now();
    bool alive = evf_coro_resume(t->coro);
    ops->slow(g, evf__now() - t0);
    if (g->raised || g->expired) {
        end_group(g, g->raised ? EVF_TASK_RAISED : EVF_TASK_EXPIRED);
    } else if (!alive) {
        evf_task_t *parent = t->parent;
        drop(t);
        if (!parent) {
            ops->ended(g, EVF_TASK_RETURNED);
        } else if (--parent->children == 0) {
            parent->result = 0;
            evf__task_run(parent);
        }
    } else {
        ops->flush(g);
    }
    unhold(h);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    evf_task_t *t = container_of(w, evf_task_t, timer.w);
    evf_tasks_t *g = t->group;
    (void)revents;
    ev_io_stop(loop, &t->io);
    switch (t->kind) {
    case T_WAKE:
        t->result = t->wake_result;
        break;
    case T_TIMEOUT:
        t->result = EVF_ETIMEDOUT;
        break;
    case T_DEADLINE:
        if (!g->deadline_returns) {
            evf_hold_t h = g->ops->hold(g);
            g->expired = true;
            end_group(g, EVF_TASK_EXPIRED);
            unhold(h);
            return;
        }
        t->result = EVF_ETIMEDOUT;
        break;
    }
    if (!t->in_pool && (evf_turns_first(&rq.q) || !run_budget_left(loop))) {
        evf_turns_push(&rq.q, &t->turn);    /* behind those due before */
        return;
    }
    rq.runs.used++;
    evf__task_run(t);
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    evf_task_t *t = container_of(w, evf_task_t, io);
    evf_ltimer_stop(loop, &t->timer);
    ev_io_stop(loop, w);
    t->result = (revents & EV_READ ? EVF_READ : 0) |
                (revents & EV_WRITE ? EVF_WRITE : 0);
    evf__task_run(t);
}

/* Give the loop back until a watcher or a wake resumes t. */
static int
suspend(evf_task_t *t)
{
    evf_coro_yield(t->coro);
    t->on_drop = NULL;
    return t->result;
}

/* The deadline passed in an await: the group expires, t never resumes. */
static void
expire_now(evf_task_t *t)
{
    t->group->expired = true;
    evf_coro_yield(t->coro);
    abort();    /* not reached: an expired group is never resumed */
}

/*
 * Arm t's timer for an await of `seconds` (< 0: none) meaning kind, under
 * the group's deadline.  Returns EVF_ETIMEDOUT when the deadline has passed
 * and the group has deadline_returns; otherwise at the deadline the group
 * expires here.
 */
static int
arm(evf_task_t *t, double seconds, int kind)
{
    evf_tasks_t *g = t->group;
    struct ev_loop *loop = evf__loop();
    assert(evf__task_current() == t && "an await was called off its task");
    t->kind = kind;
    t->wake_result = 0;
    if (g->deadline > 0) {
        double left = g->deadline - ev_now(loop);
        if (left <= 0) {
            if (g->deadline_returns)
                return EVF_ETIMEDOUT;
            expire_now(t);
        }
        if (seconds < 0 || left < seconds) {
            seconds = left;
            t->kind = T_DEADLINE;
        }
    }
    if (seconds < 0)
        return 0;
    /* A deadline's delay differs at each await: it would hold a lane. */
    if (t->kind == T_DEADLINE)
        evf_ltimer_start_alone(loop, &t->timer, seconds);
    else
        evf_ltimer_start(loop, &t->timer, seconds);
    return 0;
}

int
evf__task_sleep(evf_task_t *t, double seconds)
{
    int rc = arm(t, seconds < 0 ? 0 : seconds, T_WAKE);
    return rc < 0 ? rc : suspend(t);
}

int
evf__task_wait_fd(evf_task_t *t, int fd, int events, double timeout)
{
    int ev = (events & EVF_READ ? EV_READ : 0) |
             (events & EVF_WRITE ? EV_WRITE : 0);
    if (fd < 0 || !ev)
        return EVF_EINVAL;
    int rc = arm(t, timeout, T_TIMEOUT);
    if (rc < 0)
        return rc;
    ev_io_set(&t->io, fd, ev);
    ev_io_start(evf__loop(), &t->io);
    return suspend(t);
}

int
evf__task_await(evf_task_t *t)
{
    int rc = arm(t, -1, T_WAKE);
    return rc < 0 ? rc : suspend(t);
}

int
evf__task_park(evf_task_t *t)
{
    return suspend(t);
}

void
evf__task_wake(evf_task_t *t, int result)
{
    struct ev_loop *loop = evf__loop();
    if (t->turn.queued)
        return;     /* its timer fired first: it resumes with that */
    ev_io_stop(loop, &t->io);
    evf_ltimer_stop(loop, &t->timer);
    t->kind = T_WAKE;
    t->wake_result = result;
    evf_ltimer_start(loop, &t->timer, 0.);
}

void
evf__task_schedule(evf_task_t *t)
{
    evf__task_wake(t, 0);
}

int
evf__task_gather(evf_task_t *t, size_t n, evf__task_fn fn, void *a,
                 void *const *bs)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        evf_task_t *c = evf__task_new(t->group, fn, a, bs[i]);
        if (!c) {
            rc = EVF_EINVAL;
            break;
        }
        c->parent = t;
        t->children++;
        evf__task_schedule(c);
    }
    if (t->children)
        suspend(t);
    return rc;
}

/* ---- the pool bridge ---------------------------------------------------- */

static EVF_TLS evf_task_t *pool_current;
static EVF_TLS jmp_buf *unwind_target;

static void
job_work(evf_job_t *j)
{
    evf_task_t *t = container_of(j, evf_task_t, job);
    jmp_buf target;
    if (atomic_load(&t->group->cancelled))
        return;     /* nobody waits for it any more */
    pool_current = t;
    if (setjmp(target) == 0) {
        unwind_target = &target;
        t->job_fn(t->job_arg);
    }
    unwind_target = NULL;
    pool_current = NULL;
}

static void
job_done(evf_job_t *j)
{
    evf_task_t *t = container_of(j, evf_task_t, job);
    evf_tasks_t *g = t->group;
    g->jobs--;
    t->in_pool = false;
    if (t->orphaned) {
        /* The group ended meanwhile: only memory is left. */
        evf_coro_free(t->coro);
        if (g->abandoned && !g->jobs)
            g->ops->release(g);
        return;
    }
    evf_hold_t h = g->ops->hold(g);
    evf_ltimer_stop(evf__loop(), &t->timer);
    g->ops->job_back(g);
    if (t->job_raised) {
        g->raised = true;
        end_group(g, EVF_TASK_RAISED);
    } else {
        t->result = 0;
        evf__task_run(t);
    }
    unhold(h);
}

int
evf__task_to_thread(evf_task_t *t, void (*fn)(void *arg), void *arg,
                    bool bounded)
{
    evf_tasks_t *g = t->group;
    t->job_fn = fn;
    t->job_arg = arg;
    t->job_raised = false;
    t->job = (evf_job_t){ .work = job_work, .done = job_done };
    /*
     * A job cannot be taken back once it runs, so an await that must
     * return at the deadline (deadline_returns) waits for the job; by
     * default the deadline abandons it.
     */
    if (bounded && !g->deadline_returns) {
        int rc = arm(t, -1, T_WAKE);
        if (rc < 0)
            return rc;
    }
    if (evf_pool_submit(&t->job) < 0) {
        evf_ltimer_stop(evf__loop(), &t->timer);
        return EVF_EBUSY;
    }
    g->jobs++;
    t->in_pool = true;
    return suspend(t);
}

void
evf__task_unwind(evf_tasks_t *g)
{
    if (evf_pool_on_thread()) {
        evf_task_t *t = pool_current;
        if (!t || t->group != g || !unwind_target)
            return;
        t->job_raised = true;
        longjmp(*unwind_target, 1);
    }
    evf_task_t *t = evf__task_current();
    if (!t || t->group != g)
        return;
    g->raised = true;
    evf_coro_yield(t->coro);
    abort();    /* not reached: a raised group is never resumed */
}

/* ---- deadline ---------------------------------------------------------- */

void
evf__tasks_set_deadline(evf_tasks_t *g, double seconds)
{
    g->deadline = seconds > 0 ? ev_now(evf__loop()) + seconds : 0;
}

void
evf__tasks_set_deadline_at(evf_tasks_t *g, double when)
{
    g->deadline = when;
}

double
evf__tasks_time_left(const evf_tasks_t *g)
{
    if (g->deadline <= 0)
        return -1;
    double left = g->deadline - ev_now(evf__loop());
    return left > 0 ? left : 0;
}

/* ---- drop notices (futures) --------------------------------------------- */

void
evf__task_on_drop(evf_task_t *t, void (*fn)(void *arg), void *arg)
{
    t->on_drop = fn;
    t->on_drop_arg = arg;
}
