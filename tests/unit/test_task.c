/*
 * Unit tests for the scheduler (task.c), with an owner of the test's own:
 * the scheduler knows no HTTP, so no connection or request is involved.
 *
 * Covered: a root task's end is reported once; gather waits for every
 * child; the deadline expires a group (never resuming the task) or, opted
 * in, returns EVF_ETIMEDOUT; unwinding on the loop and on a pool thread;
 * cancellation drops suspended tasks without resuming them; wake passes a
 * result; an abandoned group with a job out is released when it returns;
 * timers that expire together resume at most EVF__TASK_RUN_BUDGET tasks
 * per loop iteration, and tasks still queued are dropped with their group.
 */
#include "config.h"

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "coro.h"
#include "evfcgi.h"
#include "loop.h"
#include "pool.h"
#include "task.h"
#include "unit.h"

typedef struct owner {
    evf_tasks_t g;
    unsigned holds, unholds, flushes, ended, released, jobs_back;
    int how;
    int rc[4];
    bool after;             /* code after an await that must not return */
    evf_task_t *parked;
} owner_t;

static owner_t o;
static struct ev_loop *loop;

#define OWNER(g) ((owner_t *)(g))

static void
unhold(void *arg)
{
    OWNER(arg)->unholds++;
}

static evf_hold_t
hold(evf_tasks_t *g)
{
    OWNER(g)->holds++;
    return (evf_hold_t){ unhold, g };
}

static void
flush(evf_tasks_t *g)
{
    OWNER(g)->flushes++;
}

static void
ended(evf_tasks_t *g, int how)
{
    OWNER(g)->ended++;
    OWNER(g)->how = how;
}

static void
slow(evf_tasks_t *g, double s)
{
    (void)g, (void)s;
}

static void
job_back(evf_tasks_t *g)
{
    OWNER(g)->jobs_back++;
}

static void
release(evf_tasks_t *g)
{
    OWNER(g)->released++;
}

static const evf_tasks_ops ops = {
    .hold = hold, .flush = flush, .ended = ended, .slow = slow,
    .job_back = job_back, .release = release,
};

static void
fresh(void)
{
    memset(&o, 0, sizeof(o));
    evf__tasks_init(&o.g, &ops);
}

static void
cap_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w, (void)revents;
    ev_break(l, EVBREAK_ALL);
}

/* Run the loop until cond() or secs pass; true if cond() held. */
static bool
run_until(bool (*cond)(void), double secs)
{
    ev_timer cap;
    ev_timer_init(&cap, cap_cb, secs, 0.);
    ev_timer_start(loop, &cap);
    while (!cond() && ev_is_active(&cap))
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &cap);
    return cond();
}

static bool
has_ended(void)
{
    return o.ended > 0;
}

static bool
is_released(void)
{
    return o.released > 0;
}

static void
live_stacks_are(size_t n)
{
    evf_coro_stats_t st;
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, n);
}

/* ---- timer bursts ------------------------------------------------------- */

#define BURST 1300      /* over twice EVF__TASK_RUN_BUDGET */

static unsigned burst_iter[BURST];
static evf_task_t *burst_task[BURST];
static unsigned nresumed, nwoken;

static void
burst_fn(evf_task_t *t, void *a, void *b)
{
    (void)a;
    int rc = evf__task_sleep(t, 0.02);
    burst_iter[(uintptr_t)b] = ev_iteration(loop);
    burst_task[(uintptr_t)b] = NULL;
    nresumed++;
    nwoken += rc != 0;  /* a wake-up's result, not the timer's */
}

static bool
burst_done(void)
{
    return nresumed == BURST;
}

static bool
burst_begun(void)
{
    return nresumed > 0;
}

/* BURST tasks whose sleeps all end in the same iteration: the loop
 * next runs when the last one is due (a sleep is timed from its start,
 * and starting them all takes a few milliseconds under ASan). */
static void
start_burst(void)
{
    fresh();
    nresumed = nwoken = 0;
    for (uintptr_t i = 0; i < BURST; i++) {
        evf_task_t *t = evf__task_new(&o.g, burst_fn, NULL, (void *)i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        burst_task[i] = t;
        evf__task_run(t);
    }
    double all_due = evf__now() + 0.02;
    while (evf__now() < all_due)
        ;
}

/*
 * Timers that expire together are resumed at most EVF__TASK_RUN_BUDGET
 * per loop iteration, the rest in the next iterations: all resume, none
 * twice, and no iteration runs them all.  (It failed before the budget:
 * all 1300 resumed in one iteration.)
 */
static void
test_timer_burst(void)
{
    start_burst();
    CU_ASSERT_TRUE_FATAL(run_until(burst_done, 10.0));
    CU_ASSERT_EQUAL(o.ended, BURST);
    unsigned first = burst_iter[0], last = burst_iter[0], most = 0;
    for (unsigned i = 0; i < BURST; i++) {
        if (burst_iter[i] < first)
            first = burst_iter[i];
        if (burst_iter[i] > last)
            last = burst_iter[i];
    }
    for (unsigned it = first; it <= last; it++) {
        unsigned n = 0;
        for (unsigned i = 0; i < BURST; i++)
            n += burst_iter[i] == it;
        if (n > most)
            most = n;
    }
    CU_ASSERT(most <= EVF__TASK_RUN_BUDGET);
    CU_ASSERT(last - first + 1 >= (BURST + EVF__TASK_RUN_BUDGET - 1) /
                                      EVF__TASK_RUN_BUDGET);
    live_stacks_are(0);
}

/*
 * A wake-up for a task on the ready queue is ignored (its timer fired
 * first): each resumes once, with the timer's result.  Tasks still queued
 * are dropped with their group, never resumed.
 */
static void
test_timer_burst_cancel(void)
{
    start_burst();
    CU_ASSERT_TRUE_FATAL(run_until(burst_begun, 10.0));
    for (unsigned i = 0; i < BURST; i++)
        if (burst_task[i])
            evf__task_wake(burst_task[i], 42);
    CU_ASSERT_TRUE_FATAL(run_until(burst_done, 10.0));
    for (int i = 0; i < 5; i++)
        ev_run(loop, EVRUN_NOWAIT);
    CU_ASSERT_EQUAL(nresumed, BURST);
    CU_ASSERT_EQUAL(nwoken, 0);
    live_stacks_are(0);

    start_burst();
    CU_ASSERT_TRUE_FATAL(run_until(burst_begun, 10.0));
    CU_ASSERT_EQUAL(nresumed, EVF__TASK_RUN_BUDGET);
    unsigned ended_then = o.ended;
    evf__tasks_cancel(&o.g);
    for (int i = 0; i < 5; i++)
        ev_run(loop, EVRUN_NOWAIT);
    CU_ASSERT_EQUAL(nresumed, EVF__TASK_RUN_BUDGET);
    CU_ASSERT_EQUAL(o.ended, ended_then);
    live_stacks_are(0);
}

/* ---- tasks -------------------------------------------------------------- */

static void
sleeper(evf_task_t *t, void *a, void *b)
{
    (void)b;
    int *rc = a;
    *rc = evf__task_sleep(t, 0.01);
}

static void
test_returned(void)
{
    fresh();
    evf_task_t *t = evf__task_new(&o.g, sleeper, &o.rc[0], NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    evf__task_run(t);
    CU_ASSERT_EQUAL(o.ended, 0);
    CU_ASSERT_EQUAL(o.flushes, 1);      /* suspended once */
    CU_ASSERT_TRUE(run_until(has_ended, 5.0));
    CU_ASSERT_EQUAL(o.ended, 1);
    CU_ASSERT_EQUAL(o.how, EVF_TASK_RETURNED);
    CU_ASSERT_EQUAL(o.rc[0], 0);
    CU_ASSERT_EQUAL(o.holds, o.unholds);
    CU_ASSERT_TRUE(evf__tasks_empty(&o.g));
    live_stacks_are(0);
}

static void
child(evf_task_t *t, void *a, void *b)
{
    (void)a;
    *(int *)b = evf__task_sleep(t, 0.01) == 0 ? 1 : -1;
}

static void
gatherer(evf_task_t *t, void *a, void *b)
{
    (void)a, (void)b;
    void *args[3] = { &o.rc[1], &o.rc[2], &o.rc[3] };
    o.rc[0] = evf__task_gather(t, 3, child, NULL, args);
    o.after = o.rc[1] == 1 && o.rc[2] == 1 && o.rc[3] == 1;
}

static void
test_gather(void)
{
    fresh();
    evf__task_run(evf__task_new(&o.g, gatherer, NULL, NULL));
    CU_ASSERT_TRUE(run_until(has_ended, 5.0));
    CU_ASSERT_EQUAL(o.ended, 1);        /* children are not root tasks */
    CU_ASSERT_EQUAL(o.how, EVF_TASK_RETURNED);
    CU_ASSERT_EQUAL(o.rc[0], 0);
    CU_ASSERT_TRUE(o.after);
    live_stacks_are(0);
}

static void
long_sleeper(evf_task_t *t, void *a, void *b)
{
    (void)a, (void)b;
    o.rc[0] = evf__task_sleep(t, 30);
    o.after = true;
}

static void
test_deadline_expires(void)
{
    fresh();
    evf__tasks_set_deadline(&o.g, 0.02);
    evf__task_run(evf__task_new(&o.g, long_sleeper, NULL, NULL));
    CU_ASSERT_TRUE(run_until(has_ended, 10.0));
    CU_ASSERT_EQUAL(o.how, EVF_TASK_EXPIRED);
    CU_ASSERT_FALSE(o.after);
    CU_ASSERT_TRUE(evf__tasks_empty(&o.g));
    CU_ASSERT_EQUAL(o.holds, o.unholds);
    live_stacks_are(0);

    /* A deadline already passed expires the group at the await. */
    fresh();
    evf__tasks_set_deadline_at(&o.g, ev_now(loop) - 1);
    evf__task_run(evf__task_new(&o.g, long_sleeper, NULL, NULL));
    CU_ASSERT_EQUAL(o.ended, 1);
    CU_ASSERT_EQUAL(o.how, EVF_TASK_EXPIRED);
    CU_ASSERT_FALSE(o.after);
    live_stacks_are(0);
}

static void
test_deadline_returns(void)
{
    fresh();
    o.g.deadline_returns = true;
    evf__tasks_set_deadline(&o.g, 0.02);
    evf__task_run(evf__task_new(&o.g, long_sleeper, NULL, NULL));
    CU_ASSERT_TRUE(run_until(has_ended, 10.0));
    CU_ASSERT_EQUAL(o.how, EVF_TASK_RETURNED);
    CU_ASSERT_EQUAL(o.rc[0], EVF_ETIMEDOUT);
    CU_ASSERT_TRUE(o.after);
    live_stacks_are(0);
}

static void
raiser(evf_task_t *t, void *a, void *b)
{
    (void)a, (void)b;
    evf__task_sleep(t, 0.001);
    evf__task_unwind(evf__task_group(t));
    o.after = true;
}

static void
test_unwind(void)
{
    fresh();
    evf__task_run(evf__task_new(&o.g, raiser, NULL, NULL));
    CU_ASSERT_TRUE(run_until(has_ended, 5.0));
    CU_ASSERT_EQUAL(o.how, EVF_TASK_RAISED);
    CU_ASSERT_FALSE(o.after);
    live_stacks_are(0);
    /* Outside a task there is nothing to unwind: it returns. */
    evf__task_unwind(&o.g);
}

static void
parker(evf_task_t *t, void *a, void *b)
{
    (void)a, (void)b;
    o.parked = t;
    o.rc[0] = evf__task_park(t);
    o.after = true;
}

static void
test_wake_and_cancel(void)
{
    fresh();
    evf__task_run(evf__task_new(&o.g, parker, NULL, NULL));
    CU_ASSERT_PTR_NOT_NULL_FATAL(o.parked);
    evf__task_wake(o.parked, 42);
    CU_ASSERT_FALSE(o.after);           /* never from inside the wake */
    CU_ASSERT_TRUE(run_until(has_ended, 5.0));
    CU_ASSERT_EQUAL(o.rc[0], 42);
    CU_ASSERT_TRUE(o.after);

    fresh();
    evf__task_run(evf__task_new(&o.g, parker, NULL, NULL));
    live_stacks_are(1);
    evf__tasks_cancel(&o.g);
    live_stacks_are(0);
    CU_ASSERT_FALSE(run_until(has_ended, 0.05));
    CU_ASSERT_FALSE(o.after);
    CU_ASSERT_TRUE(evf__tasks_abandon(&o.g));   /* no job out */
}

/* ---- the pool bridge ----------------------------------------------------- */

static int job_pipe[2];

static void
job_unwinds(void *arg)
{
    evf__task_unwind(arg);
    o.after = true;     /* not reached */
}

static void
job_waits(void *arg)
{
    char c;
    (void)arg;
    ssize_t n = read(job_pipe[0], &c, 1);
    (void)n;
}

static void
threaded(evf_task_t *t, void *a, void *b)
{
    (void)b;
    o.rc[0] = evf__task_to_thread(t, (void (*)(void *))a,
                                  evf__task_group(t), true);
    o.rc[1] = 1;
}

static void
test_to_thread(void)
{
    fresh();
    evf__task_run(evf__task_new(&o.g, threaded, (void *)job_unwinds, NULL));
    CU_ASSERT_TRUE(run_until(has_ended, 5.0));
    CU_ASSERT_EQUAL(o.how, EVF_TASK_RAISED);
    CU_ASSERT_EQUAL(o.jobs_back, 1);
    CU_ASSERT_FALSE(o.after);
    CU_ASSERT_EQUAL(o.rc[1], 0);
    live_stacks_are(0);

    /* The deadline abandons a running job; its stack waits for it. */
    fresh();
    evf__tasks_set_deadline(&o.g, 0.02);
    evf__task_run(evf__task_new(&o.g, threaded, (void *)job_waits, NULL));
    CU_ASSERT_TRUE(run_until(has_ended, 5.0));
    CU_ASSERT_EQUAL(o.how, EVF_TASK_EXPIRED);
    CU_ASSERT_TRUE(evf__tasks_jobs_out(&o.g));
    CU_ASSERT_FALSE(evf__tasks_abandon(&o.g));
    live_stacks_are(1);
    CU_ASSERT_EQUAL(write(job_pipe[1], "x", 1), 1);
    CU_ASSERT_TRUE(run_until(is_released, 5.0));
    CU_ASSERT_EQUAL(o.rc[1], 0);
    live_stacks_are(0);
}

static int
init(void)
{
    loop = ev_default_loop(0);
    evf__loop_set(loop);
    if (pipe(job_pipe) < 0)
        return -1;
    return evf_pool_start(loop, 2, 8) < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    evf_pool_stop();
    evf_coro_pool_destroy();
    close(job_pipe[0]);
    close(job_pipe[1]);
    return 0;
}

static CU_TestInfo tests[] = {
    { "a root task's end is reported once", test_returned },
    { "gather waits for every child", test_gather },
    { "deadline: the group expires", test_deadline_expires },
    { "deadline: opted in, the await returns", test_deadline_returns },
    { "unwind ends the group", test_unwind },
    { "wake passes a result; cancel drops", test_wake_and_cancel },
    { "pool jobs: unwind, abandon, release", test_to_thread },
    { "timers due together: a budget per iteration", test_timer_burst },
    { "timers due together: wake-ups, cancel", test_timer_burst_cancel },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("task", init, cleanup, tests);
}
