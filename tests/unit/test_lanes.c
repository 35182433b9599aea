/*
 * test_lanes: timer lanes (src/lanes.c) on a real libev loop.
 *
 * Timers of one delay wait in a lane, in order, and come due no earlier
 * than their delay (less the millisecond a lane allows); a stopped timer
 * never fires, wherever it is (head, middle, tail, or in the batch being
 * fired); a timer started from a callback waits for a later iteration;
 * delays beyond the lanes go to libev's heap and still fire.
 */
#include "config.h"

#include <ev.h>
#include <stdlib.h>
#include <time.h>

#include "../../src/lanes.h"
#include "../../src/loop.h"
#include "unit.h"

#define N 2000

typedef struct {
    evf_ltimer_t lt;
    int id;
    double started;     /* CLOCK_MONOTONIC at start */
    double delay;
    int fired;          /* times */
    unsigned iteration; /* ev_iteration() when it fired */
} probe_t;

static struct ev_loop *loop;
static int order[N + 64];
static int norder;
static int early;       /* fired more than 1 ms before its delay */
static void (*on_fire)(probe_t *p);

static double
mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void
fire_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    probe_t *p = (probe_t *)w;     /* lt.w is the first member */
    (void)revents;
    p->fired++;
    p->iteration = ev_iteration(l);
    if (mono() - p->started < p->delay - 0.0011)
        early++;
    order[norder++] = p->id;
    if (on_fire)
        on_fire(p);
}

static void
start(probe_t *p, int id, double delay)
{
    p->id = id;
    p->delay = delay;
    p->fired = 0;
    p->started = mono();
    /* Outside a callback libev's loop time is stale: a timer that goes to
     * its heap would be timed from the last iteration. */
    ev_now_update(loop);
    evf_ltimer_init(&p->lt, fire_cb);
    evf_ltimer_start(loop, &p->lt, delay);
}

static void
reset(void)
{
    norder = 0;
    early = 0;
    on_fire = NULL;
}

/* Run the loop until nothing is active (a cap fails the test). */
static void
run_until_idle(void)
{
    int i = 0;
    while (i++ < 100000 && ev_run(loop, EVRUN_ONCE))
        ;
    CU_ASSERT(i < 100000);
    CU_ASSERT_EQUAL(evf_lanes_waiting(), 0);
}

static void
test_one_delay_in_order(void)
{
    static probe_t p[N];
    reset();
    for (int i = 0; i < N; i++)
        start(&p[i], i, 0.020);
    CU_ASSERT_EQUAL(evf_lanes_waiting(), N);
    /* Stop the head, one in the middle and the tail. */
    evf_ltimer_stop(loop, &p[0].lt);
    evf_ltimer_stop(loop, &p[N / 2].lt);
    evf_ltimer_stop(loop, &p[N - 1].lt);
    evf_ltimer_stop(loop, &p[N - 1].lt);        /* twice: a no-op */
    CU_ASSERT_FALSE(evf_ltimer_active(&p[0].lt));
    CU_ASSERT_EQUAL(evf_lanes_waiting(), N - 3);
    run_until_idle();
    CU_ASSERT_EQUAL(norder, N - 3);
    CU_ASSERT_EQUAL(early, 0);
    int prev = -1, bad = 0;
    for (int i = 0; i < norder; i++) {
        bad += order[i] <= prev;
        prev = order[i];
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(p[0].fired + p[N / 2].fired + p[N - 1].fired, 0);
}

/* A callback stops the next timer of its batch and starts a new one with
 * no delay in the same lane: the stopped one never fires, the new one
 * fires in a later iteration. */
static probe_t batch[3], late;

static void
stop_next(probe_t *p)
{
    if (p != &batch[0])
        return;
    evf_ltimer_stop(loop, &batch[1].lt);
    start(&late, 99, 0.);
}

static void
test_stop_in_batch(void)
{
    reset();
    /* All three due together: started with no delay. */
    for (int i = 0; i < 3; i++)
        start(&batch[i], i, 0.);
    on_fire = stop_next;
    run_until_idle();
    CU_ASSERT_EQUAL(batch[0].fired, 1);
    CU_ASSERT_EQUAL(batch[1].fired, 0);
    CU_ASSERT_EQUAL(batch[2].fired, 1);
    CU_ASSERT_EQUAL(late.fired, 1);
    CU_ASSERT(late.iteration > batch[0].iteration);
    CU_ASSERT_EQUAL(norder, 3);
}

/* More delays than lanes: the others wait in libev's heap. */
static void
test_more_delays_than_lanes(void)
{
    static probe_t p[4 * EVF_LANES];
    int n = 4 * EVF_LANES;
    reset();
    for (int i = 0; i < n; i++)
        start(&p[i], i, 0.001 * (i % (2 * EVF_LANES)));
    unsigned in_lanes = evf_lanes_waiting();
    /* The first EVF_LANES delays took the lanes; their repeats joined. */
    CU_ASSERT_EQUAL(in_lanes, 2 * EVF_LANES);
    int in_heap = 0;
    for (int i = 0; i < n; i++)
        in_heap += ev_is_active(&p[i].lt.w) != 0;
    CU_ASSERT_EQUAL(in_heap, n - (int)in_lanes);
    run_until_idle();
    CU_ASSERT_EQUAL(norder, n);
    CU_ASSERT_EQUAL(early, 0);
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL(p[i].fired, 1);
}

/* A lane left empty is given to another delay. */
static void
test_lane_reused(void)
{
    static probe_t p[EVF_LANES + 1];
    reset();
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i <= EVF_LANES; i++)
            start(&p[i], i, 0.002 * (i + 1) + 0.0005 * round);
        CU_ASSERT_EQUAL(evf_lanes_waiting(), EVF_LANES);
        CU_ASSERT(ev_is_active(&p[EVF_LANES].lt.w));
        run_until_idle();
    }
    CU_ASSERT_EQUAL(norder, 3 * (EVF_LANES + 1));
    CU_ASSERT_EQUAL(early, 0);
}

static int
setup(void)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    evf__loop_set(loop);
    return loop ? 0 : 1;
}

static int
teardown(void)
{
    ev_loop_destroy(loop);
    return 0;
}

static CU_TestInfo tests[] = {
    { "one delay: in order, never early, stops", test_one_delay_in_order },
    { "a stop and a start from a callback", test_stop_in_batch },
    { "more delays than lanes: the heap", test_more_delays_than_lanes },
    { "an empty lane goes to another delay", test_lane_reused },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    CU_SuiteInfo suites[] = {
        { "lanes", setup, teardown, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}
