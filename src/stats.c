/*
 * stats: counters and the loop-lag histogram (see stats.h).
 *
 * The lag is measured with an ev_check watcher (runs right after the loop
 * wakes up) and an ev_prepare watcher (runs right before it sleeps again):
 * the time between them is what the callbacks of one iteration took.
 */
#include "config.h"

#include <ev.h>
#include <time.h>

#include "stats.h"

evf_stats_t evf_stats;

static ev_check wake;
static ev_prepare sleep_w;
static double woke_at;

double
evf__now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
wake_cb(struct ev_loop *loop, ev_check *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    woke_at = evf__now();
}

static void
sleep_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    if (woke_at == 0)
        return;
    double busy = evf__now() - woke_at;
    if (busy > evf_stats.lag_max)
        evf_stats.lag_max = busy;
    double us = busy * 1e6;
    unsigned b = 0;
    while (b < 31 && us >= (double)(1u << b))
        b++;
    evf_stats.lag_hist[b]++;
}

void
evf_stats_watch_loop(struct ev_loop *loop)
{
    ev_check_init(&wake, wake_cb);
    ev_prepare_init(&sleep_w, sleep_cb);
    ev_check_start(loop, &wake);
    ev_prepare_start(loop, &sleep_w);
    ev_unref(loop);
    ev_unref(loop);
}

void
evf_stats_unwatch_loop(struct ev_loop *loop)
{
    ev_ref(loop);
    ev_ref(loop);
    ev_check_stop(loop, &wake);
    ev_prepare_stop(loop, &sleep_w);
}

double
evf_stats_lag_p99(void)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < 32; i++)
        total += evf_stats.lag_hist[i];
    if (!total)
        return 0;
    for (int i = 0; i < 32; i++) {
        seen += evf_stats.lag_hist[i];
        if (seen * 100 >= total * 99)
            return (double)(1u << i) / 1e6;
    }
    return evf_stats.lag_max;
}
