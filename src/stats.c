/*
 * stats: counters and the loop-lag histogram (see stats.h).
 *
 * The lag is measured with an ev_check watcher (runs right after the loop
 * wakes up, before any other callback: the highest priority) and an
 * ev_prepare watcher (runs right before it sleeps again, after the other
 * prepare watchers: the lowest): the time between them is what the
 * callbacks of one iteration took.
 */
#include "config.h"

#include <ev.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "mem.h"
#include "stats.h"

static evf_stats_t own;
evf_stats_t *evf__statsp = &own;
static evf_stats_t *table;
static unsigned nslots;

/*
 * The last reload, written by the master, read by any worker: shared
 * after the slots.  seq is odd while the master writes (a reader that
 * sees it odd, or changed, reads again), so no worker prints half of one
 * message and half of the next.
 */
typedef struct reload_info {
    uint32_t seq;
    int32_t result;         /* 0: none yet, 1: ok, -1: failed */
    double when;            /* ev_time() */
    char why[256];
} reload_info_t;

static reload_info_t own_reload;
static reload_info_t *reload_info = &own_reload;

int
evf_stats_shared_init(unsigned nworkers)
{
    nslots = nworkers + 1;
    size_t len = nslots * sizeof(evf_stats_t) + sizeof(reload_info_t);
    table = mmap(NULL, len, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED) {
        table = NULL;
        nslots = 0;
        return -1;
    }
    memset(table, 0, len);
    reload_info = (reload_info_t *)(void *)(table + nslots);
    *reload_info = own_reload;
    return 0;
}

void
evf_stats_set_reload(double when, bool ok, const char *why)
{
    reload_info_t *r = reload_info;
    __atomic_add_fetch(&r->seq, 1, __ATOMIC_RELEASE);
    r->result = ok ? 1 : -1;
    r->when = when;
    snprintf(r->why, sizeof(r->why), "%s", why && !ok ? why : "");
    __atomic_add_fetch(&r->seq, 1, __ATOMIC_RELEASE);
}

/* A consistent copy of the last reload's record. */
static void
get_reload(reload_info_t *out)
{
    for (int tries = 0; tries < 100; tries++) {
        uint32_t s1 = __atomic_load_n(&reload_info->seq, __ATOMIC_ACQUIRE);
        memcpy(out, reload_info, sizeof(*out));
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        uint32_t s2 = __atomic_load_n(&reload_info->seq, __ATOMIC_ACQUIRE);
        if (s1 == s2 && !(s1 & 1))
            break;
    }
    out->why[sizeof(out->why) - 1] = '\0';
}

unsigned
evf_stats_nslots(void)
{
    return nslots;
}

void
evf_stats_use_slot(unsigned i, unsigned generation)
{
    if (!table || i >= nslots)
        return;
    memset(&table[i], 0, sizeof(table[i]));
    table[i].pid = (int32_t)getpid();
    table[i].generation = generation;
    evf__statsp = &table[i];
}

/*
 * Add s's counters to t.  Gauges (connections, requests and jobs in flight)
 * only when gauges is set: a retired worker's are gone with it.
 */
static void
add(evf_stats_t *t, const evf_stats_t *s, bool gauges)
{
    t->accepted_conn += s->accepted_conn;
    t->requests += s->requests;
    for (int k = 0; k < 6; k++)
        t->by_class[k] += s->by_class[k];
    t->aborted += s->aborted;
    t->protocol_errors += s->protocol_errors;
    t->sends += s->sends;
    t->rejected_overload += s->rejected_overload;
    t->handler_no_answer += s->handler_no_answer;
    t->slow_callbacks += s->slow_callbacks;
    for (int k = 0; k < 32; k++)
        t->lag_hist[k] += s->lag_hist[k];
    if (s->lag_max > t->lag_max)
        t->lag_max = s->lag_max;
    t->pool_rejected += s->pool_rejected;
    t->closed_idle += s->closed_idle;
    t->closed_request_timeout += s->closed_request_timeout;
    t->error_log_errors += s->error_log_errors;
    t->access_log_errors += s->access_log_errors;
    t->pool_completed += s->pool_completed;
    if (s->pool_wait_max > t->pool_wait_max)
        t->pool_wait_max = s->pool_wait_max;
    if (!gauges)
        return;
    t->active_conn += s->active_conn;
    t->in_flight += s->in_flight;
    t->pool_threads += s->pool_threads;
    t->pool_busy += s->pool_busy;
    t->pool_queued += s->pool_queued;
    for (int k = 0; k < EVF_STATS_MAX_ROUTES; k++)
        t->route_in_flight[k] += s->route_in_flight[k];
}

void
evf_stats_retire_slot(unsigned i)
{
    if (!table || i == 0 || i >= nslots)
        return;
    add(&table[0], &table[i], false);
    memset(&table[i], 0, sizeof(table[i]));
}

static ev_check wake;
static ev_prepare sleep_w;
static double woke_at;


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
    /* First after the poll and last before the next: the check watchers
     * that read the queued connections and resume the queued tasks, and
     * the prepare watcher that flushes, are all inside the measure. */
    ev_set_priority(&wake, EV_MAXPRI);
    ev_set_priority(&sleep_w, EV_MINPRI);
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

static double
p99_of(const uint64_t *hist, double max)
{
    uint64_t total = 0, seen = 0;
    for (int i = 0; i < 32; i++)
        total += hist[i];
    if (!total)
        return 0;
    for (int i = 0; i < 32; i++) {
        seen += hist[i];
        if (seen * 100 >= total * 99) {
            double bound = (double)(1u << i) / 1e6;
            return bound < max ? bound : max;
        }
    }
    return max;
}

double
evf_stats_lag_p99(void)
{
    return p99_of(evf_stats.lag_hist, evf_stats.lag_max);
}

/* Sum of every slot (or this process's own counters). */
static void
sum(evf_stats_t *t, unsigned *live)
{
    const evf_stats_t *v = table ? table : evf__statsp;
    unsigned n = table ? nslots : 1;
    memset(t, 0, sizeof(*t));
    *live = 0;
    for (unsigned i = 0; i < n; i++) {
        const evf_stats_t *s = &v[i];
        if (table && i > 0 && !s->pid)
            continue;
        if (s->pid)
            (*live)++;
        add(t, s, true);
    }
}

static void
add_u(json_object *o, const char *k, uint64_t v)
{
    json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* Milliseconds with three decimals (microseconds), not 17 digits. */
static void
add_ms(json_object *o, const char *k, double seconds)
{
    char s[32];
    double ms = seconds * 1000;
    snprintf(s, sizeof(s), "%.3f", ms);
    json_object_object_add(o, k, json_object_new_double_s(ms, s));
}

/* "name: value" lines, as php-fpm's plain status.  NULL when out of memory. */
static char *
render_text(json_object *o)
{
    size_t cap = 4096, len = 0;
    char *out = evf_malloc(cap);
    if (!out)
        return NULL;
    out[0] = '\0';
    json_object_object_foreach(o, key, val) {
        const char *v = json_object_get_type(val) == json_type_object
                            ? json_object_to_json_string_ext(
                                  val, JSON_C_TO_STRING_PLAIN)
                            : json_object_get_string(val);
        for (;;) {
            int n = snprintf(out + len, cap - len, "%-22s %s\n", key, v);
            if (n < 0)
                break;
            if ((size_t)n < cap - len) {
                len += (size_t)n;
                break;
            }
            char *bigger = evf_realloc(out, cap * 2);
            if (!bigger) {
                evf_free(out);
                return NULL;
            }
            out = bigger;
            cap *= 2;
        }
    }
    return out;
}

char *
evf_stats_render(bool json, const char *const *route_names,
                 unsigned nroutes, double started, unsigned workers)
{
    evf_stats_t t;
    unsigned live;
    sum(&t, &live);
    double now = ev_time();
    if (!table)
        live = 1;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "pool", json_object_new_string("evfcgid"));
    json_object_object_add(o, "process manager",
                           json_object_new_string("static"));
    add_u(o, "start time", (uint64_t)started);
    add_u(o, "start since", (uint64_t)(now - started));
    add_u(o, "accepted conn", t.accepted_conn);
    add_u(o, "active conn", t.active_conn);
    add_u(o, "total processes", live);
    add_u(o, "configured workers", workers);
    add_u(o, "requests", t.requests);
    json_object *cls = json_object_new_object();
    static const char *const names[] = { "", "1xx", "2xx", "3xx", "4xx",
                                         "5xx" };
    for (int k = 1; k < 6; k++)
        add_u(cls, names[k], t.by_class[k]);
    json_object_object_add(o, "requests by status", cls);
    add_u(o, "in flight", t.in_flight);
    json_object *routes = json_object_new_object();
    for (unsigned i = 0; i < nroutes && i < EVF_STATS_MAX_ROUTES; i++)
        if (t.route_in_flight[i])
            add_u(routes, route_names[i], t.route_in_flight[i]);
    json_object_object_add(o, "in flight by route", routes);
    add_u(o, "aborted", t.aborted);
    add_u(o, "protocol errors", t.protocol_errors);
    add_u(o, "sends", t.sends);
    add_u(o, "slow requests", t.slow_callbacks);
    /* Timeouts and caps (issue 14, item 4). */
    add_u(o, "rejected overload", t.rejected_overload);
    add_u(o, "closed idle", t.closed_idle);
    add_u(o, "closed request timeout", t.closed_request_timeout);
    /* Quiet failures (issue 14, item 10). */
    add_u(o, "error log write errors", t.error_log_errors);
    add_u(o, "access log write errors", t.access_log_errors);
    json_object *pool = json_object_new_object();
    add_u(pool, "threads", t.pool_threads);
    add_u(pool, "busy", t.pool_busy);
    add_u(pool, "queued", t.pool_queued);
    add_u(pool, "rejected", t.pool_rejected);
    add_u(pool, "completed", t.pool_completed);
    add_ms(pool, "wait max ms", t.pool_wait_max);
    json_object_object_add(o, "thread pool", pool);
    add_ms(o, "loop lag max ms", t.lag_max);
    add_ms(o, "loop lag p99 ms", p99_of(t.lag_hist, t.lag_max));
    reload_info_t r;
    get_reload(&r);
    char result[300];
    snprintf(result, sizeof(result), "%s%s",
             r.result == 0 ? "none" : r.result > 0 ? "ok" : "failed: ",
             r.result < 0 ? r.why : "");
    add_u(o, "last reload", r.result ? (uint64_t)r.when : 0);
    json_object_object_add(o, "last reload result",
                           json_object_new_string(result));
    const char *s = json ? json_object_to_json_string_ext(
                               o, JSON_C_TO_STRING_PLAIN |
                                      JSON_C_TO_STRING_NOSLASHESCAPE)
                         : NULL;
    char *out = json ? (s ? evf_mem_strdup(s) : NULL) : render_text(o);
    json_object_put(o);
    return out;
}
