/*
 * pgtest: routes exercising the PostgreSQL driver and pool
 * (tests/integration/test_pg.sh).  Options: database_url, pool_max,
 * max_waiters.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evfcgi.h"
#include "evfcgi_pg.h"

static evf_pg_pool *pool;

static void *
db(evf_req *r)
{
    return evf_pg_acquire(r, pool);
}

static const evf_dep db_dep = { .name = "db", .resolve = db };
#define DB .deps = EVF_DEPS(&db_dep)

/* GET /pg/params?a=&b=[&c=]: typed parameters, NULL when c is absent. */
static void
params(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    const char *p[3] = { evf_query_str(r, "a"), evf_query_str(r, "b"),
                         evf_query_str(r, "c") };
    evf_pg_result *res = evf_pg_query(c, "SELECT $1::int + $2::int, "
                                      "$3::text IS NULL, $3::text", 3, p);
    const char *t = evf_pg_text(res, 0, 2);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "sum", json_object_new_int(evf_pg_int(res, 0,
                                                                     0)));
    json_object_object_add(o, "c_is_null",
                           json_object_new_boolean(evf_pg_bool(res, 0, 1)));
    json_object_object_add(o, "c", t ? json_object_new_string(t) : NULL);
    evf_json(r, 200, o);
}

/* GET /pg/types: each accessor on a value of its type, and a NULL. */
static void
types(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    evf_pg_result *res = evf_pg_query(c, "SELECT 42::int, 9000000000::bigint,"
                                      " 1.5::float8, true,"
                                      " 'h\xc3\xa9llo'::text, NULL::int, false",
                                      0, NULL);
    evf_json_printf(r, 200, "{\"int\":%d,\"int64\":%lld,\"float\":%g,"
                    "\"bool\":%s,\"text\":\"%s\",\"null\":%s,\"null_int\":%d,"
                    "\"false\":%s,\"rows\":%d,\"fields\":%d}",
                    evf_pg_int(res, 0, 0),
                    (long long)evf_pg_int64(res, 0, 1),
                    evf_pg_float(res, 0, 2),
                    evf_pg_bool(res, 0, 3) ? "true" : "false",
                    evf_pg_text(res, 0, 4),
                    evf_pg_isnull(res, 0, 5) ? "true" : "false",
                    evf_pg_int(res, 0, 5),
                    evf_pg_bool(res, 0, 6) ? "true" : "false",
                    evf_pg_ntuples(res), evf_pg_nfields(res));
}

/*
 * GET /pg/prepared?n=N: the same named statement N times, then how many
 * times it is prepared on this session (1: prepared once, reused).
 */
static void
prepared(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    int64_t n = evf_query_int(r, "n"), sum = 0;
    for (int64_t i = 0; i < n; i++) {
        char v[24];
        snprintf(v, sizeof(v), "%lld", (long long)i);
        const char *p[] = { v };
        sum += evf_pg_int64(evf_pg_prepared(c, "twice", "SELECT $1::int * 2",
                                            1, p), 0, 0);
    }
    evf_pg_result *res = evf_pg_query(c, "SELECT count(*), pg_backend_pid() "
                                      "FROM pg_prepared_statements WHERE "
                                      "name = 'twice'", 0, NULL);
    evf_json_printf(r, 200, "{\"sum\":%lld,\"prepared\":%d,\"pid\":%d}",
                    (long long)sum, evf_pg_int(res, 0, 0),
                    evf_pg_int(res, 0, 1));
}

/* GET /pg/pipeline?n=N: N statements in one batch; sum of their results. */
static void
pipeline(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    size_t n = (size_t)evf_query_int(r, "n");
    evf_pg_stmt *st = evf_alloc(r, n * sizeof(*st) + 1);
    evf_pg_result **res = evf_alloc(r, n * sizeof(*res) + 1);
    const char **vals = evf_alloc(r, n * sizeof(*vals) + 1);
    for (size_t i = 0; i < n; i++) {
        char v[24];
        snprintf(v, sizeof(v), "%zu", i + 1);
        vals[i] = evf_strdup(r, v);
        st[i] = (evf_pg_stmt){ .sql = "SELECT $1::int * 3", .nparams = 1,
                               .params = &vals[i],
                               .name = i % 2 ? "triple" : NULL };
    }
    evf_pg_pipeline(c, n, st, res);
    long long sum = 0;
    bool ordered = true;
    for (size_t i = 0; i < n; i++) {
        sum += evf_pg_int64(res[i], 0, 0);
        ordered = ordered && evf_pg_int64(res[i], 0, 0) == 3 * (int64_t)(i + 1);
    }
    evf_json_printf(r, 200, "{\"n\":%zu,\"sum\":%lld,\"ordered\":%s}", n, sum,
                    ordered ? "true" : "false");
}

/*
 * POST /pg/tx?v=V&end=commit|raise|forget|sleep: insert V in a
 * transaction, then commit, raise 409, respond without committing, or
 * sleep past the route's deadline.
 */
static void
tx(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    const char *v = evf_query_str(r, "v");
    const char *end = evf_query_str(r, "end");
    evf_pg_begin(c);
    evf_pg_query(c, "INSERT INTO items(v) VALUES ($1)", 1, &v);
    if (strcmp(end, "commit") == 0)
        evf_pg_commit(c);
    else if (strcmp(end, "raise") == 0)
        evf_raise(r, 409, "Conflict");
    else if (strcmp(end, "sleep") == 0)
        evf_sleep(r, 30);
    evf_text(r, 200, end);
}

/* POST /pg/insert?v=V: one row, autocommit (no deadline). */
static void
insert(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    const char *v = evf_query_str(r, "v");
    evf_pg_query(c, "INSERT INTO items(v) VALUES ($1)", 1, &v);
    evf_text(r, 200, v);
}

/* GET /pg/count?v=V: rows holding V. */
static void
count(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    const char *v = evf_query_str(r, "v");
    evf_pg_result *res = evf_pg_query(c, "SELECT count(*) FROM items WHERE "
                                      "v = $1", 1, &v);
    evf_json_printf(r, 200, "{\"count\":%lld}",
                    (long long)evf_pg_int64(res, 0, 0));
}

/* GET /pg/listen?ch=C&timeout=S: the next notification on C. */
static void
listen_(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    const char *ch, *payload;
    evf_pg_listen(c, evf_query_str(r, "ch"));
    if (evf_pg_wait_notify(c, evf_query_float(r, "timeout"), &ch,
                           &payload) == EVF_ETIMEDOUT) {
        evf_raise(r, 408, "no notification");
        return;
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "channel", json_object_new_string(ch));
    json_object_object_add(o, "payload", json_object_new_string(payload));
    evf_json(r, 200, o);
}

/* GET /pg/notify?ch=C&msg=M */
static void
notify(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    const char *p[] = { evf_query_str(r, "ch"), evf_query_str(r, "msg") };
    evf_pg_query(c, "SELECT pg_notify($1, $2)", 2, p);
    evf_text(r, 200, "sent");
}

/* GET /pg/sleep?s=S: a query that takes S seconds. */
static void
sleep_(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    const char *p[] = { evf_query_str(r, "s") };
    evf_pg_query(c, "SELECT pg_sleep($1::float8) /* pgtest-sleep */", 1, p);
    evf_text(r, 200, "slept");
}

/* GET /pg/error: a query that fails (division by zero). */
static void
error_(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    evf_pg_query(c, "SELECT 1/0 AS secret_sql_text", 0, NULL);
    evf_text(r, 200, "unreachable");
}

/* GET /pg/pid: the backend serving this request's connection. */
static void
pid(evf_req *r)
{
    evf_pg *c = evf_depends(r, &db_dep);
    evf_pg_result *res = evf_pg_query(c, "SELECT pg_backend_pid()", 0, NULL);
    evf_json_printf(r, 200, "{\"pid\":%d}", evf_pg_int(res, 0, 0));
}

/*
 * GET /pg/shared?k=K[&fail=1][&sleep=S]: five statements pipelined on a
 * shared connection (no dependency), each 3 * (1000 K + i); their sum.
 * fail adds a failing statement; sleep a slow one first.
 */
static void
shared(evf_req *r)
{
    int64_t k = evf_query_int(r, "k");
    bool fail = evf_query_bool(r, "fail");
    const char *sl = evf_query_str(r, "sleep");
    evf_pg_stmt st[7];
    evf_pg_result *res[7];
    char v[5][24];
    const char *p[5];
    size_t n = 0;
    if (sl)
        st[n++] = (evf_pg_stmt){ .sql = "SELECT pg_sleep($1::float8)",
                                 .nparams = 1, .params = &sl };
    for (int i = 0; i < 5; i++) {
        snprintf(v[i], sizeof(v[i]), "%lld", (long long)(k * 1000 + i));
        p[i] = v[i];
        st[n++] = (evf_pg_stmt){ .sql = "SELECT $1::int * 3", .nparams = 1,
                                 .params = &p[i], .name = "shared3" };
    }
    if (fail)
        st[n++] = (evf_pg_stmt){ .sql = "SELECT 1/0" };
    if (evf_pg_pool_pipeline(r, pool, n, st, res) < 0)
        return;
    long long sum = 0;
    for (size_t i = sl ? 1 : 0; i < n; i++)
        sum += evf_pg_int64(res[i], 0, 0);
    evf_json_printf(r, 200, "{\"k\":%lld,\"sum\":%lld}", (long long)k, sum);
}

static const evf_query q_shared[] = {
    EVF_Q("k", EVF_INT), EVF_Q("fail", EVF_BOOL, .def = "false"),
    EVF_Q("sleep", EVF_STR, .optional = true), { .name = NULL },
};

static const evf_query q_params[] = {
    EVF_Q("a", EVF_INT), EVF_Q("b", EVF_INT),
    EVF_Q("c", EVF_STR, .optional = true), { .name = NULL },
};
static const evf_query q_n[] = { EVF_Q("n", EVF_INT, .has_ge = true,
                                       .ge = 0, .has_le = true, .le = 5000),
                                 { .name = NULL } };
static const evf_query q_tx[] = { EVF_Q("v", EVF_STR), EVF_Q("end", EVF_STR),
                                  { .name = NULL } };
static const evf_query q_v[] = { EVF_Q("v", EVF_STR), { .name = NULL } };
static const evf_query q_listen[] = {
    EVF_Q("ch", EVF_STR), EVF_Q("timeout", EVF_FLOAT, .def = "10"),
    { .name = NULL },
};
static const evf_query q_notify[] = { EVF_Q("ch", EVF_STR),
                                      EVF_Q("msg", EVF_STR),
                                      { .name = NULL } };
static const evf_query q_s[] = { EVF_Q("s", EVF_FLOAT), { .name = NULL } };

static const evf_route routes[] = {
    EVF_GET("/pg/params", params, .query = q_params, DB),
    EVF_GET("/pg/types", types, DB),
    EVF_GET("/pg/prepared", prepared, .query = q_n, DB),
    EVF_GET("/pg/pipeline", pipeline, .query = q_n, DB),
    EVF_POST("/pg/tx", tx, .query = q_tx, .deadline = 1, DB),
    EVF_GET("/pg/count", count, .query = q_v, DB),
    EVF_POST("/pg/insert", insert, .query = q_v, DB),
    EVF_GET("/pg/listen", listen_, .query = q_listen, DB),
    EVF_GET("/pg/notify", notify, .query = q_notify, DB),
    EVF_GET("/pg/sleep", sleep_, .query = q_s, DB),
    EVF_GET("/pg/deadline", sleep_, .query = q_s, .deadline = 0.5, DB),
    EVF_GET("/pg/error", error_, DB),
    EVF_GET("/pg/pid", pid, DB),
    EVF_GET("/pg/shared", shared, .query = q_shared),
    EVF_END
};

static int
startup(evf_app_ctx *app)
{
    const char *max = evf_app_option(app, "pool_max");
    const char *waiters = evf_app_option(app, "max_waiters");
    evf_pg_pool_opts o = {
        .max_size = max ? (unsigned)atoi(max) : 4,
        .max_waiters = waiters ? (unsigned)atoi(waiters) : 64,
    };
    pool = evf_pg_pool_new(app, &o);
    return 0;   /* without a pool, routes answer 503 */
}

static void
shutdown_(evf_app_ctx *app)
{
    (void)app;
    evf_pg_pool_free(pool);
    pool = NULL;
}

EVF_APP("pgtest", routes, .startup = startup, .shutdown = shutdown_);
