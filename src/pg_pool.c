/*
 * pg_pool: a worker's PostgreSQL pools (see pg.h): their connections,
 * opened, health-checked, reset, shared and replaced on the loop by the
 * pool's own watchers while no request holds them, and the FIFO of
 * requests waiting for one.
 *
 * DESIGN.  A connection is CONNECTING (PQconnectPoll driven by its
 * watcher), IDLE (watched for readability: the server closing it, or a
 * stray notification, is noticed at once), HELD by a request (its task
 * drives the socket with evf_wait_fd; the pool's watcher is stopped),
 * RESETTING (ROLLBACK / UNLISTEN sent by the pool after a request left it
 * in a transaction or listening), or SHARED (carrying the pipelined
 * batches of several requests, in order; back to IDLE once drained).  A
 * connection a request leaves with a batch still in flight (deadline,
 * client gone, raise mid-query) is closed, never reused and never
 * cancelled (PQcancel blocks).  Errors that lose the session close the
 * connection; the pool reopens up to min_size, backing off while the
 * database is unreachable (requests get 503 meanwhile).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "loop.h"
#include "mem.h"
#include "pg.h"

#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 2.0

static void conn_io_cb(struct ev_loop *loop, ev_io *w, int revents);

/* libpq's last error on one line (for the log; loop thread only). */
const char *
evf__pg_error_line(const PGconn *pg)
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

/* ---- connections (pool side) ---------------------------------------- */

void
evf__pg_watch(pg_conn_t *c, int events)
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

void
evf__pg_unwatch(pg_conn_t *c)
{
    ev_io_stop(evf__loop(), &c->io);
    ev_timer_stop(evf__loop(), &c->timer);
}

/* Close c and forget it (it must not be held). */
static void
conn_close(pg_conn_t *c)
{
    evf_pg_pool *p = c->pool;
    evf__pg_unwatch(c);
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
            evf_log_error("database: cannot connect: %s",
                          evf__pg_error_line(c->pg));
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
        evf__pg_start_connections(p);
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
        evf__pg_unwatch(c);
        evf__task_wake(h->task, 0);
        return;
    }
    c->state = PG_IDLE;
    evf__pg_watch(c, EV_READ);
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
    evf__pg_start_connections(p);   /* the rest, after a probe */
}

static void
connect_poll(pg_conn_t *c)
{
    switch (PQconnectPoll(c->pg)) {
    case PGRES_POLLING_READING:
        evf__pg_watch(c, EV_READ);
        break;
    case PGRES_POLLING_WRITING:
        evf__pg_watch(c, EV_WRITE);
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
        evf__pg_watch(c, EV_READ | (rc & PG_WR ? EV_WRITE : 0));
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
void
evf__pg_shared_fail(pg_conn_t *c)
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
                      evf__pg_error_line(c->pg));
        evf__pg_shared_fail(c);
    } else if (!c->batch) {
        conn_put_back(c);   /* drained: idle, or to a waiter */
    } else {
        evf__pg_watch(c, EV_READ | (rc & PG_WR ? EV_WRITE : 0));
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
    evf__pg_watch(c, EV_WRITE);
}

/*
 * Open connections up to min_size, and one per waiter up to max_size.
 * Not while the database is down: the retry timer probes with one (a
 * connection string libpq refuses at once would otherwise loop here).
 */
void
evf__pg_start_connections(evf_pg_pool *p)
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
        evf__pg_start_connections(p);
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
    evf__pg_start_connections(p);
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

/* ---- connections a request leaves ------------------------------------- */

void
evf__pg_conn_release(pg_conn_t *c)
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

/* ---- sharing ------------------------------------------------------------ */

#define SHARED_DEPTH 32     /* batches in flight per shared connection */

/*
 * The least busy shared connection, else an idle one (it becomes shared),
 * else the least busy even if deep; NULL when every connection is held or
 * opening.
 */
pg_conn_t *
evf__pg_shared_conn(evf_pg_pool *p)
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
