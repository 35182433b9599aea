/*
 * worker: the serving loop of one process and its signals (see worker.h).
 */
#include "config.h"

#include <ev.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "access.h"
#include "app.h"
#include "conn.h"
#include "coro.h"
#include "http_client.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "process.h"
#include "exchange.h"
#include "future.h"
#include "server.h"
#include "settings.h"
#include "stats.h"
#include "worker.h"

#define NSIGS 5

static struct {
    ev_signal sig[NSIGS];
    ev_timer drain;
    ev_timer trim;          /* gives idle coroutine stacks back */
    ev_tstamp drain_until;
    double grace;
    pid_t master;           /* 0: no master (workers = 0) */
} w;

static void
drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t, (void)revents;
    /* The last answers may still be in the output buffers (they leave
     * before the loop next polls, and this may run first): write them
     * before stopping, or the web server sees the connections close
     * without them (502). */
    bool done = evf_stats.in_flight == 0 && evf_conn_flush_all();
    if (done || ev_now(loop) >= w.drain_until) {
        if (evf_stats.in_flight)
            evf_log_warn("grace period over: cancelling %llu requests",
                         (unsigned long long)evf_stats.in_flight);
        evf_server_pause();
        ev_break(loop, EVBREAK_ALL);
    }
}

/*
 * Every TRIM_PERIOD seconds, free coroutine stacks beyond what the peak
 * of the last period needed give their pages back: memory follows the
 * load down, and a steady load keeps its stacks warm.
 */
#define TRIM_PERIOD 10.0

static void
trim_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)t, (void)revents;
    evf_coro_trim();
}

/* Stop accepting, let requests finish (up to the grace period), exit. */
static void
begin_drain(struct ev_loop *loop, const char *why)
{
    if (ev_is_active(&w.drain))
        return;
    evf_log_notice("%s: finishing %llu requests (up to %.0f s)", why,
                   (unsigned long long)evf_stats.in_flight, w.grace);
    evf_server_pause();
    evf_conn_drain_all();
    w.drain_until = ev_now(loop) + w.grace;
    ev_timer_init(&w.drain, drain_cb, 0., 0.05);
    ev_timer_again(loop, &w.drain);
}

static void
recycle(void)
{
    begin_drain(evf__loop(), "served max_requests: recycling this worker");
}

/* A finished request: the worker recycles after max_requests. */
static void
recycle_hook(const evf_access_entry_t *e, void *ud)
{
    (void)e, (void)ud;
    if (evf_stats.requests == evf_settings.max_requests)
        recycle();
}

static void
access_hook(const evf_access_entry_t *e, void *ud)
{
    (void)ud;
    evf_access_write(e);
}

static void
signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    switch (s->signum) {
    case SIGQUIT:
        /* PR_SET_PDEATHSIG's signal: the master is gone. */
        if (w.master && getppid() != w.master)
            evf_process_master_gone(w.master);
        begin_drain(loop, "graceful stop");
        return;
    case SIGUSR1:
        evf_process_reopen_logs();
        return;
    case SIGHUP:
        evf_log_warn("SIGHUP: reloading needs the master (workers >= 1); "
                     "ignored");
        return;
    default:
        evf_log_notice("stopping (signal %d)", s->signum);
        evf_server_pause();
        ev_break(loop, EVBREAK_ALL);
    }
}

int
evf_worker_run(const int *fds, size_t nfds, double grace, int ready_fd)
{
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    static const int sigs[NSIGS] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1,
                                     SIGHUP };
    if (!loop) {
        evf_log_error("cannot initialise libev");
        return 1;
    }
    evf__loop_set(loop);
    w.grace = grace;
    w.master = ready_fd >= 0 ? getppid() : 0;
    evf_log_count_failures(&evf_stats.error_log_errors);
    ev_init(&w.drain, drain_cb);
    if (evf_apps_startup() < 0) {
        evf_apps_shutdown();
        return 1;
    }
    if (evf_pool_start(loop, evf_settings.pool_threads,
                       evf_settings.pool_queue) < 0) {
        evf_apps_shutdown();
        return 1;
    }
    evf_stats_watch_loop(loop);
    ev_timer_init(&w.trim, trim_cb, TRIM_PERIOD, TRIM_PERIOD);
    ev_timer_start(loop, &w.trim);
    ev_unref(loop);
    for (size_t i = 0; i < nfds; i++)
        if (evf_server_add(fds[i]) < 0) {
            evf_log_error("cannot watch listener %d", fds[i]);
            return 1;
        }
    for (int i = 0; i < NSIGS; i++) {
        ev_signal_init(&w.sig[i], signal_cb, sigs[i]);
        ev_signal_start(loop, &w.sig[i]);
        ev_unref(loop);     /* signal watchers alone keep nothing alive */
    }
    /* Hooks only for what is on: each costs every request an entry. */
    evf__exchange_clear_hooks();
    if (evf_access_enabled())
        evf__exchange_on_finished(access_hook, NULL);
    if (evf_settings.max_requests)
        evf__exchange_on_finished(recycle_hook, NULL);
    if (ready_fd >= 0) {
        int32_t pid = (int32_t)getpid();
        ssize_t n = write(ready_fd, &pid, sizeof(pid));
        (void)n;
        close(ready_fd);
    }

    ev_run(loop, 0);

    evf_server_stop(false);
    evf_conn_close_all();
    evf__exchange_cancel_detached();
    /* Blocking handlers cannot be interrupted: wait for them. */
    evf_pool_stop();
    evf__future_shutdown();
    evf_http_shutdown();
    evf_stats_unwatch_loop(loop);
    ev_timer_stop(loop, &w.drain);
    ev_ref(loop);
    ev_timer_stop(loop, &w.trim);
    for (int i = 0; i < NSIGS; i++) {
        ev_ref(loop);
        ev_signal_stop(loop, &w.sig[i]);
    }
    evf_apps_shutdown();
    return 0;
}
