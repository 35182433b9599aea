/*
 * evfcgi_pg.h: asynchronous PostgreSQL for evfcgi handlers (libpq on the
 * daemon's loop), with a connection pool used as a dependency.
 *
 * Every call that talks to the server suspends only the calling request:
 * connections are non-blocking, their sockets awaited on the loop.  A
 * pool belongs to one worker process (create it in the app's startup
 * hook); a request acquires a connection from it, usually through a
 * dependency, and holds it until the request ends:
 *
 *     static evf_pg_pool *pool;
 *     static void *db(evf_req *r) { return evf_pg_acquire(r, pool); }
 *     static const evf_dep db_dep = { .name = "db", .resolve = db };
 *
 *     static void
 *     user(evf_req *r)
 *     {
 *         evf_pg *c = evf_depends(r, &db_dep);
 *         const char *id = evf_path_str(r, "id");
 *         evf_pg_result *res = evf_pg_query(c, "SELECT name FROM users "
 *                                           "WHERE id = $1", 1, &id);
 *         if (evf_pg_ntuples(res) == 0)
 *             evf_raise(r, 404, NULL);
 *         evf_json_printf(r, 200, "{\"name\":\"%s\"}", ...);
 *     }
 *
 * Failures end the request like evf_raise, so a handler only sees
 * successful results: a query error answers 500 {"detail":"Internal Server
 * Error"} (the SQLSTATE and message go to the log, never to the client);
 * a lost connection or an unavailable database answers 503 with
 * Retry-After; the request's deadline answers 504 (with
 * evf_deadline_returns, the call returns NULL instead).  A connection
 * whose request ended mid-query (deadline, client gone, raise) is closed,
 * never reused; one still inside a transaction is rolled back before it
 * goes back to the pool.  Results belong to the request and are freed
 * when it ends.
 */
#ifndef EVFCGI_PG_H
#define EVFCGI_PG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evfcgi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evf_pg_pool evf_pg_pool;
typedef struct evf_pg evf_pg;               /* a connection held by a request */
typedef struct evf_pg_result evf_pg_result;

typedef struct evf_pg_pool_opts {
    /*
     * libpq connection string or URI.  NULL: the app option database_url,
     * else the DATABASE_URL environment variable.  Give an IP address or
     * a unix socket directory: libpq resolves host names synchronously,
     * which would hold up the loop.
     */
    const char *url;
    unsigned min_size;      /* connections kept open; default 1 */
    unsigned max_size;      /* per worker; default 10 */
    unsigned max_waiters;   /* requests queued for a connection; default 1024 */
    double connect_timeout; /* seconds; default 5 */
} evf_pg_pool_opts;

/*
 * A pool for this worker (call from the app's startup hook; app may be
 * NULL when o->url is given).  Connections open in the background: a
 * database that is down does not stop the worker, requests get 503 until
 * it comes back (reconnection backs off up to a few seconds).  NULL when
 * no connection string was given (logged).
 */
evf_pg_pool *evf_pg_pool_new(evf_app_ctx *app, const evf_pg_pool_opts *o);
/* Close every connection (the app's shutdown hook).  Held ones first go. */
void evf_pg_pool_free(evf_pg_pool *p);

/*
 * A connection for request r, held until r ends (then rolled back if a
 * transaction is open, and returned).  Waits in FIFO order when all are
 * busy; answers 503 with Retry-After (and does not return) when the
 * database is unavailable or too many requests are waiting already.
 */
evf_pg *evf_pg_acquire(evf_req *r, evf_pg_pool *p);

/*
 * One statement with text parameters ($1..$n; a NULL pointer is SQL NULL).
 * name: a prepared statement cached by that name on each connection
 * (prepared on first use, transparently); NULL: an unnamed one.
 */
typedef struct evf_pg_stmt {
    const char *sql;
    int nparams;
    const char *const *params;
    const char *name;
} evf_pg_stmt;

/* Run sql once (unnamed statement).  Never NULL unless told above. */
evf_pg_result *evf_pg_query(evf_pg *c, const char *sql, int nparams,
                            const char *const *params);
/* The same through the connection's prepared statement called name. */
evf_pg_result *evf_pg_prepared(evf_pg *c, const char *name, const char *sql,
                               int nparams, const char *const *params);
/*
 * Pipeline: send n statements at once and await all results (one round
 * trip).  results[i] is stmts[i]'s.  Outside a transaction they run as one
 * implicit transaction: if one fails, none takes effect (500).  Returns 0.
 */
int evf_pg_pipeline(evf_pg *c, size_t n, const evf_pg_stmt *stmts,
                    evf_pg_result **results);

/*
 * Autocommit statements on a connection shared with other requests,
 * without holding one: the batches of concurrent requests are pipelined
 * on it back to back (many requests per round trip), so a small pool
 * serves many requests.  For short statements outside transactions (no
 * BEGIN, LISTEN or session state).  Failures as for evf_pg_pipeline; at
 * the deadline or when the client leaves, the statements still complete
 * on the server and their results are dropped (the connection is kept).
 * When no connection can be shared, one is borrowed for the batch.
 */
int evf_pg_pool_pipeline(evf_req *r, evf_pg_pool *p, size_t n,
                         const evf_pg_stmt *stmts, evf_pg_result **results);
evf_pg_result *evf_pg_pool_query(evf_req *r, evf_pg_pool *p,
                                 const evf_pg_stmt *st);

/* BEGIN / COMMIT / ROLLBACK.  An open transaction is rolled back at the
 * end of the request (raise, deadline, client gone, or forgotten). */
int evf_pg_begin(evf_pg *c);
int evf_pg_commit(evf_pg *c);
int evf_pg_rollback(evf_pg *c);

/* LISTEN on channel (any name: it is quoted), for this request. */
int evf_pg_listen(evf_pg *c, const char *channel);
/*
 * Await a notification on the channels listened to, for up to timeout
 * seconds (< 0: no limit but the deadline).  0 with *channel and *payload
 * (request memory; either pointer may be NULL), or EVF_ETIMEDOUT.
 */
int evf_pg_wait_notify(evf_pg *c, double timeout, const char **channel,
                       const char **payload);

/* Results, read in text format.  Out-of-range cells read as NULL. */
int evf_pg_ntuples(const evf_pg_result *res);
int evf_pg_nfields(const evf_pg_result *res);
/* Rows affected by INSERT/UPDATE/DELETE (0 otherwise). */
int64_t evf_pg_affected(const evf_pg_result *res);
bool evf_pg_isnull(const evf_pg_result *res, int row, int col);
/* The value as text (request memory's lifetime); NULL for SQL NULL. */
const char *evf_pg_text(const evf_pg_result *res, int row, int col);
/* Numbers and booleans; 0 / false for NULL or an unreadable value. */
int evf_pg_int(const evf_pg_result *res, int row, int col);
int64_t evf_pg_int64(const evf_pg_result *res, int row, int col);
double evf_pg_float(const evf_pg_result *res, int row, int col);
bool evf_pg_bool(const evf_pg_result *res, int row, int col);

#ifdef __cplusplus
}
#endif

#endif /* EVFCGI_PG_H */
