/*
 * pool: pthread pool with completions posted to the loop (see pool.h).
 *
 * DESIGN.  Two queues under two mutexes.  The submit queue (todo) is
 * filled by the loop thread and drained by pool threads, which sleep on
 * a condition variable.  The done queue is filled by pool threads; each
 * push is followed by ev_async_send, and because sends coalesce, the async
 * callback on the loop takes the whole done queue at once and runs every
 * done() in it.  A thread never holds both mutexes, so there is no lock
 * order to get wrong.  Pool threads block every signal: signals are the
 * loop's business.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mem.h"
#include "pool.h"
#include "stats.h"
#include "tls.h"

static struct {
    struct ev_loop *loop;
    ev_async async;
    pthread_t *threads;
    unsigned nthreads;
    unsigned queue_max;

    pthread_mutex_t todo_lock;  /* guards todo, nqueued, busy, stats */
    pthread_cond_t todo_cond;
    evf_job_t *todo_head, *todo_tail;
    unsigned nqueued;
    unsigned busy;
    bool stopping;
    uint64_t completed, rejected;
    double wait_total, wait_max;

    pthread_mutex_t done_lock;  /* guards done */
    evf_job_t *done_head, *done_tail;
    bool running;
} p = {
    .todo_lock = PTHREAD_MUTEX_INITIALIZER,
    .todo_cond = PTHREAD_COND_INITIALIZER,
    .done_lock = PTHREAD_MUTEX_INITIALIZER,
};

static EVF_TLS bool on_pool_thread;

/*
 * Copy the figures to the status page's slot (todo_lock held).  Only the
 * loop thread does this: the status page reads the slot there too.
 */
static void
publish(void)
{
    evf_stats.pool_threads = p.nthreads;
    evf_stats.pool_busy = p.busy;
    evf_stats.pool_queued = p.nqueued;
    evf_stats.pool_rejected = p.rejected;
    evf_stats.pool_completed = p.completed;
    evf_stats.pool_wait_max = p.wait_max;
}

static double
now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool
evf_pool_on_thread(void)
{
    return on_pool_thread;
}

/* Hand j to the loop: its done() runs there (any thread). */
static void
post_done(evf_job_t *j)
{
    pthread_mutex_lock(&p.done_lock);
    j->next = NULL;
    if (p.done_tail)
        p.done_tail->next = j;
    else
        p.done_head = j;
    p.done_tail = j;
    pthread_mutex_unlock(&p.done_lock);
    ev_async_send(p.loop, &p.async);
}

static void *
worker(void *arg)
{
    (void)arg;
    on_pool_thread = true;
    pthread_mutex_lock(&p.todo_lock);
    for (;;) {
        while (!p.todo_head && !p.stopping)
            pthread_cond_wait(&p.todo_cond, &p.todo_lock);
        evf_job_t *j = p.todo_head;
        if (!j)
            break;      /* stopping, and nothing left to run */
        p.todo_head = j->next;
        if (!p.todo_head)
            p.todo_tail = NULL;
        p.nqueued--;
        p.busy++;
        double waited = now() - j->queued_at;
        p.wait_total += waited;
        if (waited > p.wait_max)
            p.wait_max = waited;
        pthread_mutex_unlock(&p.todo_lock);

        j->work(j);

        /* Count it before done() can run, so done() sees the figures. */
        pthread_mutex_lock(&p.todo_lock);
        p.busy--;
        p.completed++;
        pthread_mutex_unlock(&p.todo_lock);

        post_done(j);

        pthread_mutex_lock(&p.todo_lock);
    }
    pthread_mutex_unlock(&p.todo_lock);
    return NULL;
}

/* Run every completed job's done() (loop thread). */
static void
drain_done(void)
{
    pthread_mutex_lock(&p.todo_lock);
    publish();
    pthread_mutex_unlock(&p.todo_lock);
    pthread_mutex_lock(&p.done_lock);
    evf_job_t *j = p.done_head;
    p.done_head = p.done_tail = NULL;
    pthread_mutex_unlock(&p.done_lock);
    while (j) {
        evf_job_t *next = j->next;
        j->done(j);     /* may free j */
        j = next;
    }
}

static void
async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    drain_done();
}

int
evf_pool_start(struct ev_loop *loop, unsigned threads, unsigned queue_max)
{
    p.loop = loop;
    p.queue_max = queue_max;
    p.stopping = false;
    p.threads = evf_calloc(threads, sizeof(pthread_t));
    if (!p.threads)
        return -ENOMEM;
    ev_async_init(&p.async, async_cb);
    ev_async_start(loop, &p.async);
    ev_unref(loop);     /* an idle pool does not keep the loop running */

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = 0;
    for (unsigned i = 0; i < threads; i++) {
        rc = pthread_create(&p.threads[i], NULL, worker, NULL);
        if (rc)
            break;
        p.nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    p.running = true;
    pthread_mutex_lock(&p.todo_lock);
    publish();
    pthread_mutex_unlock(&p.todo_lock);
    if (rc) {
        evf_log_error("cannot start pool thread %u of %u: %s", p.nthreads + 1,
                      threads, strerror(rc));
        evf_pool_stop();
        return -rc;
    }
    return 0;
}

int
evf_pool_submit(evf_job_t *j)
{
    pthread_mutex_lock(&p.todo_lock);
    /* queue_max bounds the jobs that wait: the ones idle threads are
     * about to take do not count. */
    unsigned idle = p.nthreads - p.busy;
    if (!p.running || p.stopping || !p.nthreads ||
        p.nqueued >= p.queue_max + idle) {
        p.rejected++;
        publish();
        pthread_mutex_unlock(&p.todo_lock);
        return -EBUSY;
    }
    j->next = NULL;
    j->queued_at = now();
    if (p.todo_tail)
        p.todo_tail->next = j;
    else
        p.todo_head = j;
    p.todo_tail = j;
    p.nqueued++;
    publish();
    pthread_cond_signal(&p.todo_cond);
    pthread_mutex_unlock(&p.todo_lock);
    return 0;
}

int
evf_pool_cancel(evf_job_t *j)
{
    pthread_mutex_lock(&p.todo_lock);
    evf_job_t **pp = &p.todo_head, *prev = NULL;
    while (*pp && *pp != j) {
        prev = *pp;
        pp = &(*pp)->next;
    }
    if (!*pp) {
        pthread_mutex_unlock(&p.todo_lock);
        return -1;      /* running or done already */
    }
    *pp = j->next;
    if (p.todo_tail == j)
        p.todo_tail = prev;
    p.nqueued--;
    publish();
    pthread_mutex_unlock(&p.todo_lock);

    post_done(j);
    return 0;
}

void
evf_pool_get_stats(evf_pool_stats_t *st)
{
    pthread_mutex_lock(&p.todo_lock);
    st->threads = p.nthreads;
    st->busy = p.busy;
    st->queued = p.nqueued;
    st->queue_max = p.queue_max;
    st->completed = p.completed;
    st->rejected = p.rejected;
    st->wait_total = p.wait_total;
    st->wait_max = p.wait_max;
    pthread_mutex_unlock(&p.todo_lock);
}

void
evf_pool_stop(void)
{
    if (!p.running)
        return;
    pthread_mutex_lock(&p.todo_lock);
    p.stopping = true;
    pthread_cond_broadcast(&p.todo_cond);
    pthread_mutex_unlock(&p.todo_lock);
    for (unsigned i = 0; i < p.nthreads; i++)
        pthread_join(p.threads[i], NULL);
    drain_done();
    ev_ref(p.loop);
    ev_async_stop(p.loop, &p.async);
    evf_free(p.threads);
    p.threads = NULL;
    p.nthreads = 0;
    p.running = false;
}
