/*
 * conn_timeout: idle_timeout and request_timeout (see conn_int.h).
 *
 * DESIGN.  The hot path (conn.c) only stores timestamps: when a
 * connection last moved bytes or finished a request (active), when the
 * record it is in the middle of began (partial), and a lower bound of the
 * BEGIN time of its oldest request whose PARAMS or STDIN is still arriving
 * (intake).  One timer per thread sweeps the connections a few times per
 * timeout; only when a connection's intake bound has expired does the
 * sweep walk its requests for the true oldest (at most once per timeout
 * for each connection).
 */
#include "config.h"

#include <ev.h>
#include <stddef.h>

#include "conn_int.h"
#include "request.h"
#include "settings.h"
#include "stats.h"

static _Thread_local ev_timer sweep;

/* The BEGIN time of c's oldest request still receiving, or 0. */
static ev_tstamp
oldest_intake(evf_conn_t *c)
{
    ev_tstamp oldest = 0;
    for (unsigned id = 1; id <= 65535; id++) {
        if (id > SMALL_IDS && !c->pages)
            break;
        if (id > SMALL_IDS && !c->pages[id >> 8]) {
            id |= 255;      /* skip the page */
            continue;
        }
        evf_req *r = evf__conn_lookup(c, (uint16_t)id);
        double t = r ? evf__req_intake_since(r) : 0;
        if (t > 0 && (oldest == 0 || t < oldest))
            oldest = t;
    }
    return oldest;
}

/* Why c has to be closed now, or NULL. */
static const char *
expired(evf_conn_t *c, ev_tstamp now)
{
    double idle = evf_settings.idle_timeout;
    double req = evf_settings.request_timeout;
    if (idle > 0 && !c->nreqs && now - c->active >= idle) {
        evf_stats.closed_idle++;
        return "idle_timeout";
    }
    if (req > 0 && c->partial && now - c->partial >= req) {
        evf_stats.closed_request_timeout++;
        return "request_timeout (a record incomplete)";
    }
    if (req > 0 && c->intake && now - c->intake >= req) {
        c->intake = oldest_intake(c);
        if (c->intake && now - c->intake >= req) {
            evf_stats.closed_request_timeout++;
            return "request_timeout (params or body incomplete)";
        }
    }
    return NULL;
}

static void
sweep_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w, (void)revents;
    ev_tstamp now = ev_now(loop);
    evf_conn_t *c = evf__conn_first();
    while (c) {
        evf_conn_t *next = c->next;
        const char *why = c->gone ? NULL : expired(c, now);
        if (why)
            evf__conn_expire(c, why);   /* may destroy c */
        c = next;
    }
}

/* Sweep a few times per timeout (at least every second). */
void
evf__conn_sweep_start(struct ev_loop *loop)
{
    double t = 0;
    if (evf_settings.idle_timeout > 0)
        t = evf_settings.idle_timeout;
    if (evf_settings.request_timeout > 0 &&
        (t == 0 || evf_settings.request_timeout < t))
        t = evf_settings.request_timeout;
    if (t == 0 || ev_is_active(&sweep))
        return;
    t /= 4;
    t = t < 0.05 ? 0.05 : t > 1 ? 1 : t;
    ev_timer_init(&sweep, sweep_cb, t, t);
    ev_timer_start(loop, &sweep);
}

void
evf__conn_sweep_stop(struct ev_loop *loop)
{
    ev_timer_stop(loop, &sweep);
}
