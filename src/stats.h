/*
 * stats: counters of one worker process, read by the status page.
 *
 * Plain integers updated on the loop's thread.
 */
#ifndef EVF_STATS_H
#define EVF_STATS_H

#include <stdint.h>

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
} evf_stats_t;

extern evf_stats_t evf_stats;

#endif
