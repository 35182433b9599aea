/*
 * Unit tests for futures (future.c) through a real connection on a
 * socketpair and a real loop (fcgi_peer.h).
 *
 * Covered: a future resolved on the loop wakes its handler; futures
 * resolved from another thread are posted to the loop, many at once (the
 * ev_async sends coalesce, the queue is drained), also by a job on the
 * thread pool; a future resolved after
 * its request was aborted, from the loop or from a thread, frees its value
 * once and touches nothing of the request; a future never resolved meets
 * the deadline (504, the handler not resumed) and is freed when resolved
 * late; opted in, the await returns EVF_ETIMEDOUT; misuse is refused.
 * Every test checks that no future is left.  Run under AddressSanitizer
 * (--enable-sanitizers) this is what shows a use after free.
 */
#include "config.h"

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "future.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "settings.h"
#include "stats.h"
#include "unit.h"

#define NTHREADED 64

static struct {
    unsigned after;         /* a handler went on after an await */
    unsigned defers;
    unsigned frees;         /* values freed through free_value */
    bool waiting;           /* a handler is in its await */
    int rc;
    evf_future *f;          /* the future of /cancel, /expire, /returns */
    evf_future *many[NTHREADED];
    pthread_t thread;
    bool thread_started;
    int job_pipe[2];        /* the job of /cancel-job waits on it */
    atomic_bool job_running;
    ev_timer timer;
} g;

static void
count_defer(void *arg)
{
    (void)arg;
    g.defers++;
}

static void
free_counted(void *v)
{
    g.frees++;
    free(v);
}

static char *
dup_or_die(const char *s)
{
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

/* /loop: a timer on the app's loop resolves the future. */
static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    evf_future_resolve(w->data, 0, dup_or_die("from-loop"));
}

static void
h_loop(evf_req *r)
{
    evf_future *f = evf_future_new(r, free_counted);
    void *v = NULL;
    if (!f) {
        evf_raise(r, 500, NULL);
        return;
    }
    ev_timer_init(&g.timer, timer_cb, 0.01, 0.);
    g.timer.data = f;
    ev_timer_start(evf_loop(), &g.timer);
    g.rc = evf_future_await(r, f, &v);
    evf_text(r, 200, v ? v : "(null)");
}

/* /thread: one thread resolves many futures in a row. */
static void *
resolve_many(void *arg)
{
    (void)arg;
    for (int i = 0; i < NTHREADED; i++) {
        int *v = malloc(sizeof(*v));
        if (!v)
            abort();
        *v = i;
        evf_future_resolve(g.many[i], i == 7 ? EVF_EINVAL : 0, v);
    }
    return NULL;
}

static void
h_thread(evf_req *r)
{
    for (int i = 0; i < NTHREADED; i++) {
        g.many[i] = evf_future_new(r, free_counted);
        if (!g.many[i]) {
            evf_raise(r, 500, NULL);
            return;
        }
    }
    if (pthread_create(&g.thread, NULL, resolve_many, NULL) != 0) {
        evf_raise(r, 500, NULL);
        return;
    }
    g.thread_started = true;
    long sum = 0;
    int errors = 0;
    for (int i = 0; i < NTHREADED; i++) {
        void *v = NULL;
        int rc = evf_future_await(r, g.many[i], &v);
        if (rc == EVF_EINVAL)
            errors++;
        if (v)
            sum += *(int *)v;
    }
    evf_json_printf(r, 200, "{\"sum\":%ld,\"errors\":%d}", sum, errors);
}

/* /pool: a job on the thread pool resolves the future. */
static void
pool_job(void *arg)
{
    evf_future_resolve(arg, 0, dup_or_die("from-pool"));
}

static void
h_pool(evf_req *r)
{
    evf_future *f = evf_future_new(r, free_counted);
    void *v = NULL;
    if (!f || evf_to_thread(r, pool_job, f) < 0) {
        evf_raise(r, 500, NULL);
        return;
    }
    g.rc = evf_future_await(r, f, &v);
    evf_text(r, 200, v ? v : "(null)");
}

/* /cancel, /expire, /returns: a future nobody resolves in time. */
static void
h_wait(evf_req *r)
{
    evf_defer(r, count_defer, NULL);
    g.f = evf_future_new(r, free_counted);
    if (!g.f) {
        evf_raise(r, 500, NULL);
        return;
    }
    g.waiting = true;
    void *v;
    g.rc = evf_future_await(r, g.f, &v);
    g.after++;
    evf_text(r, 200, "resumed");
}

/*
 * /cancel-job: one task awaits the future while another's pool job keeps
 * the request's memory after an abort: the awaiting task is dropped, the
 * request is not freed yet, and a resolution then must not wake the task.
 */
static void
blocked_job(void *arg)
{
    char c;
    (void)arg;
    atomic_store(&g.job_running, true);
    ssize_t n = read(g.job_pipe[0], &c, 1);
    (void)n;
}

static void
job_or_wait(evf_req *r, void *arg)
{
    if (arg) {
        evf_to_thread(r, blocked_job, NULL);
        return;
    }
    h_wait(r);
}

static void
h_cancel_job(evf_req *r)
{
    void *args[2] = { (void *)1, NULL };
    evf_gather(r, 2, job_or_wait, args);
    evf_text(r, 200, "resumed");
}

/* Misuse: a future of another request, and awaiting from two tasks. */
static void
twice(evf_req *r, void *arg)
{
    int *rc = arg;
    *rc = evf_future_await(r, g.f, NULL);
}

static void
h_misuse(evf_req *r)
{
    int rcs[2] = { 1, 1 };
    void *args[2] = { &rcs[0], &rcs[1] };
    g.f = evf_future_new(r, free_counted);
    int bad = evf_future_await(r, NULL, NULL);
    /* Two tasks on one future: the second is refused; resolve wakes the
     * first. */
    ev_timer_init(&g.timer, timer_cb, 0.02, 0.);
    g.timer.data = g.f;
    ev_timer_start(evf_loop(), &g.timer);
    evf_gather(r, 2, twice, args);
    evf_json_printf(r, 200, "[%d,%d,%d]", bad, rcs[0], rcs[1]);
}

static const evf_route routes[] = {
    EVF_GET("/loop", h_loop),
    EVF_GET("/thread", h_thread),
    EVF_GET("/pool", h_pool),
    EVF_GET("/cancel", h_wait),
    EVF_GET("/cancel-job", h_cancel_job),
    EVF_GET("/expire", h_wait, .deadline = 0.05),
    EVF_GET("/returns", h_wait, .deadline = 0.05, .deadline_returns = true),
    EVF_GET("/misuse", h_misuse),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "future",
    .routes = routes,
};

static void
fresh_state(void)
{
    int p0 = g.job_pipe[0], p1 = g.job_pipe[1];
    memset(&g, 0, sizeof(g));
    g.job_pipe[0] = p0;
    g.job_pipe[1] = p1;
}

static bool
no_future(const void *arg)
{
    (void)arg;
    return evf__future_live() == 0;
}

static bool
is_waiting(const void *arg)
{
    (void)arg;
    return g.waiting;
}

static bool
job_running(const void *arg)
{
    (void)arg;
    return atomic_load(&g.job_running) && g.waiting;
}

/* ---- resolving ----------------------------------------------------------- */

static void
test_resolve_on_loop(void)
{
    open_conn();
    send_get(1, "/loop");
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "from-loop"));
    CU_ASSERT_EQUAL(g.rc, 0);
    /* The value lived as long as the request, then was freed once. */
    CU_ASSERT_TRUE(run_until(no_future, NULL, 5.0));
    CU_ASSERT_EQUAL(g.frees, 1);
    finish_conn();
}

static void
test_resolve_from_thread(void)
{
    open_conn();
    send_get(1, "/thread");
    CU_ASSERT_TRUE(ended(1, 10.0));
    if (g.thread_started)
        pthread_join(g.thread, NULL);
    CU_ASSERT_EQUAL(status_of(1), 200);
    /* 0 + 1 + ... + 63, and the one resolved with an error. */
    CU_ASSERT_TRUE(body_is(1, "{\"sum\":2016,\"errors\":1}"));
    CU_ASSERT_TRUE(run_until(no_future, NULL, 5.0));
    CU_ASSERT_EQUAL(g.frees, NTHREADED);
    finish_conn();
}

static void
test_resolve_from_pool(void)
{
    open_conn();
    send_get(1, "/pool");
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "from-pool"));
    CU_ASSERT_TRUE(run_until(no_future, NULL, 5.0));
    CU_ASSERT_EQUAL(g.frees, 1);
    finish_conn();
}

/* ---- after the request ended --------------------------------------------- */

static void *
resolve_late(void *arg)
{
    evf_future_resolve(arg, 0, dup_or_die("late"));
    return NULL;
}

/* Abort a request waiting on its future; resolve through resolve(). */
static void
cancel_then(bool from_thread)
{
    open_conn();
    send_get(1, "/cancel");
    CU_ASSERT_TRUE_FATAL(run_until(is_waiting, NULL, 5.0));
    send_abort(1);
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_TRUE(run_until(none_in_flight, NULL, 5.0));
    CU_ASSERT_EQUAL(g.defers, 1);           /* the request's cleanups ran */
    CU_ASSERT_EQUAL(g.after, 0);            /* never resumed */
    CU_ASSERT_EQUAL(evf__future_live(), 1); /* the resolver's reference */
    CU_ASSERT_EQUAL(g.frees, 0);
    if (from_thread) {
        pthread_t t;
        CU_ASSERT_FATAL(pthread_create(&t, NULL, resolve_late, g.f) == 0);
        pthread_join(t, NULL);
    } else {
        evf_future_resolve(g.f, 0, dup_or_die("late"));
    }
    CU_ASSERT_TRUE(run_until(no_future, NULL, 5.0));
    CU_ASSERT_EQUAL(g.frees, 1);            /* the late value, once */
    CU_ASSERT_EQUAL(g.after, 0);
    finish_conn();
}

static void
test_cancel_then_resolve_on_loop(void)
{
    cancel_then(false);
}

static void
test_cancel_then_resolve_from_thread(void)
{
    cancel_then(true);
}

static void
test_cancel_job_out_then_resolve(void)
{
    open_conn();
    send_get(1, "/cancel-job");
    CU_ASSERT_TRUE_FATAL(run_until(job_running, NULL, 5.0));
    send_abort(1);
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(evf_stats.in_flight, 1);    /* kept for the job */
    /* The awaiting task is gone, the request not yet: resolve now. */
    evf_future_resolve(g.f, 0, dup_or_die("late"));
    run_pending();      /* a wake-up, if any, would be ready now */
    CU_ASSERT_EQUAL(g.after, 0);
    char c = 'x';
    CU_ASSERT_EQUAL(write(g.job_pipe[1], &c, 1), 1);
    CU_ASSERT_TRUE(run_until(none_in_flight, NULL, 5.0));
    CU_ASSERT_TRUE(run_until(no_future, NULL, 5.0));
    CU_ASSERT_EQUAL(g.frees, 1);
    CU_ASSERT_EQUAL(g.defers, 1);
    finish_conn();
}

/* ---- deadline ------------------------------------------------------------ */

static void
test_never_resolved_deadline(void)
{
    open_conn();
    send_get(1, "/expire");
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT_EQUAL(status_of(1), 504);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Gateway Timeout\"}"));
    CU_ASSERT_EQUAL(g.after, 0);
    CU_ASSERT_TRUE(run_until(none_in_flight, NULL, 5.0));
    CU_ASSERT_EQUAL(g.defers, 1);
    CU_ASSERT_EQUAL(evf__future_live(), 1);
    /* The library calls back long after: dropped, value freed. */
    evf_future_resolve(g.f, 0, dup_or_die("too late"));
    CU_ASSERT_TRUE(run_until(no_future, NULL, 5.0));
    CU_ASSERT_EQUAL(g.frees, 1);
    finish_conn();
}

static void
test_deadline_returns(void)
{
    open_conn();
    send_get(1, "/returns");
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "resumed"));
    CU_ASSERT_EQUAL(g.rc, EVF_ETIMEDOUT);
    CU_ASSERT_EQUAL(g.after, 1);
    CU_ASSERT_TRUE(run_until(none_in_flight, NULL, 5.0));
    evf_future_resolve(g.f, 0, dup_or_die("too late"));
    CU_ASSERT_TRUE(run_until(no_future, NULL, 5.0));
    CU_ASSERT_EQUAL(g.frees, 1);
    finish_conn();
}

static void
test_misuse(void)
{
    open_conn();
    send_get(1, "/misuse");
    CU_ASSERT_TRUE(ended(1, 10.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    /* NULL future: EINVAL; one task gets the value, the other EINVAL. */
    CU_ASSERT_TRUE(body_is(1, "[-22,0,-22]"));
    CU_ASSERT_TRUE(run_until(no_future, NULL, 5.0));
    finish_conn();
}

/* ---- the suite ----------------------------------------------------------- */

static int
init(void)
{
    if (peer_init() < 0 || pipe(g.job_pipe) < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 1024;
    evf_settings.out_high_water = 256 * 1024;
    evf_settings.out_low_water = 64 * 1024;
    evf_settings.request_deadline = 0;
    if (evf_pool_start(cl.loop, 2, 16) < 0)
        return -1;
    return evf_app_register(&app, "future") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_pool_stop();
    evf__future_shutdown();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    close(g.job_pipe[0]);
    close(g.job_pipe[1]);
    return 0;
}

static CU_TestInfo tests[] = {
    { "resolved on the loop", test_resolve_on_loop },
    { "resolved from another thread, many at once",
      test_resolve_from_thread },
    { "resolved by a pool job", test_resolve_from_pool },
    { "aborted, then resolved on the loop", test_cancel_then_resolve_on_loop },
    { "aborted, then resolved from a thread",
      test_cancel_then_resolve_from_thread },
    { "aborted with a job out, then resolved",
      test_cancel_job_out_then_resolve },
    { "never resolved: the deadline answers 504",
      test_never_resolved_deadline },
    { "deadline opted in: the await returns", test_deadline_returns },
    { "misuse is refused", test_misuse },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    CU_SuiteInfo suites[] = {
        { .pName = "future", .pInitFunc = init, .pCleanupFunc = cleanup,
          .pTests = tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}
