/*
 * pg: one libpq connection driven without blocking (pg_conn.c), shared by
 * the pool and the request API (pg.c).
 *
 * A connection is always in pipeline mode once open: every exchange is a
 * batch of statements ended by a sync, whose results are collected by
 * evf__pg_pump() as the socket becomes readable (and flushed as it
 * becomes writable).  Whoever drives the connection (a request's task, or
 * the pool's own watcher when no request holds it) waits for the events
 * evf__pg_pump() asks for.  Runs on the loop's thread.
 */
#ifndef EVF_PG_H
#define EVF_PG_H

#include <ev.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "evfcgi_pg.h"
#include "task.h"

/* One result slot of a batch (a prepare's or a statement's). */
typedef struct pg_slot {
    PGresult *res;
    const char *name;       /* a prepare: the statement name */
    bool prepare;
} pg_slot_t;

typedef struct pg_batch {
    pg_slot_t *slots;
    size_t n;
    size_t next;            /* slot the next result belongs to */
    bool done;              /* the sync came back */
    PGresult *error;        /* the first failed result (in its slot) */
    /* Shared connections (pg.c): the queue of batches in flight. */
    struct pg_batch *qnext;
    void *task;             /* to wake when finished (NULL: nobody) */
    bool finished;          /* out of the queue: done, or lost */
    bool lost;
    bool orphan;            /* its request ended: the queue frees it */
} pg_batch_t;

/*
 * SHARED: carrying the pipelined batches of several requests (autocommit
 * statements), driven by the pool's watcher; back to IDLE once drained.
 */
enum { PG_CONNECTING, PG_IDLE, PG_HELD, PG_RESETTING, PG_SHARED };

typedef struct pg_conn {
    struct pg_conn *next, *prev;    /* the pool's list */
    struct evf_pg_pool *pool;
    PGconn *pg;
    int state;
    ev_io io;                       /* the pool's watcher (not HELD) */
    int watching;                   /* its events */
    ev_timer timer;                 /* connect timeout */
    char **prepared;                /* statement names prepared here */
    size_t nprepared;
    bool listened;                  /* LISTEN ran: UNLISTEN before reuse */
    bool broken;                    /* lost under a request: close it */
    pg_batch_t *batch;              /* in flight (SHARED: the first) */
    pg_batch_t *tail;               /* SHARED: the last in flight */
    unsigned queued;                /* SHARED: batches in flight */
    pg_batch_t own;                 /* the pool's batch (reset) */
    pg_slot_t own_slots[2];
} pg_conn_t;

/* evf__pg_pump: what it found. */
#define PG_DONE   0x10      /* the batch's sync came back */
#define PG_RD     0x01      /* wait until readable, then pump again */
#define PG_WR     0x02      /* ... and writable (output pending) */
#define PG_LOST   (-1)      /* the connection is broken */

/* Is name prepared on c?  Remember / forget it (0 or -1 out of memory). */
bool evf__pg_is_prepared(const pg_conn_t *c, const char *name);
int evf__pg_add_prepared(pg_conn_t *c, const char *name);
void evf__pg_forget_prepared(pg_conn_t *c, const char *name);

/*
 * Queue stmts on c into b (its slots allocated by the caller: n plus one
 * per statement to prepare, see evf__pg_slots_needed), then the sync.  0,
 * or PG_LOST when libpq refused (the connection is unusable).  The caller
 * then makes b c->batch (or queues it behind it).
 */
size_t evf__pg_slots_needed(const pg_conn_t *c, size_t n,
                            const evf_pg_stmt *stmts);
int evf__pg_send(pg_conn_t *c, pg_batch_t *b, size_t n,
                 const evf_pg_stmt *stmts);

/*
 * Read what has arrived (readable: consume input first), collect results
 * into c->batch, flush output.  PG_DONE, PG_RD[|PG_WR] to wait, PG_LOST.
 */
int evf__pg_pump(pg_conn_t *c, bool readable);

/* A connection-level failure (class 08, 57P): the session is gone. */
bool evf__pg_error_is_fatal(const PGresult *res);

/* Free every result of b (PQclear). */
void evf__pg_batch_clear(pg_batch_t *b);

/* ---- pools (pg_pool.c) --------------------------------------------- */

/* A request's hold on a connection, or its place in the waiters' queue. */
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

/* libpq's last error on one line, for the log (a static buffer). */
const char *evf__pg_error_line(const PGconn *pg);
/* The pool's watcher on c: wait for events / stop (and its timer). */
void evf__pg_watch(pg_conn_t *c, int events);
void evf__pg_unwatch(pg_conn_t *c);
/* Open connections up to min_size, and one per waiter up to max_size. */
void evf__pg_start_connections(evf_pg_pool *p);
/* A request let c go: reset it and give it back, or close it if busy. */
void evf__pg_conn_release(pg_conn_t *c);
/* A connection to pipeline a batch on (SHARED from then on), or NULL. */
pg_conn_t *evf__pg_shared_conn(evf_pg_pool *p);
/* A shared connection failed: its batches are lost, it is closed. */
void evf__pg_shared_fail(pg_conn_t *c);

#endif
