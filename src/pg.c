/*
 * pg: the request API of evfcgi_pg.h: acquiring a pool's connection as a
 * dependency (given back by the request's teardown), statements and
 * pipelines on it, transactions, LISTEN/NOTIFY, and statements pipelined
 * on the pool's shared connections.  The pool itself is pg_pool.c.
 *
 * A request's task drives a held connection itself (evf_wait_fd on its
 * socket); results go into batches the request owns (freed by a cleanup
 * when it ends).  A shared connection is driven by the pool's watcher,
 * which wakes each request when its batch is complete.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mem.h"
#include "pg.h"
#include "pool.h"
#include "request.h"

/* ---- acquire and release (request side) ----------------------------- */

static int
raise_unavailable(evf_req *r)
{
    static const char *const hdrs[] = { "Retry-After: 1", NULL };
    return evf_raise_headers(r, 503, NULL, hdrs);
}

/* Teardown of a request's handle: leave the queue, or give back. */
static void
handle_release(evf_req *r, void *arg)
{
    evf_pg *h = arg;
    evf_pg_pool *p = h->pool;
    (void)r;
    if (h->waiting) {
        evf_pg **pp = &p->whead;
        evf_pg *prev = NULL;
        while (*pp && *pp != h) {
            prev = *pp;
            pp = &(*pp)->wnext;
        }
        if (*pp) {
            *pp = h->wnext;
            if (p->wtail == h)
                p->wtail = prev;
            p->nwaiting--;
        }
        h->waiting = false;
    }
    if (h->conn) {
        pg_conn_t *c = h->conn;
        h->conn = NULL;
        evf__pg_conn_release(c);
    }
}

evf_pg *
evf_pg_acquire(evf_req *r, evf_pg_pool *p)
{
    if (evf_pool_on_thread()) {
        evf__req_misuse(r, "evf_pg_acquire");
        return NULL;
    }
    if (!p) {
        evf_log(r, EVF_LOG_ERROR, "database: no pool (see the log at "
                "startup)");
        raise_unavailable(r);
        return NULL;
    }
    evf_pg *h = evf_alloc(r, sizeof(*h));
    if (!h || evf_teardown(r, handle_release, h) < 0) {
        evf_raise(r, 500, NULL);
        return NULL;
    }
    memset(h, 0, sizeof(*h));
    h->pool = p;
    h->req = r;
    for (pg_conn_t *c = p->conns; c; c = c->next)
        if (c->state == PG_IDLE) {
            evf__pg_unwatch(c);
            c->state = PG_HELD;
            h->conn = c;
            return h;
        }
    if ((p->down && !p->ready) || p->nwaiting >= p->max_waiters) {
        if (p->nwaiting >= p->max_waiters)
            evf_log(r, EVF_LOG_WARN, "database: %u requests wait for a "
                    "connection already", p->nwaiting);
        raise_unavailable(r);
        return NULL;
    }
    /* Start what the queue needs first: a failure seen at once must not
     * wake this task before it awaits. */
    p->nwaiting++;
    evf__pg_start_connections(p);
    p->nwaiting--;
    if (p->down && !p->ready && !p->connecting) {
        raise_unavailable(r);
        return NULL;
    }
    h->task = evf__req_task(r);
    h->waiting = true;
    if (p->wtail)
        p->wtail->wnext = h;
    else
        p->whead = h;
    p->wtail = h;
    p->nwaiting++;
    int rc = evf__task_await(h->task);
    if (h->conn)
        return h;
    handle_release(r, h);   /* out of the queue */
    if (rc == EVF_ETIMEDOUT)
        return NULL;
    raise_unavailable(r);
    return NULL;
}

/* ---- statements ------------------------------------------------------ */

static void
results_free(void *arg)
{
    evf__pg_batch_clear(arg);
}

/* The connection is gone under the request: close it, answer 503. */
static void
lost(evf_pg *h, const char *what)
{
    evf_log(h->req, EVF_LOG_ERROR, "database: connection lost during %s: "
            "%s", what, evf__pg_error_line(h->conn->pg));
    h->conn->broken = true;     /* the teardown closes it */
    raise_unavailable(h->req);
}


static void
log_error(evf_req *r, const PGresult *res)
{
    const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    evf_log(r, EVF_LOG_ERROR, "database: query failed: SQLSTATE %s: %s",
            state ? state : "?", msg ? msg : PQresultErrorMessage(res));
}

/*
 * A finished batch: 500 (logged) if a statement failed, else its results
 * in results[0..n), prepare steps left out.  0 or EVF_EINVAL.
 */
static int
batch_results(evf_req *r, pg_batch_t *b, evf_pg_result **results, size_t n)
{
    if (b->error) {
        log_error(r, b->error);
        evf_raise(r, 500, NULL);
        return EVF_EINVAL;
    }
    size_t s = 0;
    for (size_t i = 0; i < b->n; i++)
        if (!b->slots[i].prepare && s < n)
            results[s++] = (evf_pg_result *)b->slots[i].res;
    return 0;
}

int
evf_pg_pipeline(evf_pg *h, size_t n, const evf_pg_stmt *stmts,
                evf_pg_result **results)
{
    evf_req *r = h->req;
    pg_conn_t *c = h->conn;
    if (evf_pool_on_thread())
        return evf__req_misuse(r, "evf_pg_pipeline");
    if (!c || c->batch) {
        evf_log(r, EVF_LOG_ERROR, "database: %s", !c ? "the connection was "
                "released" : "one statement batch at a time per "
                "connection (use evf_pg_pipeline)");
        evf_raise(r, 500, NULL);
        return EVF_EINVAL;
    }
    pg_batch_t *b = evf_alloc(r, sizeof(*b));
    size_t ns = evf__pg_slots_needed(c, n, stmts);
    pg_slot_t *slots = b ? evf_alloc(r, ns * sizeof(*slots) + 1) : NULL;
    if (!slots || evf_defer(r, results_free, b) < 0) {
        evf_raise(r, 500, NULL);
        return EVF_EINVAL;
    }
    memset(b, 0, sizeof(*b));
    memset(slots, 0, ns * sizeof(*slots));
    b->slots = slots;
    if (evf__pg_send(c, b, n, stmts) < 0) {
        lost(h, "send");
        return EVF_EINVAL;
    }
    c->batch = b;
    int rc = evf__pg_pump(c, false);
    while (rc != PG_DONE) {
        if (rc == PG_LOST) {
            lost(h, "a query");
            return EVF_EINVAL;
        }
        int ev = evf_wait_fd(r, PQsocket(c->pg),
                             EVF_READ | (rc & PG_WR ? EVF_WRITE : 0), -1);
        if (ev == EVF_ETIMEDOUT)
            return EVF_ETIMEDOUT;   /* c->batch stays: closed at release */
        rc = evf__pg_pump(c, ev & EVF_READ);
    }
    c->batch = NULL;
    return batch_results(r, b, results, n);
}

static evf_pg_result *
one(evf_pg *h, const evf_pg_stmt *st)
{
    evf_pg_result *res = NULL;
    return evf_pg_pipeline(h, 1, st, &res) == 0 ? res : NULL;
}

evf_pg_result *
evf_pg_query(evf_pg *h, const char *sql, int nparams,
             const char *const *params)
{
    evf_pg_stmt st = { .sql = sql, .nparams = nparams, .params = params };
    return one(h, &st);
}

evf_pg_result *
evf_pg_prepared(evf_pg *h, const char *name, const char *sql, int nparams,
                const char *const *params)
{
    evf_pg_stmt st = { .sql = sql, .nparams = nparams, .params = params,
                       .name = name };
    return one(h, &st);
}

static int
simple(evf_pg *h, const char *sql)
{
    return evf_pg_query(h, sql, 0, NULL) ? 0 : EVF_ETIMEDOUT;
}

int
evf_pg_begin(evf_pg *h)
{
    return simple(h, "BEGIN");
}

int
evf_pg_commit(evf_pg *h)
{
    return simple(h, "COMMIT");
}

int
evf_pg_rollback(evf_pg *h)
{
    return simple(h, "ROLLBACK");
}

/* ---- LISTEN / NOTIFY ------------------------------------------------- */

int
evf_pg_listen(evf_pg *h, const char *channel)
{
    if (!h->conn)
        return EVF_EINVAL;
    char *id = PQescapeIdentifier(h->conn->pg, channel, strlen(channel));
    if (!id) {
        evf_raise(h->req, 500, NULL);
        return EVF_EINVAL;
    }
    char *sql = evf_alloc(h->req, strlen(id) + sizeof("LISTEN "));
    if (!sql) {
        PQfreemem(id);
        evf_raise(h->req, 500, NULL);
        return EVF_EINVAL;
    }
    sprintf(sql, "LISTEN %s", id);
    PQfreemem(id);
    h->conn->listened = true;
    return simple(h, sql);
}

static double
mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
evf_pg_wait_notify(evf_pg *h, double timeout, const char **channel,
                   const char **payload)
{
    evf_req *r = h->req;
    pg_conn_t *c = h->conn;
    if (evf_pool_on_thread())
        return evf__req_misuse(r, "evf_pg_wait_notify");
    if (!c || c->batch)
        return EVF_EINVAL;
    double until = timeout >= 0 ? mono_now() + timeout : -1;
    for (;;) {
        PGnotify *n = PQnotifies(c->pg);
        if (n) {
            const char *ch = evf_strdup(r, n->relname);
            const char *pl = evf_strdup(r, n->extra ? n->extra : "");
            PQfreemem(n);
            if (!ch || !pl) {
                evf_raise(r, 500, NULL);
                return EVF_EINVAL;
            }
            if (channel)
                *channel = ch;
            if (payload)
                *payload = pl;
            return 0;
        }
        double left = -1;
        if (until >= 0) {
            left = until - mono_now();
            if (left <= 0)
                return EVF_ETIMEDOUT;
        }
        int ev = evf_wait_fd(r, PQsocket(c->pg), EVF_READ, left);
        if (ev == EVF_ETIMEDOUT)
            continue;   /* the loop above decides (or the deadline did) */
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
            evf_log(r, EVF_LOG_ERROR, "database: connection lost while "
                    "listening: %s", evf__pg_error_line(c->pg));
            raise_unavailable(r);
            return EVF_EINVAL;
        }
    }
}

/* ---- statements on shared connections ----------------------------------- */

/* Request cleanup: the batch is the request's once finished, else the
 * connection's (it frees it when its results have come). */
static void
shared_release(void *arg)
{
    pg_batch_t *b = arg;
    if (b->finished) {
        evf__pg_batch_clear(b);
        evf_free(b);
    } else {
        b->orphan = true;
        b->task = NULL;
    }
}

int
evf_pg_pool_pipeline(evf_req *r, evf_pg_pool *p, size_t n,
                     const evf_pg_stmt *stmts, evf_pg_result **results)
{
    if (evf_pool_on_thread())
        return evf__req_misuse(r, "evf_pg_pool_pipeline");
    if (!p) {
        evf_log(r, EVF_LOG_ERROR, "database: no pool (see the log at "
                "startup)");
        raise_unavailable(r);
        return EVF_EINVAL;
    }
    pg_conn_t *c = evf__pg_shared_conn(p);
    if (!c) {
        /* None to share: borrow one (waiting in line) for this batch. */
        evf_pg *h = evf_pg_acquire(r, p);
        if (!h)
            return EVF_ETIMEDOUT;
        int rc = evf_pg_pipeline(h, n, stmts, results);
        if (rc == 0)
            handle_release(r, h);   /* back now, not at the end */
        return rc;
    }
    size_t ns = evf__pg_slots_needed(c, n, stmts);
    pg_batch_t *b = evf_calloc(1, sizeof(*b) + ns * sizeof(pg_slot_t));
    if (!b || evf_defer(r, shared_release, b) < 0) {
        evf_free(b);
        evf_raise(r, 500, NULL);
        return EVF_EINVAL;
    }
    b->slots = (pg_slot_t *)(b + 1);
    int unsent = 0;
    if (evf__pg_send(c, b, n, stmts) < 0 ||
        (unsent = PQflush(c->pg)) < 0) {
        b->finished = true;
        evf_log(r, EVF_LOG_ERROR, "database: connection lost during "
                "send: %s", evf__pg_error_line(c->pg));
        evf__pg_shared_fail(c);
        raise_unavailable(r);
        return EVF_EINVAL;
    }
    b->task = evf__req_task(r);
    if (c->tail)
        c->tail->qnext = b;
    else
        c->batch = b;
    c->tail = b;
    c->queued++;
    evf__pg_watch(c, EV_READ | (unsent ? EV_WRITE : 0));
    while (!b->finished)
        if (evf__task_await(b->task) == EVF_ETIMEDOUT && !b->finished) {
            b->task = NULL;     /* it completes unseen, freed at the end */
            return EVF_ETIMEDOUT;
        }
    if (b->lost) {
        raise_unavailable(r);
        return EVF_EINVAL;
    }
    return batch_results(r, b, results, n);
}

evf_pg_result *
evf_pg_pool_query(evf_req *r, evf_pg_pool *p, const evf_pg_stmt *st)
{
    evf_pg_result *res = NULL;
    return evf_pg_pool_pipeline(r, p, 1, st, &res) == 0 ? res : NULL;
}
