/*
 * test_deps: dependencies, teardowns and background tasks (suite "deps").
 *
 * As in test_request, a real libev loop serves a real connection: one end
 * of a socketpair is adopted with evf_conn_new() and the test plays the
 * web server on the other (fcgi_peer.h), writing FastCGI records by hand
 * and decoding STDOUT and END_REQUEST per request id.  The routes below
 * declare dependencies (evf_dep); what the dependencies, teardowns,
 * handlers and background tasks did is written to a trail ("A,B,C,h") and
 * to counters, and the tests check both.  The thread pool runs (4 threads)
 * for blocking dependencies and routes.
 *
 * Covered: sub-dependencies resolve before their dependant and all before
 * the handler; one run per request for a cached dependency, one per use
 * for a no_cache one (and the value its dependant gets is that run's), a
 * fresh cache per request; independent dependencies sleeping concurrently,
 * and a shared one awaited by two branches running once; teardowns after
 * the answer was sent (END_REQUEST is already in the client's socket), in
 * reverse order, also after evf_raise, FCGI_ABORT_REQUEST and a closed
 * connection; a dependency raising 401, on the loop or on a pool thread
 * (handler not run, earlier teardowns run); a cycle refused at load with
 * its path in the log, leaving the router as it was; app-wide
 * dependencies; evf_depends() at run time; background tasks after the
 * answer and before teardowns, and not after an abort or a raise; a
 * blocking dependency on a pool thread, also when its request is
 * cancelled meanwhile; and no pool deadlock with 5 concurrent blocking
 * requests over 4 threads and 4 "connections" (fastapi#3205).  Heap
 * memory held by dependencies is freed by their teardowns only, so a
 * teardown that did not run shows as a leak under ASan.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fastcgi.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "deps.h"
#include "deps_graph.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "settings.h"
#include "stats.h"
#include "unit.h"

#define POOL_THREADS 4
#define DB_CONNS POOL_THREADS   /* "connections" of the fake DB pool */
#define DB_CLIENTS (POOL_THREADS + 1)

/* What the dependencies, handlers, teardowns and tasks saw and did. */
static struct {
    char trail[512];        /* loop-thread events, comma-separated */
    unsigned h_runs;        /* handlers that ran */
    unsigned d_runs, n_runs, m_runs, sh_runs, app_runs, rt_runs;
    int d_seen[3];          /* D's value as X, Y and the handler saw it */
    uintptr_t d_ptr[3];
    uintptr_t m_resolved, m_fetched;
    uintptr_t br[2];        /* what the two branches got from SH */
    int br_val[2];
    uintptr_t rt_ptr[2];
    /* teardowns */
    uint16_t id;            /* the request teardowns check the client for */
    unsigned td_runs;
    unsigned td_saw_end;    /* teardowns that found END_REQUEST sent */
    unsigned td_off_loop;   /* teardowns that ran off the loop thread */
    uint64_t td_in_flight;  /* evf_stats.in_flight in the last teardown */
    /* background */
    bool bg_done;
    double bg_t;
    uint64_t bg_in_flight;  /* evf_stats.in_flight when the task ended */
    bool bg_dep_ok;         /* a dependency's value was intact there */
    /* blocking dependencies (written on a pool thread) */
    pthread_t blk_thread;
    bool blk_on_pool;
    atomic_uint blk_runs;
    atomic_uint blk_td_runs;
    atomic_bool blk_started;    /* BLKSLOW is running on its pool thread */
    atomic_bool blk_release;    /* the test lets it return */
} g;

/* The fake DB pool of fastapi#3205: DB_CONNS connections, waits if none. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned free;
    unsigned held_max;      /* most held at once */
    unsigned waits;         /* acquisitions that found none free */
    unsigned acquired, released, timeouts;
    unsigned release_off_loop;
} db = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .cond = PTHREAD_COND_INITIALIZER,
};

/* open_conn: fresh records. */
static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
}

/*
 * True when the END_REQUEST of id has reached the client: decoded
 * already, or waiting in the client's socket (peeked, not consumed).
 */
static bool
client_has_end(uint16_t id)
{
    static uint8_t buf[PEER_CHUNK];
    const uint8_t want[6] = { FCGI_VERSION_1, FCGI_END_REQUEST,
                              (uint8_t)(id >> 8), (uint8_t)id, 0, 8 };

    if (cl.rsp[id] && cl.rsp[id]->ends)
        return true;
    if (cl.fd < 0)
        return false;
    ssize_t n = recv(cl.fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
    for (ssize_t i = 0; i + 6 <= n; i++)
        if (memcmp(buf + i, want, sizeof(want)) == 0)
            return true;
    return false;
}

/* arg: an unsigned count of teardowns to wait for. */
static bool
td_reached(const void *arg)
{
    return g.td_runs >= *(const unsigned *)arg;
}

/* arg: a string the trail must equal (a run_until predicate). */
static bool
trail_now(const void *arg)
{
    return strcmp(g.trail, arg) == 0;
}

/* Append an event to the trail (loop thread only). */
static void
note(const char *ev)
{
    size_t n = strlen(g.trail);
    snprintf(g.trail + n, sizeof(g.trail) - n, "%s%s", n ? "," : "", ev);
}

static bool
trail_is(const char *want)
{
    if (strcmp(g.trail, want) == 0)
        return true;
    fprintf(stderr, "\n    trail \"%s\", want \"%s\"\n", g.trail, want);
    return false;
}

/* ---- dependencies ------------------------------------------------------- */

static const evf_dep dep_a, dep_b, dep_a2, dep_b2, dep_d, dep_n, dep_m;
static const evf_dep dep_sh, dep_t1, dep_t2;

/* Order: C needs A and B; C2 needs A2 (slow) and B2 (fast). */
static void *
r_a(evf_req *r)
{
    (void)r;
    note("A");
    return (void *)"a";
}

static void *
r_b(evf_req *r)
{
    (void)r;
    note("B");
    return (void *)"b";
}

static void *
r_c(evf_req *r)
{
    const char *a = evf_depends(r, &dep_a);
    const char *b = evf_depends(r, &dep_b);
    note("C");
    char *v = evf_alloc(r, 16);
    snprintf(v, 16, "%s+%s", a ? a : "?", b ? b : "?");
    return v;
}

static void *
r_a2(evf_req *r)
{
    evf_sleep(r, 0.03);
    note("A2");
    return (void *)"a2";
}

static void *
r_b2(evf_req *r)
{
    evf_sleep(r, 0.01);
    note("B2");
    return (void *)"b2";
}

static void *
r_c2(evf_req *r)
{
    const char *a = evf_depends(r, &dep_a2);
    const char *b = evf_depends(r, &dep_b2);
    note("C2");
    char *v = evf_alloc(r, 16);
    snprintf(v, 16, "%s+%s", a ? a : "?", b ? b : "?");
    return v;
}

static const evf_dep dep_a = { .name = "A", .resolve = r_a };
static const evf_dep dep_b = { .name = "B", .resolve = r_b };
static const evf_dep dep_c = {
    .name = "C", .resolve = r_c, .deps = EVF_DEPS(&dep_a, &dep_b),
};
static const evf_dep dep_a2 = { .name = "A2", .resolve = r_a2 };
static const evf_dep dep_b2 = { .name = "B2", .resolve = r_b2 };
static const evf_dep dep_c2 = {
    .name = "C2", .resolve = r_c2, .deps = EVF_DEPS(&dep_a2, &dep_b2),
};

/* Caching: D is needed by X, by Y and by the route. */
static void *
r_d(evf_req *r)
{
    int *v = evf_alloc(r, sizeof(*v));
    *v = (int)++g.d_runs;
    return v;
}

/* X and Y keep what they got from D in slot 0 and 1. */
static void
saw_d(evf_req *r, int slot)
{
    int *v = evf_depends(r, &dep_d);
    g.d_ptr[slot] = (uintptr_t)v;
    g.d_seen[slot] = v ? *v : -1;
}

static void *
r_x(evf_req *r)
{
    saw_d(r, 0);
    return (void *)"x";
}

static void *
r_y(evf_req *r)
{
    saw_d(r, 1);
    return (void *)"y";
}

static const evf_dep dep_d = { .name = "D", .resolve = r_d };
static const evf_dep dep_x = {
    .name = "X", .resolve = r_x, .deps = EVF_DEPS(&dep_d),
};
static const evf_dep dep_y = {
    .name = "Y", .resolve = r_y, .deps = EVF_DEPS(&dep_d),
};

/*
 * no_cache: N is declared by the route, XN and YN; XN and YN fetch it.
 * Each fetch runs it afresh; the route's bare declaration runs nothing.
 */
static void *
r_n(evf_req *r)
{
    (void)r;
    g.n_runs++;
    return &g.n_runs;
}

static const evf_dep dep_n = {
    .name = "N", .resolve = r_n, .no_cache = true,
};
static void *
r_fetch_n(evf_req *r)
{
    return evf_depends(r, &dep_n);
}

static const evf_dep dep_xn = {
    .name = "XN", .resolve = r_fetch_n, .deps = EVF_DEPS(&dep_n),
};
static const evf_dep dep_yn = {
    .name = "YN", .resolve = r_fetch_n, .deps = EVF_DEPS(&dep_n),
};

/* no_cache: M declared by XM, which then uses its value. */
static void *
r_m(evf_req *r)
{
    int *v = evf_alloc(r, sizeof(*v));
    *v = (int)++g.m_runs;
    if (g.m_runs == 1)
        g.m_resolved = (uintptr_t)v;
    return v;
}

static void *
r_xm(evf_req *r)
{
    g.m_fetched = (uintptr_t)evf_depends(r, &dep_m);
    return (void *)"xm";
}

static const evf_dep dep_m = {
    .name = "M", .resolve = r_m, .no_cache = true,
};
static const evf_dep dep_xm = {
    .name = "XM", .resolve = r_xm, .deps = EVF_DEPS(&dep_m),
};

/* Concurrency: S1 and S2 sleep 0.3 s each; SH is shared by two branches. */
static void *
r_s1(evf_req *r)
{
    evf_sleep(r, 0.3);
    note("S1");
    return (void *)"s1";
}

static void *
r_s2(evf_req *r)
{
    evf_sleep(r, 0.3);
    note("S2");
    return (void *)"s2";
}

static void *
r_sh(evf_req *r)
{
    g.sh_runs++;
    evf_sleep(r, 0.3);
    int *v = evf_alloc(r, sizeof(*v));
    *v = 42;
    return v;
}

static void
branch(evf_req *r, int i)
{
    int *v = evf_depends(r, &dep_sh);
    g.br[i] = (uintptr_t)v;
    g.br_val[i] = v ? *v : -1;
}

static void *
r_br1(evf_req *r)
{
    branch(r, 0);
    return (void *)"br1";
}

static void *
r_br2(evf_req *r)
{
    branch(r, 1);
    return (void *)"br2";
}

static const evf_dep dep_s1 = { .name = "S1", .resolve = r_s1 };
static const evf_dep dep_s2 = { .name = "S2", .resolve = r_s2 };
static const evf_dep dep_sh = { .name = "SH", .resolve = r_sh };
static const evf_dep dep_br1 = {
    .name = "BR1", .resolve = r_br1, .deps = EVF_DEPS(&dep_sh),
};
static const evf_dep dep_br2 = {
    .name = "BR2", .resolve = r_br2, .deps = EVF_DEPS(&dep_sh),
};

/* Teardowns: T1 and T2 hold heap memory that their teardown frees. */
typedef struct resource {
    char tag[8];
} resource_t;

static void
td_release(evf_req *r, void *arg)
{
    resource_t *x = arg;
    (void)r;
    if (!pthread_equal(pthread_self(), cl.thread))
        g.td_off_loop++;
    else
        note(x->tag);
    if (client_has_end(g.id))
        g.td_saw_end++;
    g.td_in_flight = evf_stats.in_flight;
    g.td_runs++;
    free(x);
}

static resource_t *
acquire(evf_req *r, const char *tag)
{
    resource_t *x = malloc(sizeof(*x));
    if (!x)
        evf_raise(r, 500, "out of memory");
    snprintf(x->tag, sizeof(x->tag), "%s", tag);
    if (evf_teardown(r, td_release, x) < 0) {
        free(x);
        evf_raise(r, 500, "no teardown");
    }
    return x;
}

static void *
r_t1(evf_req *r)
{
    resource_t *x = acquire(r, "td1");
    note("T1");
    return x;
}

static void *
r_t2(evf_req *r)
{
    resource_t *x = acquire(r, "td2");
    note("T2");
    return x;
}

static const evf_dep dep_t1 = { .name = "T1", .resolve = r_t1 };
static const evf_dep dep_t2 = { .name = "T2", .resolve = r_t2 };

/* A dependency that never finishes in time. */
static void *
r_slow(evf_req *r)
{
    note("SLOW");
    evf_sleep(r, 5.0);
    note("SLOW-late");
    return (void *)"slow";
}

static const evf_dep dep_slow = { .name = "SLOW", .resolve = r_slow };

/* Authentication that fails, on the loop and on a pool thread. */
static void *
r_auth(evf_req *r)
{
    evf_sleep(r, 0.01);
    evf_raise(r, 401, "Not authenticated");
    note("AUTH-after-raise");
    return NULL;
}

static void *
r_bauth(evf_req *r)
{
    atomic_fetch_add(&g.blk_runs, 1);
    evf_raise(r, 401, "Not authenticated");
    return NULL;
}

static const evf_dep dep_auth = { .name = "AUTH", .resolve = r_auth };
static const evf_dep dep_bauth = {
    .name = "BAUTH", .resolve = r_bauth, .blocking = true,
};
static const evf_dep dep_c3 = {
    .name = "C3", .resolve = r_a, .deps = EVF_DEPS(&dep_t1, &dep_auth),
};

/* Run-time dependency: not declared by its route. */
static void *
r_rt(evf_req *r)
{
    g.rt_runs++;
    evf_sleep(r, 0.02);
    return evf_strdup(r, "rt");
}

static const evf_dep dep_rt = { .name = "RT", .resolve = r_rt };

/* Blocking dependencies (pool thread): where they run; one that is slow. */
static void *
r_blk(evf_req *r)
{
    (void)r;
    g.blk_thread = pthread_self();
    g.blk_on_pool = evf_pool_on_thread();
    atomic_fetch_add(&g.blk_runs, 1);
    return (void *)"blk";
}

static void
blk_td(evf_req *r, void *arg)
{
    (void)r;
    atomic_fetch_add(&g.blk_td_runs, 1);
    free(arg);
}

static void *
r_blk_slow(evf_req *r)
{
    void *mem = malloc(64);
    if (evf_teardown(r, blk_td, mem) < 0)
        free(mem);
    atomic_store(&g.blk_started, true);
    /* Busy until the test says so (at most 5 s). */
    for (int i = 0; i < 5000 && !atomic_load(&g.blk_release); i++)
        usleep(1000);
    atomic_fetch_add(&g.blk_runs, 1);
    return mem;
}

static const evf_dep dep_blk = {
    .name = "BLK", .resolve = r_blk, .blocking = true,
};
static const evf_dep dep_blk_slow = {
    .name = "BLKSLOW", .resolve = r_blk_slow, .blocking = true,
};

/*
 * The fastapi#3205 shape: a blocking dependency takes a connection from a
 * pool of DB_CONNS (waiting, as a DB pool does, when none is free) and a
 * teardown gives it back; the route blocks too.  The wait is bounded so
 * that a deadlock fails the test instead of hanging it.
 */
static void
db_release(evf_req *r, void *arg)
{
    (void)r, (void)arg;
    pthread_mutex_lock(&db.lock);
    if (!pthread_equal(pthread_self(), cl.thread))
        db.release_off_loop++;
    db.free++;
    db.released++;
    pthread_cond_signal(&db.cond);
    pthread_mutex_unlock(&db.lock);
}

static void *
r_db(evf_req *r)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 3;
    pthread_mutex_lock(&db.lock);
    if (db.free == 0)
        db.waits++;
    int rc = 0;
    while (db.free == 0 && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&db.cond, &db.lock, &until);
    if (db.free == 0) {
        db.timeouts++;
        pthread_mutex_unlock(&db.lock);
        evf_raise(r, 503, "no DB connection");
    }
    db.free--;
    db.acquired++;
    if (DB_CONNS - db.free > db.held_max)
        db.held_max = DB_CONNS - db.free;
    pthread_mutex_unlock(&db.lock);
    evf_teardown(r, db_release, NULL);
    return (void *)"conn";
}

static const evf_dep dep_db = {
    .name = "DB", .resolve = r_db, .blocking = true,
};

/* App-wide dependency of the second app. */
static void *
r_app(evf_req *r)
{
    g.app_runs++;
    evf_sleep(r, 0.3);
    note("APP");
    return (void *)"app";
}

static const evf_dep dep_app = { .name = "APP", .resolve = r_app };

/* A cycle: cyc_a -> cyc_b -> cyc_a. */
static const evf_dep cyc_a;
static const evf_dep cyc_b = { .name = "cyc_b", .deps = EVF_DEPS(&cyc_a) };
static const evf_dep cyc_a = { .name = "cyc_a", .deps = EVF_DEPS(&cyc_b) };

/* ---- handlers ----------------------------------------------------------- */

static void
h_order(evf_req *r)
{
    const char *c = evf_depends(r, &dep_c);
    g.h_runs++;
    note("h");
    evf_text(r, 200, c ? c : "?");
}

static void
h_order2(evf_req *r)
{
    const char *c = evf_depends(r, &dep_c2);
    g.h_runs++;
    note("h");
    evf_text(r, 200, c ? c : "?");
}

static void
h_cache(evf_req *r)
{
    saw_d(r, 2);
    g.h_runs++;
    evf_json_printf(r, 200, "%d", g.d_seen[2]);
}

static void
h_plain(evf_req *r)
{
    g.h_runs++;
    note("h");
    evf_text(r, 200, "ok");
}

static void
h_shared(evf_req *r)
{
    g.h_runs++;
    evf_json_printf(r, 200, "[%d,%d]", g.br_val[0], g.br_val[1]);
}

static void
h_raise(evf_req *r)
{
    g.h_runs++;
    note("h");
    evf_raise(r, 500, "boom");
    note("h-after-raise");
}

static void
h_sleep(evf_req *r)
{
    g.h_runs++;
    note("h");
    evf_sleep(r, 5.0);
    note("h-late");
    evf_text(r, 200, "late");
}

static void
h_app(evf_req *r)
{
    const char *v = evf_depends(r, &dep_app);
    g.h_runs++;
    note("h");
    evf_text(r, 200, v ? v : "?");
}

static void
h_rt(evf_req *r)
{
    void *v1 = evf_depends(r, &dep_rt);
    void *v2 = evf_depends(r, &dep_rt);
    g.rt_ptr[0] = (uintptr_t)v1;
    g.rt_ptr[1] = (uintptr_t)v2;
    saw_d(r, 2);        /* declared: resolved before, not again */
    g.h_runs++;
    evf_text(r, 200, v1 ? v1 : "?");
}

static void
bg_task(evf_req *r, void *arg)
{
    (void)arg;
    evf_sleep(r, 0.05);
    resource_t *x = evf_depends(r, &dep_t1);
    g.bg_dep_ok = x && strcmp(x->tag, "td1") == 0;
    note("bg");
    g.bg_t = mono();
    g.bg_in_flight = evf_stats.in_flight;
    g.bg_done = true;
}

static void
h_bg(evf_req *r)
{
    g.h_runs++;
    note("h");
    CU_ASSERT_EQUAL(evf_background(r, bg_task, NULL), 0);
    evf_text(r, 200, "ok");
}

/* Registers a background task, then sleeps (to be aborted) or raises. */
static void
h_bg_abort(evf_req *r)
{
    g.h_runs++;
    note("h");
    evf_background(r, bg_task, NULL);
    evf_sleep(r, 5.0);
    evf_text(r, 200, "late");
}

static void
h_bg_raise(evf_req *r)
{
    g.h_runs++;
    note("h");
    evf_background(r, bg_task, NULL);
    evf_raise(r, 403, "Forbidden");
}

static void
h_blk(evf_req *r)
{
    const char *v = evf_depends(r, &dep_blk);
    g.h_runs++;
    evf_text(r, 200, v ? v : "?");
}

/* Blocking route: hold the DB connection a little while (pool thread). */
static void
h_db(evf_req *r)
{
    usleep(20 * 1000);
    evf_text(r, 200, "db");
}

static const evf_route routes[] = {
    EVF_GET("/order", h_order, .deps = EVF_DEPS(&dep_c)),
    EVF_GET("/order2", h_order2, .deps = EVF_DEPS(&dep_c2)),
    EVF_GET("/cache", h_cache, .deps = EVF_DEPS(&dep_x, &dep_y, &dep_d)),
    EVF_GET("/nocache", h_plain,
            .deps = EVF_DEPS(&dep_xn, &dep_yn, &dep_n)),
    EVF_GET("/nocache-value", h_plain, .deps = EVF_DEPS(&dep_xm)),
    EVF_GET("/conc", h_plain, .deps = EVF_DEPS(&dep_s1, &dep_s2)),
    EVF_GET("/shared", h_shared, .deps = EVF_DEPS(&dep_br1, &dep_br2)),
    EVF_GET("/td", h_plain, .deps = EVF_DEPS(&dep_t1, &dep_t2)),
    EVF_GET("/td-raise", h_raise, .deps = EVF_DEPS(&dep_t1)),
    EVF_GET("/td-sleep", h_sleep, .deps = EVF_DEPS(&dep_t1, &dep_t2)),
    EVF_GET("/td-slowdep", h_plain, .deps = EVF_DEPS(&dep_t1, &dep_slow)),
    EVF_GET("/auth", h_plain,
            .deps = EVF_DEPS(&dep_t1, &dep_slow, &dep_auth)),
    EVF_GET("/auth-sub", h_plain, .deps = EVF_DEPS(&dep_c3)),
    EVF_GET("/auth-blocking", h_plain,
            .deps = EVF_DEPS(&dep_t1, &dep_bauth)),
    EVF_GET("/auth-blocking-only", h_plain, .deps = EVF_DEPS(&dep_bauth)),
    EVF_GET("/rt", h_rt, .deps = EVF_DEPS(&dep_d)),
    EVF_GET("/bg", h_bg, .deps = EVF_DEPS(&dep_t1)),
    EVF_GET("/bg-abort", h_bg_abort, .deps = EVF_DEPS(&dep_t1)),
    EVF_GET("/bg-raise", h_bg_raise, .deps = EVF_DEPS(&dep_t1)),
    EVF_GET("/blk", h_blk, .deps = EVF_DEPS(&dep_blk)),
    EVF_GET("/blk-slow", h_plain, .deps = EVF_DEPS(&dep_blk_slow)),
    EVF_GET("/db", h_db, .deps = EVF_DEPS(&dep_db), .blocking = true),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "deps",
    .routes = routes,
};

/* Every route of this one needs APP. */
static const evf_route wide_routes[] = {
    EVF_GET("/wide/a", h_app),
    EVF_GET("/wide/b", h_app, .deps = EVF_DEPS(&dep_s1)),
    EVF_END
};

static const evf_app wide_app = {
    .abi = EVF_ABI_VERSION,
    .name = "wide",
    .routes = wide_routes,
    .deps = EVF_DEPS(&dep_app),
};

/* Refused at load: its second route has a cycle. */
static const evf_route cyc_routes[] = {
    EVF_GET("/cyc/ok", h_plain),
    EVF_GET("/cyc/bad", h_plain, .deps = EVF_DEPS(&dep_a, &cyc_a)),
    EVF_END
};

static const evf_app cyc_app = {
    .abi = EVF_ABI_VERSION,
    .name = "cyc",
    .routes = cyc_routes,
};

/* ---- tests -------------------------------------------------------------- */

/* Sub-dependencies before their dependant, all before the handler. */
static void
test_order(void)
{
    open_conn();
    send_get(1, "/order");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "a+b"));
    CU_ASSERT_TRUE(trail_is("A,B,C,h"));

    /* A2 is slower than B2: C2 still waits for both. */
    g.trail[0] = '\0';
    send_get(2, "/order2");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_TRUE(body_is(2, "a2+b2"));
    CU_ASSERT_TRUE(trail_is("B2,A2,C2,h"));
    CU_ASSERT_EQUAL(g.h_runs, 2);
    finish_conn();
}

/* D, needed by X, by Y and by the route, runs once per request. */
static void
test_cache(void)
{
    open_conn();
    send_get(1, "/cache");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "1"));
    CU_ASSERT_EQUAL(g.d_runs, 1);
    CU_ASSERT(g.d_seen[0] == 1 && g.d_seen[1] == 1 && g.d_seen[2] == 1);
    CU_ASSERT(g.d_ptr[0] && g.d_ptr[0] == g.d_ptr[1] &&
              g.d_ptr[1] == g.d_ptr[2]);

    /* The cache is the request's: the next one runs D again. */
    send_get(2, "/cache");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_TRUE(body_is(2, "2"));
    CU_ASSERT_EQUAL(g.d_runs, 2);
    CU_ASSERT(g.d_seen[0] == 2 && g.d_seen[1] == 2 && g.d_seen[2] == 2);

    /* no_cache: N runs once for each of its two fetches, per request. */
    send_get(3, "/nocache");
    CU_ASSERT_TRUE(ended(3, 2.0));
    CU_ASSERT_EQUAL(status_of(3), 200);
    CU_ASSERT_EQUAL(g.n_runs, 2);
    send_get(4, "/nocache");
    CU_ASSERT_TRUE(ended(4, 2.0));
    CU_ASSERT_EQUAL(status_of(4), 200);
    CU_ASSERT_EQUAL(g.n_runs, 4);
    finish_conn();
}

/*
 * no_cache, as FastAPI's use_cache=False: XM declares M and uses its
 * value, so M runs once for XM, and the value XM gets is that run's.
 */
static void
test_no_cache_value(void)
{
    open_conn();
    send_get(1, "/nocache-value");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_EQUAL(g.m_runs, 1);
    CU_ASSERT(g.m_fetched && g.m_fetched == g.m_resolved);
    if (g.m_runs != 1)
        fprintf(stderr, "\n    M ran %u times for one use\n", g.m_runs);
    finish_conn();
}

/* Independent dependencies overlap; a shared one runs once for both. */
static void
test_concurrency(void)
{
    open_conn();
    double t0 = mono();
    send_get(1, "/conc");
    CU_ASSERT_TRUE(ended(1, 2.0));
    double took = cl.rsp[1] ? cl.rsp[1]->t_end - t0 : 9;
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(trail_is("S1,S2,h"));
    CU_ASSERT(took >= 0.29 && took < 0.5);     /* one after another: 0.6 */
    if (took < 0.29 || took >= 0.5)
        fprintf(stderr, "\n    two 0.3 s dependencies took %.3f s\n", took);

    t0 = mono();
    send_get(2, "/shared");
    CU_ASSERT_TRUE(ended(2, 2.0));
    took = cl.rsp[2] ? cl.rsp[2]->t_end - t0 : 9;
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_TRUE(body_is(2, "[42,42]"));
    CU_ASSERT_EQUAL(g.sh_runs, 1);
    CU_ASSERT(g.br[0] && g.br[0] == g.br[1]);
    CU_ASSERT(took >= 0.29 && took < 0.5);
    finish_conn();
}

/* Teardowns run after the answer went out, newest first. */
static void
test_teardown(void)
{
    open_conn();
    g.id = 1;
    send_get(1, "/td");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(trail_is("T1,T2,h,td2,td1"));
    CU_ASSERT_EQUAL(g.td_runs, 2);
    CU_ASSERT_EQUAL(g.td_saw_end, 2);   /* END_REQUEST was sent before */
    CU_ASSERT_EQUAL(g.td_off_loop, 0);

    /* The handler raises: the 500 goes out, then the teardown runs. */
    g.trail[0] = '\0';
    g.td_runs = g.td_saw_end = 0;
    g.id = 2;
    send_get(2, "/td-raise");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT(complete(2));
    CU_ASSERT_EQUAL(status_of(2), 500);
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":\"boom\"}"));
    CU_ASSERT_TRUE(trail_is("T1,h,td1"));
    CU_ASSERT_EQUAL(g.td_runs, 1);
    CU_ASSERT_EQUAL(g.td_saw_end, 1);

    /* FCGI_ABORT_REQUEST while the handler sleeps. */
    g.trail[0] = '\0';
    g.td_runs = g.td_saw_end = 0;
    g.id = 3;
    send_get(3, "/td-sleep");
    CU_ASSERT_TRUE(run_until(trail_now, "T1,T2,h", 2.0));
    CU_ASSERT_TRUE(trail_is("T1,T2,h"));
    send_abort(3);
    CU_ASSERT_TRUE(ended(3, 1.0));
    CU_ASSERT(complete(3));
    CU_ASSERT(cl.rsp[3] && cl.rsp[3]->len == 0);
    CU_ASSERT_TRUE(trail_is("T1,T2,h,td2,td1"));
    CU_ASSERT_EQUAL(g.td_runs, 2);
    finish_conn();
}

/* The client leaves while the handler, or a dependency, still sleeps. */
static void
test_teardown_on_close(void)
{
    unsigned two = 2, one = 1;

    open_conn();
    uint64_t aborted = evf_stats.aborted;
    send_get(1, "/td-sleep");
    CU_ASSERT_TRUE(run_until(trail_now, "T1,T2,h", 2.0));
    CU_ASSERT_TRUE(trail_is("T1,T2,h"));
    CU_ASSERT_EQUAL(g.td_runs, 0);
    disconnect();
    CU_ASSERT_TRUE(run_until(td_reached, &two, 1.0));
    CU_ASSERT_TRUE(trail_is("T1,T2,h,td2,td1"));
    CU_ASSERT_EQUAL(evf_stats.aborted, aborted + 1);
    CU_ASSERT_EQUAL(evf_stats.in_flight, 0);
    finish_conn();

    /* T1 resolved, SLOW still sleeping: T1's teardown runs all the same. */
    open_conn();
    send_get(1, "/td-slowdep");
    CU_ASSERT_TRUE(run_until(trail_now, "T1,SLOW", 2.0));
    CU_ASSERT_TRUE(trail_is("T1,SLOW"));
    disconnect();
    CU_ASSERT_TRUE(run_until(td_reached, &one, 1.0));
    run_pending();
    CU_ASSERT_TRUE(trail_is("T1,SLOW,td1"));
    CU_ASSERT_EQUAL(g.h_runs, 0);
    finish_conn();
}

/* A dependency raising 401 answers it; the handler never runs. */
static void
test_raise_in_dep(void)
{
    open_conn();
    double t0 = mono();
    g.id = 1;
    send_get(1, "/auth");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT(cl.rsp[1] && cl.rsp[1]->t_end - t0 < 0.5);
    CU_ASSERT_EQUAL(status_of(1), 401);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Not authenticated\"}"));
    CU_ASSERT_EQUAL(g.h_runs, 0);
    /* T1 resolved before AUTH raised: its teardown ran, after the 401;
     * SLOW was cancelled, AUTH did not go on after raising. */
    CU_ASSERT_TRUE(trail_is("T1,SLOW,td1"));
    CU_ASSERT_EQUAL(g.td_saw_end, 1);

    /* Raised below a dependency: the dependant does not run either. */
    g.trail[0] = '\0';
    g.td_runs = g.td_saw_end = 0;
    g.id = 2;
    send_get(2, "/auth-sub");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT_EQUAL(status_of(2), 401);
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":\"Not authenticated\"}"));
    CU_ASSERT_EQUAL(g.h_runs, 0);
    CU_ASSERT_TRUE(trail_is("T1,td1"));
    finish_conn();
}

/* The same from a blocking dependency, raising on its pool thread. */
static void
test_raise_in_blocking_dep(void)
{
    open_conn();
    g.id = 1;
    send_get(1, "/auth-blocking");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 401);
    CU_ASSERT_TRUE(body_is(1, "{\"detail\":\"Not authenticated\"}"));
    CU_ASSERT_EQUAL(atomic_load(&g.blk_runs), 1);
    CU_ASSERT_EQUAL(g.h_runs, 0);
    CU_ASSERT_TRUE(trail_is("T1,td1"));

    /* The route's only dependency: resolved on the request's main task,
     * which must end there too. */
    g.trail[0] = '\0';
    send_get(2, "/auth-blocking-only");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT(complete(2));
    CU_ASSERT_EQUAL(status_of(2), 401);
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":\"Not authenticated\"}"));
    CU_ASSERT_EQUAL(atomic_load(&g.blk_runs), 2);
    CU_ASSERT_EQUAL(g.h_runs, 0);
    CU_ASSERT_TRUE(trail_is(""));
    finish_conn();
}

static int
register_cyc(const void *a)
{
    return evf_app_register(a, "cyc.so");
}

/* Captured stderr of evf_app_register(a). */
static int
register_quietly(const evf_app *a, char *log, size_t len)
{
    return unit_stderr_of(register_cyc, a, log, len);
}

/* A cycle is refused at load, by name; the router is left as it was. */
static void
test_cycle(void)
{
    char log[2048];
    uint16_t ids[] = { 1, 2, 3, 0 };

    CU_ASSERT_EQUAL(register_quietly(&cyc_app, log, sizeof(log)), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "cyc_a -> cyc_b -> cyc_a"));
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "GET /cyc/bad"));
    if (!strstr(log, "cyc_a -> cyc_b -> cyc_a"))
        fprintf(stderr, "\n    log: %s\n", log);

    open_conn();
    send_get(1, "/cyc/ok");         /* the refused app left nothing */
    send_get(2, "/order");          /* the loaded ones work as before */
    send_get(3, "/wide/a");
    CU_ASSERT_TRUE(run_until(all_ended, ids, 2.0));
    CU_ASSERT_EQUAL(status_of(1), 404);
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_TRUE(body_is(2, "a+b"));
    CU_ASSERT_EQUAL(status_of(3), 200);
    CU_ASSERT_TRUE(body_is(3, "app"));
    finish_conn();

    /* A dependency shared by two branches (a diamond) is no cycle; the
     * check names the path it found. */
    char msg[256];
    CU_ASSERT_EQUAL(evf_deps_find_cycle(routes[2].deps, NULL, msg,
                                        sizeof(msg)), 0);
    CU_ASSERT_EQUAL(evf_deps_find_cycle(NULL, EVF_DEPS(&cyc_b), msg,
                                        sizeof(msg)), -1);
    CU_ASSERT_STRING_EQUAL(msg, "cyc_b -> cyc_a -> cyc_b");
}

/* The app's own dependencies run for each of its routes, and only its. */
static void
test_app_deps(void)
{
    open_conn();
    send_get(1, "/wide/a");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "app"));
    CU_ASSERT_EQUAL(g.app_runs, 1);
    CU_ASSERT_TRUE(trail_is("APP,h"));

    /* With a route dependency too: both 0.3 s sleeps overlap. */
    g.trail[0] = '\0';
    double t0 = mono();
    send_get(2, "/wide/b");
    CU_ASSERT_TRUE(ended(2, 2.0));
    double took = cl.rsp[2] ? cl.rsp[2]->t_end - t0 : 9;
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_EQUAL(g.app_runs, 2);
    CU_ASSERT(strcmp(g.trail, "APP,S1,h") == 0 ||
              strcmp(g.trail, "S1,APP,h") == 0);
    CU_ASSERT(took < 0.5);     /* one after another: 0.6 */

    /* Another app's route does not get it. */
    send_get(3, "/order");
    CU_ASSERT_TRUE(ended(3, 2.0));
    CU_ASSERT_EQUAL(status_of(3), 200);
    CU_ASSERT_EQUAL(g.app_runs, 2);
    finish_conn();
}

/* evf_depends() on an undeclared dependency resolves it once, awaiting. */
static void
test_runtime_depends(void)
{
    open_conn();
    send_get(1, "/rt");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "rt"));
    CU_ASSERT_EQUAL(g.rt_runs, 1);
    CU_ASSERT(g.rt_ptr[0] && g.rt_ptr[0] == g.rt_ptr[1]);
    CU_ASSERT_EQUAL(g.d_runs, 1);       /* declared: not run again */
    CU_ASSERT_EQUAL(g.d_seen[2], 1);

    send_get(2, "/rt");
    CU_ASSERT_TRUE(ended(2, 2.0));
    CU_ASSERT_EQUAL(g.rt_runs, 2);      /* per request */
    finish_conn();
}

/*
 * A background task runs after the answer, with the request's values
 * still valid; teardowns run after it; in_flight counts the request until
 * then.
 */
static void
test_background(void)
{
    unsigned one = 1;

    open_conn();
    g.id = 1;
    send_get(1, "/bg");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "ok"));
    CU_ASSERT_FALSE(g.bg_done);
    CU_ASSERT_EQUAL(g.td_runs, 0);
    CU_ASSERT_EQUAL(evf_stats.in_flight, 1);

    CU_ASSERT_TRUE(run_until(td_reached, &one, 1.0));
    CU_ASSERT_TRUE(g.bg_done);
    CU_ASSERT_TRUE(g.bg_dep_ok);
    CU_ASSERT_TRUE(trail_is("T1,h,bg,td1"));
    CU_ASSERT(cl.rsp[1] && g.bg_t - cl.rsp[1]->t_end >= 0.04);
    CU_ASSERT_EQUAL(g.bg_in_flight, 1);
    CU_ASSERT_EQUAL(g.td_in_flight, 1);     /* counted until released */
    CU_ASSERT_EQUAL(evf_stats.in_flight, 0);
    CU_ASSERT_EQUAL(g.td_saw_end, 1);

    /* Aborted before the answer: the background task never runs. */
    g.trail[0] = '\0';
    g.td_runs = 0;
    g.bg_done = false;
    send_get(2, "/bg-abort");
    CU_ASSERT_TRUE(run_until(trail_now, "T1,h", 2.0));
    send_abort(2);
    CU_ASSERT_TRUE(ended(2, 1.0));
    /* Teardowns run after background tasks: bg would be in the trail. */
    CU_ASSERT_TRUE(run_until(td_reached, &one, 1.0));
    run_pending();
    CU_ASSERT_FALSE(g.bg_done);
    CU_ASSERT_TRUE(trail_is("T1,h,td1"));
    CU_ASSERT_EQUAL(evf_stats.in_flight, 0);

    /* The handler raised: no background task either (as in FastAPI). */
    g.trail[0] = '\0';
    g.td_runs = 0;
    send_get(3, "/bg-raise");
    CU_ASSERT_TRUE(ended(3, 1.0));
    CU_ASSERT_EQUAL(status_of(3), 403);
    CU_ASSERT_TRUE(run_until(td_reached, &one, 1.0));
    run_pending();
    CU_ASSERT_FALSE(g.bg_done);
    CU_ASSERT_TRUE(trail_is("T1,h,td1"));
    CU_ASSERT_EQUAL(evf_stats.in_flight, 0);
    finish_conn();
}

static bool
blk_started(const void *arg)
{
    (void)arg;
    return atomic_load(&g.blk_started);
}

/* A blocking dependency resolves on a pool thread. */
static void
test_blocking_dep(void)
{
    open_conn();
    send_get(1, "/blk");
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, "blk"));
    CU_ASSERT_EQUAL(atomic_load(&g.blk_runs), 1);
    CU_ASSERT_FALSE(pthread_equal(g.blk_thread, cl.thread));
    CU_ASSERT_TRUE(g.blk_on_pool);
    CU_ASSERT_EQUAL(g.h_runs, 1);

    /* Cancelled while its pool thread still runs: its teardown (made on
     * the pool thread) runs once the thread is done with it. */
    send_get(2, "/blk-slow");
    CU_ASSERT_TRUE(run_until(blk_started, NULL, 2.0));
    disconnect();
    CU_ASSERT_TRUE(run_until(no_conn, NULL, 1.0));
    CU_ASSERT_EQUAL(atomic_load(&g.blk_td_runs), 0);
    atomic_store(&g.blk_release, true);
    CU_ASSERT_TRUE(run_until(none_in_flight, NULL, 2.0));
    CU_ASSERT_EQUAL(atomic_load(&g.blk_runs), 2);
    CU_ASSERT_EQUAL(atomic_load(&g.blk_td_runs), 1);
    CU_ASSERT_EQUAL(g.h_runs, 1);
    finish_conn();
}

static bool
db_all_released(const void *arg)
{
    (void)arg;
    pthread_mutex_lock(&db.lock);
    bool all = db.released == DB_CLIENTS;
    pthread_mutex_unlock(&db.lock);
    return all;
}

/*
 * fastapi#3205: DB_CLIENTS (= threads + 1) blocking requests whose
 * blocking dependency holds one of DB_CONNS (= threads) connections until
 * its teardown.  Teardowns run on the loop, so the request waiting for a
 * connection gets one as soon as another request is done.
 */
static void
test_pool_deadlock(void)
{
    uint16_t ids[DB_CLIENTS + 1];

    pthread_mutex_lock(&db.lock);
    db.free = DB_CONNS;
    db.held_max = db.waits = db.acquired = db.released = db.timeouts = 0;
    db.release_off_loop = 0;
    pthread_mutex_unlock(&db.lock);
    open_conn();
    double t0 = mono();
    for (unsigned i = 0; i < DB_CLIENTS; i++) {
        ids[i] = (uint16_t)(i + 1);
        send_get(ids[i], "/db");
    }
    ids[DB_CLIENTS] = 0;
    CU_ASSERT_TRUE(run_until(all_ended, ids, 5.0));
    double took = mono() - t0;
    unsigned ok = 0;
    for (unsigned i = 0; i < DB_CLIENTS; i++)
        if (complete(ids[i]) && status_of(ids[i]) == 200 &&
            body_is(ids[i], "db"))
            ok++;
    CU_ASSERT_EQUAL(ok, DB_CLIENTS);
    CU_ASSERT(took < 3.0);
    CU_ASSERT_TRUE(run_until(db_all_released, NULL, 2.0));
    pthread_mutex_lock(&db.lock);
    CU_ASSERT_EQUAL(db.timeouts, 0);
    CU_ASSERT_EQUAL(db.acquired, DB_CLIENTS);
    CU_ASSERT_EQUAL(db.released, DB_CLIENTS);
    CU_ASSERT_EQUAL(db.free, DB_CONNS);
    CU_ASSERT_EQUAL(db.held_max, DB_CONNS);
    CU_ASSERT(db.waits >= 1);       /* one pool thread did block on it */
    CU_ASSERT_EQUAL(db.release_off_loop, 0);
    pthread_mutex_unlock(&db.lock);
    finish_conn();
}

/* ---- suite -------------------------------------------------------------- */

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    cl.short_pairs = true;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_WARN);
    evf_settings.max_reqs_per_conn = 1024;
    evf_settings.request_deadline = 0;
    if (evf_pool_start(cl.loop, POOL_THREADS, 64) < 0)
        return -1;
    if (evf_app_register(&app, "deps") < 0 ||
        evf_app_register(&wide_app, "wide") < 0)
        return -1;
    return 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_pool_stop();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    return 0;
}

static CU_TestInfo tests[] = {
    { "sub-dependencies first, handler last", test_order },
    { "cached once per request; no_cache per use", test_cache },
    { "no_cache: the declared run's value is used", test_no_cache_value },
    { "independent deps overlap; shared runs once", test_concurrency },
    { "teardowns after the answer, reversed", test_teardown },
    { "teardowns when the client leaves", test_teardown_on_close },
    { "a dependency raising 401", test_raise_in_dep },
    { "a blocking dependency raising 401", test_raise_in_blocking_dep },
    { "a cycle is refused at load", test_cycle },
    { "app-wide dependencies", test_app_deps },
    { "evf_depends at run time", test_runtime_depends },
    { "background tasks, then teardowns", test_background },
    { "a blocking dependency runs on the pool", test_blocking_dep },
    { "no pool deadlock (fastapi#3205)", test_pool_deadlock },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("deps", init, cleanup, tests);
}
