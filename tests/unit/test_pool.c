/*
 * test_pool: the thread pool alone (suite "pool").
 *
 * src/pool.c is driven with a real libev loop on the test's thread: jobs
 * are submitted from it, their work() runs on pool threads and their
 * done() comes back through the pool's ev_async when the loop runs.  Jobs
 * that must stay busy wait on a gate (a mutex and a condition variable)
 * that the test opens.
 *
 * Covered: 1000 jobs over 4 threads (work on pool threads, done() on the
 * loop's thread exactly once each); the queue bound (queued counts waiting
 * jobs only: with 2 threads busy and 3 jobs queued, the next submit fails
 * at once with -EBUSY and is counted as rejected); coalesced completions
 * (200 jobs finished before the loop looks are all delivered in one loop
 * iteration); the statistics (busy, queued, completed, waits); stop (queued
 * jobs still run, every done() runs before it returns, no thread is left,
 * and the pool starts again); and pool threads blocking every signal.
 *
 * Statistics are process-wide and survive a stop and start, so the tests
 * compare them with what they were before.  The suite is meant to be run
 * under ThreadSanitizer as well.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "unit.h"

#define MANY 1000
#define BURST 200

/* ---- helpers ------------------------------------------------------------ */

static struct ev_loop *loop;
static pthread_t loop_thread;
static ev_timer cap;
static bool capped;

/* A gate jobs can wait at until the test opens it. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool open;
    unsigned waiting;       /* jobs at the gate now */
} gate = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

/* One test job: what its work() and done() saw. */
typedef struct tjob {
    evf_job_t job;
    unsigned idx;
    bool wait_gate;         /* work() waits at the gate */
    unsigned sleep_us;      /* then sleeps this long */
    /* written by work() (pool thread), read after done() */
    pthread_t work_thread;
    bool work_on_pool;      /* evf_pool_on_thread() in work() */
    bool sigs_blocked;      /* every blockable signal blocked in work() */
    unsigned worked;
    /* written by done() (loop thread) */
    unsigned done_calls;
    bool done_on_loop;
    unsigned done_iter;     /* ev_iteration() when done() ran */
    unsigned done_order;    /* 1 + number of done() calls before this one */
} tjob_t;

static unsigned done_total;

static double
mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_s(double s)
{
    struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static void
gate_reset(void)
{
    pthread_mutex_lock(&gate.lock);
    gate.open = false;
    gate.waiting = 0;
    pthread_mutex_unlock(&gate.lock);
}

static void
gate_open(void)
{
    pthread_mutex_lock(&gate.lock);
    gate.open = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
}

static unsigned
gate_waiting(void)
{
    pthread_mutex_lock(&gate.lock);
    unsigned n = gate.waiting;
    pthread_mutex_unlock(&gate.lock);
    return n;
}

/* True when every blockable signal is blocked on the calling thread. */
static bool
all_signals_blocked(void)
{
    sigset_t set;
    if (pthread_sigmask(SIG_BLOCK, NULL, &set) != 0)
        return false;
    for (int s = 1; s < 32; s++) {
        if (s == SIGKILL || s == SIGSTOP)
            continue;
        if (!sigismember(&set, s))
            return false;
    }
    for (int s = SIGRTMIN; s <= SIGRTMAX; s++)
        if (!sigismember(&set, s))
            return false;
    return true;
}

static void
work(evf_job_t *j)
{
    tjob_t *t = (tjob_t *)j;
    t->work_thread = pthread_self();
    t->work_on_pool = evf_pool_on_thread();
    t->sigs_blocked = all_signals_blocked();
    if (t->wait_gate) {
        pthread_mutex_lock(&gate.lock);
        gate.waiting++;
        while (!gate.open)
            pthread_cond_wait(&gate.cond, &gate.lock);
        gate.waiting--;
        pthread_mutex_unlock(&gate.lock);
    }
    if (t->sleep_us)
        usleep(t->sleep_us);
    t->worked++;
}

static void
done(evf_job_t *j)
{
    tjob_t *t = (tjob_t *)j;
    t->done_calls++;
    t->done_on_loop = pthread_equal(pthread_self(), loop_thread) &&
                      !evf_pool_on_thread();
    t->done_iter = ev_iteration(loop);
    t->done_order = ++done_total;
}

static tjob_t *
jobs_new(unsigned n)
{
    tjob_t *v = calloc(n, sizeof(*v));
    CU_ASSERT_FATAL(v != NULL);
    for (unsigned i = 0; i < n; i++) {
        v[i].job.work = work;
        v[i].job.done = done;
        v[i].idx = i;
    }
    return v;
}

static void
cap_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)l, (void)w, (void)revents;
    capped = true;
}

/* Run the loop until done_total reaches want or secs pass. */
static bool
run_until_done(unsigned want, double secs)
{
    double until = mono() + secs;
    capped = false;
    ev_now_update(loop);
    ev_timer_set(&cap, secs, 0.);
    ev_timer_start(loop, &cap);
    while (done_total < want && !capped && mono() < until)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &cap);
    return done_total >= want;
}

/* Poll the pool's statistics (without running the loop) until pred. */
static bool
wait_stats(bool (*pred)(const evf_pool_stats_t *, const void *),
           const void *arg, double secs)
{
    double until = mono() + secs;
    evf_pool_stats_t st;
    for (;;) {
        evf_pool_get_stats(&st);
        if (pred(&st, arg))
            return true;
        if (mono() >= until)
            return false;
        sleep_s(0.001);
    }
}

static bool
busy_is(const evf_pool_stats_t *st, const void *arg)
{
    return st->busy == *(const unsigned *)arg;
}

static bool
completed_reaches(const evf_pool_stats_t *st, const void *arg)
{
    return st->completed >= *(const uint64_t *)arg;
}

/* Threads of this process now. */
static unsigned
thread_count(void)
{
    unsigned n = 0;
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

/*
 * True once the process has want threads.  A joined thread has left its
 * tid (pthread_join returned) but may stay listed in /proc for a moment
 * longer, until the kernel has reaped it: poll briefly.
 */
static bool
threads_are(unsigned want)
{
    double until = mono() + 1.0;
    unsigned n;
    while ((n = thread_count()) != want && mono() < until)
        sleep_s(0.001);
    if (n != want)
        fprintf(stderr, "\n    %u threads, want %u\n", n, want);
    return n == want;
}

/* The start of a test: no job, no completion counted. */
static void
reset(void)
{
    done_total = 0;
    gate_reset();
}

/* ---- tests -------------------------------------------------------------- */

/* 1000 jobs over 4 threads: work on the pool, done() on the loop, once. */
static void
test_many_jobs(void)
{
    reset();
    evf_pool_stats_t before, after;
    evf_pool_get_stats(&before);
    CU_ASSERT_FALSE(evf_pool_on_thread());
    CU_ASSERT_EQUAL_FATAL(evf_pool_start(loop, 4, MANY), 0);
    tjob_t *v = jobs_new(MANY);
    for (unsigned i = 0; i < MANY; i++) {
        v[i].sleep_us = 50;     /* long enough for every thread to help */
        CU_ASSERT_EQUAL(evf_pool_submit(&v[i].job), 0);
    }
    CU_ASSERT_TRUE(run_until_done(MANY, 5.0));
    CU_ASSERT_EQUAL(done_total, MANY);

    unsigned bad_work = 0, bad_done = 0, not_once = 0, nthreads = 0;
    pthread_t seen[8];
    for (unsigned i = 0; i < MANY; i++) {
        if (v[i].worked != 1 || !v[i].work_on_pool ||
            pthread_equal(v[i].work_thread, loop_thread))
            bad_work++;
        if (!v[i].done_on_loop)
            bad_done++;
        if (v[i].done_calls != 1)
            not_once++;
        bool known = false;
        for (unsigned k = 0; k < nthreads; k++)
            known = known || pthread_equal(seen[k], v[i].work_thread);
        if (!known && nthreads < 8)
            seen[nthreads++] = v[i].work_thread;
    }
    CU_ASSERT_EQUAL(bad_work, 0);
    CU_ASSERT_EQUAL(bad_done, 0);
    CU_ASSERT_EQUAL(not_once, 0);
    CU_ASSERT(nthreads >= 2 && nthreads <= 4);

    /* Nothing more comes back later. */
    ev_run(loop, EVRUN_NOWAIT);
    CU_ASSERT_EQUAL(done_total, MANY);
    evf_pool_stop();
    evf_pool_get_stats(&after);
    CU_ASSERT_EQUAL(after.completed - before.completed, MANY);
    CU_ASSERT_EQUAL(after.rejected, before.rejected);
    for (unsigned i = 0; i < MANY; i++)
        if (v[i].done_calls != 1) {
            CU_FAIL("a done() ran again after stop");
            break;
        }
    free(v);
}

/*
 * 2 threads, queue_max 3: two jobs run (at the gate), three wait in the
 * queue, the sixth is refused at once.  After the gate opens, the five
 * accepted jobs complete; the refused one never runs.
 */
static void
test_queue_bound(void)
{
    reset();
    evf_pool_stats_t before, st;
    evf_pool_get_stats(&before);
    CU_ASSERT_EQUAL_FATAL(evf_pool_start(loop, 2, 3), 0);
    tjob_t *v = jobs_new(6);
    for (unsigned i = 0; i < 6; i++)
        v[i].wait_gate = true;

    CU_ASSERT_EQUAL(evf_pool_submit(&v[0].job), 0);
    CU_ASSERT_EQUAL(evf_pool_submit(&v[1].job), 0);
    unsigned two = 2;
    CU_ASSERT_TRUE(wait_stats(busy_is, &two, 2.0));
    for (unsigned i = 2; i < 5; i++)
        CU_ASSERT_EQUAL(evf_pool_submit(&v[i].job), 0);
    double t0 = mono();
    CU_ASSERT_EQUAL(evf_pool_submit(&v[5].job), -EBUSY);
    CU_ASSERT(mono() - t0 < 0.05);      /* refused at once, no waiting */

    evf_pool_get_stats(&st);
    CU_ASSERT_EQUAL(st.threads, 2);
    CU_ASSERT_EQUAL(st.queue_max, 3);
    CU_ASSERT_EQUAL(st.busy, 2);
    CU_ASSERT_EQUAL(st.queued, 3);
    CU_ASSERT_EQUAL(st.rejected - before.rejected, 1);
    CU_ASSERT_EQUAL(gate_waiting(), 2);

    gate_open();
    CU_ASSERT_TRUE(run_until_done(5, 3.0));
    ev_run(loop, EVRUN_NOWAIT);     /* nothing more comes back */
    CU_ASSERT_EQUAL(done_total, 5);
    for (unsigned i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(v[i].worked, 1);
        CU_ASSERT_EQUAL(v[i].done_calls, 1);
    }
    CU_ASSERT_EQUAL(v[5].worked, 0);
    CU_ASSERT_EQUAL(v[5].done_calls, 0);
    evf_pool_stop();
    evf_pool_get_stats(&st);
    CU_ASSERT_EQUAL(st.completed - before.completed, 5);
    CU_ASSERT_EQUAL(st.rejected - before.rejected, 1);
    free(v);
}

/*
 * Coalesced wake-ups: 200 jobs finish while the loop is not running (one
 * ev_async_send each, most of them merged); the next loop iteration
 * delivers every done(), in submission order for one thread.
 */
static void
test_coalesced(void)
{
    reset();
    evf_pool_stats_t before;
    evf_pool_get_stats(&before);
    CU_ASSERT_EQUAL_FATAL(evf_pool_start(loop, 4, BURST), 0);
    tjob_t *v = jobs_new(BURST);
    for (unsigned i = 0; i < BURST; i++)
        CU_ASSERT_EQUAL(evf_pool_submit(&v[i].job), 0);
    uint64_t want = before.completed + BURST;
    CU_ASSERT_TRUE(wait_stats(completed_reaches, &want, 3.0));
    CU_ASSERT_EQUAL(done_total, 0);     /* the loop has not run */

    unsigned iter = ev_iteration(loop);
    ev_run(loop, EVRUN_NOWAIT);
    CU_ASSERT_EQUAL(done_total, BURST);
    CU_ASSERT_EQUAL(ev_iteration(loop), iter + 1);
    unsigned other_iter = 0, not_once = 0;
    for (unsigned i = 0; i < BURST; i++) {
        if (v[i].done_iter != iter + 1)
            other_iter++;
        if (v[i].done_calls != 1 || !v[i].done_on_loop)
            not_once++;
    }
    CU_ASSERT_EQUAL(other_iter, 0);     /* one iteration delivered all */
    CU_ASSERT_EQUAL(not_once, 0);

    /* A second wave with the loop running meanwhile: none is lost. */
    done_total = 0;
    for (unsigned i = 0; i < BURST; i++) {
        v[i].done_calls = 0;
        CU_ASSERT_EQUAL(evf_pool_submit(&v[i].job), 0);
    }
    CU_ASSERT_TRUE(run_until_done(BURST, 3.0));
    not_once = 0;
    for (unsigned i = 0; i < BURST; i++)
        if (v[i].done_calls != 1)
            not_once++;
    CU_ASSERT_EQUAL(not_once, 0);
    evf_pool_stop();
    free(v);
}

/*
 * Statistics: with 1 thread at the gate and 3 jobs queued behind it for
 * at least 30 ms, busy/queued say so, and the waits are counted.
 */
static void
test_stats(void)
{
    reset();
    evf_pool_stats_t before, st;
    evf_pool_get_stats(&before);
    CU_ASSERT_EQUAL_FATAL(evf_pool_start(loop, 1, 8), 0);
    tjob_t *v = jobs_new(4);
    v[0].wait_gate = true;
    for (unsigned i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(evf_pool_submit(&v[i].job), 0);
    unsigned one = 1;
    CU_ASSERT_TRUE(wait_stats(busy_is, &one, 2.0));
    evf_pool_get_stats(&st);
    CU_ASSERT_EQUAL(st.threads, 1);
    CU_ASSERT_EQUAL(st.busy, 1);
    CU_ASSERT_EQUAL(st.queued, 3);
    CU_ASSERT_EQUAL(st.queue_max, 8);
    CU_ASSERT_EQUAL(st.completed, before.completed);

    sleep_s(0.03);
    gate_open();
    CU_ASSERT_TRUE(run_until_done(4, 3.0));
    /* completed is counted just after done() is posted: let it land. */
    uint64_t want = before.completed + 4;
    CU_ASSERT_TRUE(wait_stats(completed_reaches, &want, 1.0));
    unsigned zero = 0;
    CU_ASSERT_TRUE(wait_stats(busy_is, &zero, 1.0));
    evf_pool_get_stats(&st);
    CU_ASSERT_EQUAL(st.busy, 0);
    CU_ASSERT_EQUAL(st.queued, 0);
    CU_ASSERT_EQUAL(st.completed - before.completed, 4);
    CU_ASSERT_EQUAL(st.rejected, before.rejected);
    /* Three jobs waited >= 30 ms each behind the gate. */
    CU_ASSERT(st.wait_total - before.wait_total >= 3 * 0.025);
    CU_ASSERT(st.wait_max >= 0.025);
    CU_ASSERT(st.wait_max <= st.wait_total);
    evf_pool_stop();
    free(v);
}

/*
 * Stop: with one thread busy and five jobs queued, evf_pool_stop() runs
 * them all and every done() before it returns, without the loop running;
 * no thread is left; submits are refused; and the pool starts again.
 */
static void
test_stop(void)
{
    reset();
    unsigned threads0 = thread_count();
    CU_ASSERT(threads0 >= 1);
    CU_ASSERT_EQUAL_FATAL(evf_pool_start(loop, 1, 10), 0);
    CU_ASSERT_TRUE(threads_are(threads0 + 1));
    tjob_t *v = jobs_new(6);
    v[0].sleep_us = 30000;
    for (unsigned i = 1; i < 6; i++)
        v[i].sleep_us = 2000;
    for (unsigned i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(evf_pool_submit(&v[i].job), 0);
    evf_pool_stop();
    CU_ASSERT_EQUAL(done_total, 6);
    for (unsigned i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(v[i].worked, 1);
        CU_ASSERT_EQUAL(v[i].done_calls, 1);
        CU_ASSERT_TRUE(v[i].done_on_loop);
        CU_ASSERT_EQUAL(v[i].done_order, i + 1);    /* one thread: FIFO */
    }
    CU_ASSERT_TRUE(threads_are(threads0));
    evf_pool_stats_t st;
    evf_pool_get_stats(&st);
    CU_ASSERT_EQUAL(st.threads, 0);
    CU_ASSERT_EQUAL(st.busy, 0);
    CU_ASSERT_EQUAL(st.queued, 0);

    /* Stopped: refused.  Stopping again is harmless. */
    tjob_t late = { .job = { .work = work, .done = done } };
    CU_ASSERT_EQUAL(evf_pool_submit(&late.job), -EBUSY);
    evf_pool_stop();
    ev_run(loop, EVRUN_NOWAIT);
    CU_ASSERT_EQUAL(late.worked, 0);
    CU_ASSERT_EQUAL(late.done_calls, 0);

    /* And again from scratch. */
    done_total = 0;
    CU_ASSERT_EQUAL_FATAL(evf_pool_start(loop, 2, 10), 0);
    CU_ASSERT_TRUE(threads_are(threads0 + 2));
    for (unsigned i = 0; i < 6; i++) {
        v[i] = (tjob_t){ .job = { .work = work, .done = done } };
        CU_ASSERT_EQUAL(evf_pool_submit(&v[i].job), 0);
    }
    CU_ASSERT_TRUE(run_until_done(6, 3.0));
    evf_pool_stop();
    CU_ASSERT_EQUAL(done_total, 6);
    CU_ASSERT_TRUE(threads_are(threads0));
    free(v);
}

/* Pool threads block every signal; the loop thread's mask is kept. */
static void
test_signals(void)
{
    reset();
    sigset_t m0, m1;
    CU_ASSERT_EQUAL(pthread_sigmask(SIG_BLOCK, NULL, &m0), 0);
    CU_ASSERT_FALSE(sigismember(&m0, SIGTERM));
    CU_ASSERT_EQUAL_FATAL(evf_pool_start(loop, 3, 16), 0);
    CU_ASSERT_EQUAL(pthread_sigmask(SIG_BLOCK, NULL, &m1), 0);
    bool same = true;
    for (int s = 1; s < SIGRTMAX; s++)
        same = same && sigismember(&m0, s) == sigismember(&m1, s);
    CU_ASSERT_TRUE(same);

    tjob_t *v = jobs_new(12);
    for (unsigned i = 0; i < 12; i++) {
        v[i].sleep_us = 1000;
        CU_ASSERT_EQUAL(evf_pool_submit(&v[i].job), 0);
    }
    CU_ASSERT_TRUE(run_until_done(12, 3.0));
    for (unsigned i = 0; i < 12; i++) {
        CU_ASSERT_TRUE(v[i].sigs_blocked);
        CU_ASSERT_TRUE(v[i].work_on_pool);
    }
    evf_pool_stop();
    free(v);
}

/* ---- suite -------------------------------------------------------------- */

static int
init(void)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    if (!loop)
        return -1;
    loop_thread = pthread_self();
    ev_init(&cap, cap_cb);
    evf_log_set_level(EVF_LOG_LVL_WARN);
    return 0;
}

static int
cleanup(void)
{
    evf_pool_stop();
    ev_loop_destroy(loop);
    loop = NULL;
    return 0;
}

static CU_TestInfo tests[] = {
    { "1000 jobs: work on pool, done on loop, once", test_many_jobs },
    { "queue bound: -EBUSY at once, rejected", test_queue_bound },
    { "coalesced wake-ups deliver every done", test_coalesced },
    { "stats: busy, queued, completed, waits", test_stats },
    { "stop: queued jobs run, done before return", test_stop },
    { "pool threads block all signals", test_signals },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("pool", init, cleanup, tests);
}
