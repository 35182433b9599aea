/*
 * pool: the pthread pool for blocking work (blocking routes, to_thread).
 *
 * A job's work() runs on a pool thread; its done() runs later on the loop's
 * thread, posted back through an ev_async.  Pool threads never touch the
 * loop, a connection or anything else of the loop's: a job carries its
 * inputs and outputs.  The queue is bounded: submitting to a full queue
 * fails at once (the caller answers 503), it never waits.
 */
#ifndef EVF_POOL_H
#define EVF_POOL_H

#include <stdbool.h>
#include <stdint.h>

struct ev_loop;

typedef struct evf_job evf_job_t;
struct evf_job {
    /* public: set by the submitter */
    void (*work)(evf_job_t *j);     /* pool thread */
    void (*done)(evf_job_t *j);     /* loop thread, exactly once */
    /* private */
    evf_job_t *next;
    double queued_at;
};

typedef struct evf_pool_stats {
    unsigned threads;
    unsigned busy;          /* threads running a job now */
    unsigned queued;        /* jobs waiting for a thread now */
    unsigned queue_max;
    uint64_t completed;
    uint64_t rejected;      /* submits refused: queue full */
    double wait_total;      /* seconds jobs spent queued, summed */
    double wait_max;
} evf_pool_stats_t;

/*
 * Start threads pool threads on loop with a queue of queue_max jobs.
 * Returns 0 or -errno.  One pool per process.
 */
int evf_pool_start(struct ev_loop *loop, unsigned threads,
                   unsigned queue_max);

/* Queue j (loop thread).  0, or -EBUSY when the queue is full. */
int evf_pool_submit(evf_job_t *j);

/*
 * Take j off the queue if no thread has started it: its work() will not
 * run, its done() still will (later, from the loop).  0, or -1 when it is
 * already running or done.
 */
int evf_pool_cancel(evf_job_t *j);

/* True on a pool thread. */
bool evf_pool_on_thread(void);

void evf_pool_get_stats(evf_pool_stats_t *st);

/*
 * Stop: queued jobs still run, running ones finish, threads are joined,
 * and every done() that was pending runs before this returns.
 */
void evf_pool_stop(void);

#endif
