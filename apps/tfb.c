/*
 * tfb: the TechEmpower Framework Benchmarks test types, against the
 * hello_world schema (World(id, randomNumber) with 10,000 rows,
 * Fortune(id, message) with 12), as a loadable app:
 *
 *   GET /json  /plaintext  /db  /queries?queries=N  /fortunes
 *       /updates?queries=N  /cached-queries?count=N
 *
 * Options (evfcgid -o tfb:KEY=VALUE, or [app tfb] in the conf file):
 * database_url (else $DATABASE_URL), pool_min, pool_max, max_waiters (per
 * worker).
 *
 * Following the published requirements: ids are random in 1..10000; N is
 * clamped to 1..500 and anything that is not a number counts as 1; every
 * row is its own query (sent as one pipeline, never WHERE id IN, on the
 * pool's shared connections: concurrent requests share round trips);
 * fortunes gain "Additional fortune added at request time.", are sorted
 * by message and HTML-escaped; updates are written (one pipeline of
 * UPDATEs, ordered by id so that concurrent requests cannot deadlock);
 * cached-queries read an in-process copy of World, loaded on first use.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evfcgi.h"
#include "evfcgi_pg.h"

#define WORLD_ROWS 10000
#define SELECT_WORLD "SELECT id, randomnumber FROM world WHERE id = $1"
#define UPDATE_WORLD "UPDATE world SET randomnumber = $2 WHERE id = $1"

static evf_pg_pool *pool;
static unsigned long long rng;
static int *cache;              /* randomNumber by id, once loaded */

/* xorshift64*: ids and numbers in 1..10000. */
static int
random_id(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (int)((rng * 2685821657736338717ULL >> 33) % WORLD_ROWS) + 1;
}

/* queries/count: 1..500; missing or not a number: 1. */
static int
count_param(evf_req *r, const char *name)
{
    const char *s = evf_query_str(r, name);
    char *end;
    if (!s || !*s)
        return 1;
    long n = strtol(s, &end, 10);
    if (*end || end == s || n < 1)
        return 1;
    return n > 500 ? 500 : (int)n;
}

static void
json(evf_req *r)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "{\"message\":\"%s\"}",
                     "Hello, World!");
    evf_respond(r, 200, "application/json", body, (size_t)n);
}

static void
plaintext(evf_req *r)
{
    evf_respond(r, 200, "text/plain", "Hello, World!", 13);
}

typedef struct world {
    int id, number;
} world_t;

/* Read n random rows, each its own statement, in one pipeline. */
static world_t *
read_worlds(evf_req *r, int n)
{
    world_t *w = evf_alloc(r, (size_t)n * sizeof(*w));
    evf_pg_stmt *st = evf_alloc(r, (size_t)n * sizeof(*st));
    evf_pg_result **res = evf_alloc(r, (size_t)n * sizeof(*res));
    char (*ids)[12] = evf_alloc(r, (size_t)n * sizeof(*ids));
    const char **p = evf_alloc(r, (size_t)n * sizeof(*p));
    if (!w || !st || !res || !ids || !p) {
        evf_raise(r, 500, NULL);
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%d", random_id());
        p[i] = ids[i];
        st[i] = (evf_pg_stmt){ .name = "w", .sql = SELECT_WORLD,
                               .nparams = 1, .params = &p[i] };
    }
    if (evf_pg_pool_pipeline(r, pool, (size_t)n, st, res) < 0)
        return NULL;
    for (int i = 0; i < n; i++) {
        w[i].id = evf_pg_int(res[i], 0, 0);
        w[i].number = evf_pg_int(res[i], 0, 1);
    }
    return w;
}

/* Answer w[0..n) as a JSON array (or one object). */
static void
answer_worlds(evf_req *r, const world_t *w, int n, bool array)
{
    size_t cap = (size_t)n * 40 + 8, len = 0;
    char *b = evf_alloc(r, cap);
    if (!b) {
        evf_raise(r, 500, NULL);
        return;
    }
    if (array)
        b[len++] = '[';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s{\"id\":%d,\"randomNumber\":%d}",
                                i ? "," : "", w[i].id, w[i].number);
    if (array)
        b[len++] = ']';
    evf_respond(r, 200, "application/json", b, len);
}

static void
single(evf_req *r)
{
    world_t *w = read_worlds(r, 1);
    if (w)
        answer_worlds(r, w, 1, false);
}

static void
queries(evf_req *r)
{
    int n = count_param(r, "queries");
    world_t *w = read_worlds(r, n);
    if (w)
        answer_worlds(r, w, n, true);
}

static int
by_id(const void *a, const void *b)
{
    const world_t *x = *(world_t *const *)a, *y = *(world_t *const *)b;
    return (x->id > y->id) - (x->id < y->id);
}

static void
updates(evf_req *r)
{
    int n = count_param(r, "queries");
    world_t *w = read_worlds(r, n);
    if (!w)
        return;
    world_t **order = evf_alloc(r, (size_t)n * sizeof(*order));
    evf_pg_stmt *st = evf_alloc(r, (size_t)n * sizeof(*st));
    evf_pg_result **res = evf_alloc(r, (size_t)n * sizeof(*res));
    char (*vals)[2][12] = evf_alloc(r, (size_t)n * sizeof(*vals));
    const char *(*p)[2] = evf_alloc(r, (size_t)n * sizeof(*p));
    if (!order || !st || !res || !vals || !p) {
        evf_raise(r, 500, NULL);
        return;
    }
    for (int i = 0; i < n; i++) {
        w[i].number = random_id();
        order[i] = &w[i];
    }
    qsort(order, (size_t)n, sizeof(*order), by_id);
    for (int i = 0; i < n; i++) {
        snprintf(vals[i][0], 12, "%d", order[i]->id);
        snprintf(vals[i][1], 12, "%d", order[i]->number);
        p[i][0] = vals[i][0];
        p[i][1] = vals[i][1];
        st[i] = (evf_pg_stmt){ .name = "u", .sql = UPDATE_WORLD,
                               .nparams = 2, .params = p[i] };
    }
    /* Duplicate ids: the last write wins, in the answer as in the table. */
    for (int i = 0; i < n; i++)
        for (int k = i + 1; k < n; k++)
            if (w[k].id == w[i].id)
                w[i].number = w[k].number;
    if (evf_pg_pool_pipeline(r, pool, (size_t)n, st, res) < 0)
        return;
    answer_worlds(r, w, n, true);
}

typedef struct fortune {
    int id;
    const char *message;
} fortune_t;

static int
by_message(const void *a, const void *b)
{
    return strcmp(((const fortune_t *)a)->message,
                  ((const fortune_t *)b)->message);
}

/* Append s to b, HTML-escaped.  b has room (6 bytes per input byte). */
static size_t
escape(char *b, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        const char *e = NULL;
        switch (*s) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        default: b[n++] = *s; continue;
        }
        n += (size_t)sprintf(b + n, "%s", e);
    }
    return n;
}

static void
fortunes(evf_req *r)
{
    static const char head[] = "<!DOCTYPE html><html><head><title>Fortunes"
        "</title></head><body><table><tr><th>id</th><th>message</th></tr>";
    static const char tail[] = "</table></body></html>";
    static const evf_pg_stmt st = { .name = "f", .sql = "SELECT id, message "
                                    "FROM fortune" };
    evf_pg_result *res = evf_pg_pool_query(r, pool, &st);
    if (!res)
        return;
    int n = evf_pg_ntuples(res);
    fortune_t *f = evf_alloc(r, (size_t)(n + 1) * sizeof(*f));
    if (!f) {
        evf_raise(r, 500, NULL);
        return;
    }
    size_t cap = sizeof(head) + sizeof(tail) + 64;
    for (int i = 0; i < n; i++) {
        f[i].id = evf_pg_int(res, i, 0);
        f[i].message = evf_pg_text(res, i, 1);
        if (!f[i].message)
            f[i].message = "";
        cap += strlen(f[i].message) * 6 + 40;
    }
    f[n].id = 0;
    f[n].message = "Additional fortune added at request time.";
    cap += strlen(f[n].message) * 6 + 40;
    n++;
    qsort(f, (size_t)n, sizeof(*f), by_message);
    char *b = evf_alloc(r, cap);
    if (!b) {
        evf_raise(r, 500, NULL);
        return;
    }
    size_t len = sizeof(head) - 1;
    memcpy(b, head, len);
    for (int i = 0; i < n; i++) {
        len += (size_t)sprintf(b + len, "<tr><td>%d</td><td>", f[i].id);
        len += escape(b + len, f[i].message);
        memcpy(b + len, "</td></tr>", 10);
        len += 10;
    }
    memcpy(b + len, tail, sizeof(tail) - 1);
    len += sizeof(tail) - 1;
    evf_respond(r, 200, "text/html; charset=utf-8", b, len);
}

/* The in-process copy of World (loaded by the first request needing it). */
static bool
load_cache(evf_req *r)
{
    if (cache)
        return true;
    static const evf_pg_stmt st = { .sql = "SELECT id, randomnumber "
                                    "FROM world" };
    evf_pg_result *res = evf_pg_pool_query(r, pool, &st);
    if (!res)
        return false;
    if (cache)          /* another request loaded it meanwhile */
        return true;
    int *v = calloc(WORLD_ROWS + 1, sizeof(*v));
    if (!v) {
        evf_raise(r, 500, NULL);
        return false;
    }
    for (int i = 0, n = evf_pg_ntuples(res); i < n; i++) {
        int id = evf_pg_int(res, i, 0);
        if (id >= 1 && id <= WORLD_ROWS)
            v[id] = evf_pg_int(res, i, 1);
    }
    cache = v;
    return true;
}

static void
cached_queries(evf_req *r)
{
    int n = count_param(r, "count");
    if (!load_cache(r))
        return;
    world_t *w = evf_alloc(r, (size_t)n * sizeof(*w));
    if (!w) {
        evf_raise(r, 500, NULL);
        return;
    }
    for (int i = 0; i < n; i++) {
        w[i].id = random_id();
        w[i].number = cache[w[i].id];
    }
    answer_worlds(r, w, n, true);
}

static const evf_route routes[] = {
    EVF_GET("/json", json),
    EVF_GET("/plaintext", plaintext),
    EVF_GET("/db", single),
    EVF_GET("/queries", queries),
    EVF_GET("/fortunes", fortunes),
    EVF_GET("/updates", updates),
    EVF_GET("/cached-queries", cached_queries),
    EVF_END
};

static unsigned
option(evf_app_ctx *app, const char *key, unsigned def)
{
    const char *v = evf_app_option(app, key);
    return v && atoi(v) > 0 ? (unsigned)atoi(v) : def;
}

static int
startup(evf_app_ctx *app)
{
    rng = (unsigned long long)time(NULL) * 6364136223846793005ULL ^
          (unsigned long long)getpid() << 17 ^ 0x9e3779b97f4a7c15ULL;
    evf_pg_pool_opts o = {
        .min_size = option(app, "pool_min", 1),
        .max_size = option(app, "pool_max", 8),
        .max_waiters = option(app, "max_waiters", 0),
    };
    pool = evf_pg_pool_new(app, &o);
    return 0;   /* without a pool, database routes answer 503 */
}

static void
shutdown_(evf_app_ctx *app)
{
    (void)app;
    evf_pg_pool_free(pool);
    pool = NULL;
    free(cache);
    cache = NULL;
}

EVF_APP("tfb", routes, .startup = startup, .shutdown = shutdown_);
