/*
 * stats: counters of the worker processes, and the status page.
 *
 * Each worker counts into its own slot of a table the master maps shared
 * before it forks, so the status page (served by any worker) adds them
 * up.  Slot 0 keeps the totals of workers that are gone.  Counters are
 * written by one worker only (its loop thread; the pool fields by its
 * pool threads under the pool's mutex); the reader may see a value a few
 * requests old, never a torn one (aligned 64-bit words).
 */
#ifndef EVF_STATS_H
#define EVF_STATS_H

#include <stdbool.h>
#include <stdint.h>

#define EVF_STATS_MAX_ROUTES 128

struct ev_loop;

typedef struct evf_stats {
    uint64_t accepted_conn;
    uint64_t active_conn;
    uint64_t requests;          /* finished, answered or not */
    uint64_t by_class[6];       /* by status / 100: [1] .. [5] */
    uint64_t aborted;           /* cancelled before they finished */
    uint64_t in_flight;
    uint64_t protocol_errors;   /* connections closed for bad input */
    uint64_t sends;             /* send() calls writing answers */
    uint64_t rejected_overload; /* FCGI_OVERLOADED answers */
    uint64_t handler_no_answer; /* handlers that returned without answering */
    uint64_t slow_callbacks;    /* handler slices over slow_callback */
    uint64_t lag_hist[32];      /* loop iterations by busy time, log2 us */
    double lag_max;             /* seconds */
    uint64_t pool_threads, pool_busy, pool_queued, pool_rejected;
    uint64_t pool_completed;
    double pool_wait_max;       /* seconds */
    uint32_t route_in_flight[EVF_STATS_MAX_ROUTES];
    int32_t pid;                /* 0: slot unused */
    uint32_t generation;
    /* Timeouts (issue 14, item 4). */
    uint64_t closed_idle;       /* connections closed by idle_timeout */
    uint64_t closed_request_timeout;    /* ... by request_timeout */
    /* Quiet failures (issue 14, item 10): failed log writes. */
    uint64_t error_log_errors;
    uint64_t access_log_errors;
} evf_stats_t;

/* This process's slot. */
extern evf_stats_t *evf__statsp;
#define evf_stats (*evf__statsp)

/*
 * Map the shared table for up to nworkers workers at once (master, before
 * forking).  0 or -1.
 */
int evf_stats_shared_init(unsigned nworkers);
/* Worker: take slot i (>= 1) and zero it. */
void evf_stats_use_slot(unsigned i, unsigned generation);
/* Master: a worker in slot i is gone; keep its totals in slot 0. */
void evf_stats_retire_slot(unsigned i);
/*
 * Master: record the last reload (when: ev_time(); why: the reason it was
 * refused, copied).  Every worker's status page shows it as "last reload"
 * (unix seconds, 0: none yet) and "last reload result" ("none", "ok" or
 * "failed: WHY").
 */
void evf_stats_set_reload(double when, bool ok, const char *why);
/* Number of slots (0 without a shared table). */
unsigned evf_stats_nslots(void);

/*
 * The status page: JSON (php-fpm's field names where one exists) or text.
 * route_names[i] names route index i.  Durations are milliseconds with
 * three decimals.  Returns a string the caller frees with evf_free(), or
 * NULL when out of memory.
 */
char *evf_stats_render(bool json, const char *const *route_names,
                       unsigned nroutes, double started, unsigned workers);

/*
 * Loop lag: how long one loop iteration kept the loop busy (what a newly
 * ready event waits at worst).  Start measuring on loop.
 */
void evf_stats_watch_loop(struct ev_loop *loop);
void evf_stats_unwatch_loop(struct ev_loop *loop);
/* The lag below which 99% of iterations stayed (upper bucket bound). */
double evf_stats_lag_p99(void);

#endif
