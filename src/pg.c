/*
 * pg: the PostgreSQL pool and the request API of evfcgi_pg.h.
 *
 * Owns a worker's pools: their connections (opened, health-checked,
 * reset and replaced on the loop by the pool's own watchers while no
 * request holds them), the FIFO of requests waiting for one, and the
 * request side: acquire, statements, transactions, LISTEN, results.
 *
 * DESIGN.  A connection is CONNECTING (PQconnectPoll driven by its
 * watcher), IDLE (watched for readability: the server closing it, or a
 * stray notification, is noticed at once), HELD by a request (its task
 * drives the socket with evf_wait_fd; the pool's watcher is stopped), or
 * RESETTING (ROLLBACK / UNLISTEN sent by the pool after a request left it
 * in a transaction or listening).  A request holds a connection until its
 * teardown, which hands it back: a connection with a batch still in
 * flight (deadline, client gone, raise mid-query) is closed, never reused
 * and never cancelled (PQcancel blocks).  Errors that lose the session
 * close the connection; the pool reopens up to min_size, backing off
 * while the database is unreachable, and answers 503 meanwhile.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "loop.h"
#include "mem.h"
#include "pg.h"
#include "pool.h"
#include "request.h"

#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 2.0

struct evf_pg {
    evf_pg_pool *pool;
    evf_req *req;
    pg_conn_t *conn;
    struct evf_pg *wnext;       /* the pool's queue of waiters */
    evf_task_t *task;           /* awaiting a connection */
    bool waiting;
};

struct evf_pg_pool {
    char *url;
    unsigned min, max, max_waiters;
    double connect_timeout;
    pg_conn_t *conns;           /* every connection */
    unsigned total, connecting, ready;
    evf_pg *whead, *wtail;
    unsigned nwaiting;
    bool down;                  /* the last connection attempt failed */
    bool closing;
    double backoff;
    ev_timer retry;
};

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* libpq's last error on one line (for the log; loop thread only). */
static const char *
pq_error(const PGconn *pg)
{
    static char line[512];
    const char *m = pg ? PQerrorMessage(pg) : "out of memory";
    size_t n = 0;
    for (; *m && n < sizeof(line) - 1; m++)
        if (*m != '\n' || (m[1] && n && line[n - 1] != ' '))
            line[n++] = *m == '\n' || *m == '\t' ? ' ' : *m;
    while (n && line[n - 1] == ' ')
        n--;
    line[n] = '\0';
    return line;
}
static void start_connections(evf_pg_pool *p);

/* ---- connections (pool side) ---------------------------------------- */

static void
watch(pg_conn_t *c, int events)
{
    struct ev_loop *loop = evf__loop();
    int fd = PQsocket(c->pg);
    /* Unchanged: no epoll_ctl (a shared connection is re-armed often). */
    if (ev_is_active(&c->io) && c->io.fd == fd && c->watching == events)
        return;
    c->watching = events;
    ev_io_stop(loop, &c->io);
    if (fd < 0)
        return;
    ev_io_set(&c->io, fd, events);
    ev_io_start(loop, &c->io);
}

static void
unwatch(pg_conn_t *c)
{
    ev_io_stop(evf__loop(), &c->io);
    ev_timer_stop(evf__loop(), &c->timer);
}

/* Close c and forget it (it must not be held). */
static void
conn_close(pg_conn_t *c)
{
    evf_pg_pool *p = c->pool;
    unwatch(c);
    if (c->state == PG_CONNECTING)
        p->connecting--;
    else
        p->ready--;
    p->total--;
    if (c->prev)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->batch == &c->own)
        evf__pg_batch_clear(&c->own);
    PQfinish(c->pg);
    for (size_t i = 0; i < c->nprepared; i++)
        evf_free(c->prepared[i]);
    evf_free(c->prepared);
    evf_free(c);
}

static void
schedule_retry(evf_pg_pool *p)
{
    if (p->closing || ev_is_active(&p->retry))
        return;
    p->backoff = p->backoff <= 0 ? BACKOFF_MIN : p->backoff * 2;
    if (p->backoff > BACKOFF_MAX)
        p->backoff = BACKOFF_MAX;
    ev_timer_set(&p->retry, p->backoff, 0.);
    ev_timer_start(evf__loop(), &p->retry);
}

/* Fail every waiter (the database is unreachable): they answer 503. */
static void
fail_waiters(evf_pg_pool *p)
{
    while (p->whead) {
        evf_pg *h = p->whead;
        p->whead = h->wnext;
        h->waiting = false;
        evf__task_wake(h->task, -1);
    }
    p->wtail = NULL;
    p->nwaiting = 0;
}

/* A connection was lost or could not be opened: replace it later. */
static void
conn_lost(pg_conn_t *c, bool connecting)
{
    evf_pg_pool *p = c->pool;
    if (connecting) {
        if (!p->down)
            evf_log_error("database: cannot connect: %s", pq_error(c->pg));
        p->down = true;
    }
    conn_close(c);
    if (p->closing)
        return;
    if (p->down) {
        if (!p->ready && !p->connecting)
            fail_waiters(p);
        schedule_retry(p);
    } else {
        start_connections(p);
    }
}

/* Give a ready connection to the first waiter, or keep it idle. */
static void
conn_put_back(pg_conn_t *c)
{
    evf_pg_pool *p = c->pool;
    evf_pg *h = p->whead;
    if (h) {
        p->whead = h->wnext;
        if (!p->whead)
            p->wtail = NULL;
        p->nwaiting--;
        h->waiting = false;
        h->conn = c;
        c->state = PG_HELD;
        unwatch(c);
        evf__task_wake(h->task, 0);
        return;
    }
    c->state = PG_IDLE;
    watch(c, EV_READ);
}

static void
conn_ready(pg_conn_t *c)
{
    evf_pg_pool *p = c->pool;
    ev_timer_stop(evf__loop(), &c->timer);
    if (PQsetnonblocking(c->pg, 1) != 0 || !PQenterPipelineMode(c->pg)) {
        conn_lost(c, true);
        return;
    }
    p->connecting--;
    p->ready++;
    if (p->down)
        evf_log_info("database: connected again");
    p->down = false;
    p->backoff = 0;
    conn_put_back(c);
    start_connections(p);   /* the rest, after a probe */
}

static void
connect_poll(pg_conn_t *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        watch(c, EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        watch(c, EV_WRITE);
        break;
    case PGRES_POLLING_OK:
        conn_ready(c);
        break;
    default:
        conn_lost(c, true);
        break;
    }
}

static void
connect_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    pg_conn_t *c = w->data;
    (void)loop, (void)revents;
    if (!c->pool->down)
        evf_log_error("database: connection timed out");
    c->pool->down = true;
    conn_lost(c, false);
}

/* The reset batch after a request: done, the connection is clean. */
static void
reset_pump(pg_conn_t *c, bool readable)
{
    int rc = evf__pg_pump(c, readable);
    if (rc == PG_LOST) {
        conn_lost(c, false);
    } else if (rc == PG_DONE) {
        bool failed = c->own.error != NULL;
        evf__pg_batch_clear(&c->own);
        c->batch = NULL;
        if (failed)
            conn_lost(c, false);
        else
            conn_put_back(c);
    } else {
        watch(c, EV_READ | (rc & PG_WR ? EV_WRITE : 0));
    }
}

/* ---- shared connections ---------------------------------------------- */

/* Take the first batch out of c's queue: wake its request, or free it. */
static void
shared_finish(pg_conn_t *c, bool lost)
{
    pg_batch_t *b = c->batch;
    c->batch = b->qnext;
    if (!c->batch)
        c->tail = NULL;
    c->queued--;
    b->qnext = NULL;
    b->lost = lost;
    if (b->orphan) {
        evf__pg_batch_clear(b);
        evf_free(b);
        return;
    }
    b->finished = true;
    if (b->task)
        evf__task_wake(b->task, 0);
}

/* The connection failed: every batch in flight is lost. */
static void
shared_fail(pg_conn_t *c)
{
    while (c->batch)
        shared_finish(c, true);
    conn_lost(c, false);
}

/* Collect the results of the batches in flight, in order. */
static void
shared_pump(pg_conn_t *c, bool readable)
{
    int rc = evf__pg_pump(c, readable);
    while (rc == PG_DONE) {
        shared_finish(c, false);
        if (!c->batch)
            break;
        rc = evf__pg_pump(c, false);
    }
    if (rc == PG_LOST) {
        evf_log_error("database: shared connection lost: %s",
                      pq_error(c->pg));
        shared_fail(c);
    } else if (!c->batch) {
        conn_put_back(c);   /* drained: idle, or to a waiter */
    } else {
        watch(c, EV_READ | (rc & PG_WR ? EV_WRITE : 0));
    }
}

static void
conn_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    pg_conn_t *c = w->data;
    (void)loop;
    switch (c->state) {
    case PG_SHARED:
        shared_pump(c, revents & EV_READ);
        break;
    case PG_CONNECTING:
        connect_poll(c);
        break;
    case PG_RESETTING:
        reset_pump(c, revents & EV_READ);
        break;
    case PG_IDLE:
        /* Health check: the server closed it, or sent a notice. */
        if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
            evf_log_warn("database: idle connection lost");
            conn_lost(c, false);
            return;
        }
        for (PGnotify *n; (n = PQnotifies(c->pg));)
            PQfreemem(n);
        break;
    default:
        break;
    }
}

static void
conn_start(evf_pg_pool *p)
{
    pg_conn_t *c = evf_calloc(1, sizeof(*c));
    if (!c)
        return;
    c->pool = p;
    c->state = PG_CONNECTING;
    ev_init(&c->io, conn_io_cb);
    c->io.data = c;
    ev_init(&c->timer, connect_timeout_cb);
    c->timer.data = c;
    c->next = p->conns;
    if (p->conns)
        p->conns->prev = c;
    p->conns = c;
    p->total++;
    p->connecting++;
    c->pg = PQconnectStart(p->url);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        if (!c->pg) {
            evf_log_error("database: out of memory");
            p->connecting--, p->total--;
            p->conns = c->next;
            if (c->next)
                c->next->prev = NULL;
            evf_free(c);
            return;
        }
        conn_lost(c, true);
        return;
    }
    ev_timer_set(&c->timer, p->connect_timeout, 0.);
    ev_timer_start(evf__loop(), &c->timer);
    /* As if PQconnectPoll had said PGRES_POLLING_WRITING. */
    watch(c, EV_WRITE);
}

/*
 * Open connections up to min_size, and one per waiter up to max_size.
 * Not while the database is down: the retry timer probes with one (a
 * connection string libpq refuses at once would otherwise loop here).
 */
static void
start_connections(evf_pg_pool *p)
{
    if (p->closing)
        return;
    while (!p->down && p->total < p->min)
        conn_start(p);
    while (!p->down && p->total < p->max && p->connecting < p->nwaiting)
        conn_start(p);
}

static void
retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    evf_pg_pool *p = w->data;
    (void)loop, (void)revents;
    if (p->total == 0)
        conn_start(p);      /* a probe: the others follow once it works */
    else
        start_connections(p);
}

evf_pg_pool *
evf_pg_pool_new(evf_app_ctx *app, const evf_pg_pool_opts *o)
{
    evf_pg_pool_opts d = { 0 };
    if (!o)
        o = &d;
    const char *url = o->url;
    if (!url && app)
        url = evf_app_option(app, "database_url");
    if (!url)
        url = getenv("DATABASE_URL");
    if (!url || !*url) {
        evf_log_error("database: no connection string (set the app option "
                      "database_url or DATABASE_URL)");
        return NULL;
    }
    evf_pg_pool *p = evf_calloc(1, sizeof(*p));
    if (!p || !(p->url = evf_mem_strdup(url))) {
        evf_free(p);
        return NULL;
    }
    p->min = o->min_size ? o->min_size : 1;
    p->max = o->max_size ? o->max_size : 10;
    if (p->max < p->min)
        p->max = p->min;
    p->max_waiters = o->max_waiters ? o->max_waiters : 1024;
    p->connect_timeout = o->connect_timeout > 0 ? o->connect_timeout : 5;
    ev_init(&p->retry, retry_cb);
    p->retry.data = p;
    start_connections(p);
    return p;
}

void
evf_pg_pool_free(evf_pg_pool *p)
{
    if (!p)
        return;
    p->closing = true;
    ev_timer_stop(evf__loop(), &p->retry);
    fail_waiters(p);
    for (pg_conn_t *c = p->conns, *next; c; c = next) {
        next = c->next;
        while (c->state == PG_SHARED && c->batch)
            shared_finish(c, true);
        if (c->state != PG_HELD)
            conn_close(c);
        else
            c->pool = NULL;     /* closed when its request lets it go */
    }
    evf_free(p->url);
    evf_free(p);
}

/* ---- acquire and release (request side) ----------------------------- */

static int
raise_unavailable(evf_req *r)
{
    static const char *const hdrs[] = { "Retry-After: 1", NULL };
    return evf_raise_headers(r, 503, NULL, hdrs);
}

/* A connection a request left: reset it, or close it if it is busy. */
static void
conn_release(pg_conn_t *c)
{
    if (!c->pool) {         /* its pool was freed meanwhile */
        PQfinish(c->pg);
        for (size_t i = 0; i < c->nprepared; i++)
            evf_free(c->prepared[i]);
        evf_free(c->prepared);
        evf_free(c);
        return;
    }
    if (c->batch || c->broken || PQstatus(c->pg) == CONNECTION_BAD ||
        PQpipelineStatus(c->pg) != PQ_PIPELINE_ON) {
        /* Mid-query: its results would follow; never reuse it busy. */
        conn_lost(c, false);
        return;
    }
    PGTransactionStatusType ts = PQtransactionStatus(c->pg);
    evf_pg_stmt st[2];
    size_t n = 0;
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR)
        st[n++] = (evf_pg_stmt){ .sql = "ROLLBACK" };
    if (c->listened)
        st[n++] = (evf_pg_stmt){ .sql = "UNLISTEN *" };
    c->listened = false;
    if (ts != PQTRANS_IDLE && ts != PQTRANS_INTRANS &&
        ts != PQTRANS_INERROR) {
        conn_lost(c, false);
        return;
    }
    if (!n) {
        conn_put_back(c);
        return;
    }
    c->own.slots = c->own_slots;
    if (evf__pg_send(c, &c->own, n, st) < 0) {
        conn_lost(c, false);
        return;
    }
    c->batch = &c->own;
    c->state = PG_RESETTING;
    reset_pump(c, false);
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
        conn_release(c);
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
            unwatch(c);
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
    start_connections(p);
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
            "%s", what, pq_error(h->conn->pg));
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
                    "listening: %s", pq_error(c->pg));
            raise_unavailable(r);
            return EVF_EINVAL;
        }
    }
}

/* ---- statements on shared connections ----------------------------------- */

#define SHARED_DEPTH 32     /* batches in flight per shared connection */

/* The connection to pipeline on: the least busy shared one, else an idle
 * one (it becomes shared), else the least busy even if deep; NULL when
 * every connection is held or opening. */
static pg_conn_t *
shared_conn(evf_pg_pool *p)
{
    pg_conn_t *best = NULL, *idle = NULL;
    for (pg_conn_t *c = p->conns; c; c = c->next)
        if (c->state == PG_SHARED && (!best || c->queued < best->queued))
            best = c;
        else if (c->state == PG_IDLE && !idle)
            idle = c;
    if (best && best->queued < SHARED_DEPTH)
        return best;
    if (idle) {
        idle->state = PG_SHARED;
        return idle;
    }
    if (best && !p->down && p->total < p->max && !p->connecting)
        conn_start(p);      /* grow: the next ones may use it */
    return best;
}

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
    pg_conn_t *c = shared_conn(p);
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
                "send: %s", pq_error(c->pg));
        shared_fail(c);
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
    watch(c, EV_READ | (unsent ? EV_WRITE : 0));
    while (!b->finished)
        if (evf__task_await(b->task) == EVF_ETIMEDOUT && !b->finished) {
            b->task = NULL;     /* it completes unseen, freed at the end */
            return EVF_ETIMEDOUT;
        }
    if (b->lost) {
        raise_unavailable(r);
        return EVF_EINVAL;
    }
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

evf_pg_result *
evf_pg_pool_query(evf_req *r, evf_pg_pool *p, const evf_pg_stmt *st)
{
    evf_pg_result *res = NULL;
    return evf_pg_pool_pipeline(r, p, 1, st, &res) == 0 ? res : NULL;
}
