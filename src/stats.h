/*
 * stats: counters of one worker process, read by the status page.
 *
 * Plain integers updated on the loop's thread.
 */
#ifndef EVF_STATS_H
#define EVF_STATS_H

#include <stdint.h>

struct ev_loop;

typedef struct evf_stats {
    uint64_t accepted_conn;
    uint64_t active_conn;
    uint64_t requests;          /* finished, answered or not */
    uint64_t by_class[6];       /* by status / 100: [1] .. [5] */
    uint64_t aborted;           /* cancelled before they finished */
    uint64_t in_flight;
    uint64_t protocol_errors;   /* connections closed for bad input */
    uint64_t rejected_overload; /* FCGI_OVERLOADED answers */
    uint64_t handler_no_answer; /* handlers that returned without answering */
    uint64_t slow_callbacks;    /* handler slices over slow_callback */
    uint64_t lag_hist[32];      /* loop iterations by busy time, log2 us */
    double lag_max;             /* seconds */
} evf_stats_t;

extern evf_stats_t evf_stats;

/* Monotonic seconds. */
double evf__now(void);

/*
 * Loop lag: how long one loop iteration kept the loop busy (what a newly
 * ready event waits at worst).  Start measuring on loop.
 */
void evf_stats_watch_loop(struct ev_loop *loop);
void evf_stats_unwatch_loop(struct ev_loop *loop);
/* The lag below which 99% of iterations stayed (upper bucket bound). */
double evf_stats_lag_p99(void);

#endif
