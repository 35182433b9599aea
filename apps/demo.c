/*
 * demo: the demo app, the contract tests and benchmarks rely on
 * (../shared DESIGN's table): FastAPI's async examples written in C.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "evfcgi.h"
#include "demo.h"

/* GET /hello: the smallest async route. */
static void
hello(evf_req *r)
{
    static const char body[] = "{\"message\":\"hello\"}";
    evf_respond(r, 200, "application/json", body, sizeof(body) - 1);
}

/* POST /echo: the body back, byte for byte, with its Content-Type. */
static void
echo(evf_req *r)
{
    size_t len;
    const void *body = evf_body(r, &len);
    const char *ctype = evf_header(r, "Content-Type");
    evf_respond(r, 200, ctype ? ctype : "application/octet-stream", body,
                len);
}

/* GET /big?bytes=N: N bytes of text, streamed under backpressure. */
static void
big(evf_req *r)
{
    static char chunk[64 * 1024];
    int64_t left = evf_query_int(r, "bytes");

    if (!chunk[0])
        for (size_t i = 0; i < sizeof(chunk); i++)
            chunk[i] = (char)('a' + i % 26);
    if (left <= (int64_t)sizeof(chunk)) {
        evf_respond(r, 200, "text/plain", chunk, (size_t)left);
        return;
    }
    char len[32];
    snprintf(len, sizeof(len), "%lld", (long long)left);
    evf_add_header(r, "Content-Length", len);
    evf_stream_begin(r, 200, "text/plain");
    while (left > 0) {
        size_t n = left < (int64_t)sizeof(chunk) ? (size_t)left : sizeof(chunk);
        if (evf_stream_write(r, chunk, n) < 0)
            return;     /* the client left */
        left -= (int64_t)n;
    }
    evf_stream_end(r);
}

static const evf_query big_query[] = {
    EVF_Q("bytes", EVF_INT, .has_ge = true, .ge = 0, .has_le = true,
          .le = 100000000),
    { .name = NULL },
};

/*
 * The seed's example:
 *     async def fetch_data_from_db(item_id): await asyncio.sleep(0.1) ...
 *     async def read_item(item_id: int): return await fetch_data_from_db()
 */
/*
 * Decimal digits of v at dst, which has room for 21 bytes; returns their
 * number.  The answer below is built by hand: a printf per request costs
 * more than the rest of the handler.
 */
static size_t
put_int(char *dst, int64_t v)
{
    char tmp[21];
    size_t n = 0;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[sizeof(tmp) - ++n] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[sizeof(tmp) - ++n] = '-';
    memcpy(dst, tmp + sizeof(tmp) - n, n);
    return n;
}

static size_t
fetch_data_from_db(evf_req *r, int64_t item_id, char *out)
{
    static const char head[] = "{\"item_id\":";
    static const char tail[] = ",\"data\":\"some data\"}";
    evf_sleep(r, 0.100);    /* simulate a DB query: the loop serves others */
    size_t n = sizeof(head) - 1;
    memcpy(out, head, n);
    n += put_int(out + n, item_id);
    memcpy(out + n, tail, sizeof(tail) - 1);
    return n + sizeof(tail) - 1;
}

static void
read_item(evf_req *r)
{
    char body[96];
    int64_t item_id = evf_path_int(r, "item_id");
    if (item_id < 0)        /* the documented 404: no such item */
        evf_raise(r, EVF_HTTP_NOT_FOUND, "Item not found");
    size_t len = fetch_data_from_db(r, item_id, body);
    evf_respond(r, 200, "application/json", body, len);
}

/* GET /sleep?ms=N */
static void
sleep_ms(evf_req *r)
{
    int64_t ms = evf_query_int(r, "ms");
    evf_sleep(r, (double)ms / 1000.0);
    evf_json_printf(r, 200, "{\"slept_ms\":%lld}", (long long)ms);
}

static const evf_query sleep_query[] = {
    EVF_Q("ms", EVF_INT, .has_ge = true, .ge = 0, .has_le = true,
          .le = 60000),
    { .name = NULL },
};

/* GET /gather: three 100 ms awaits at once take 100 ms, not 300. */
static void
gather_one(evf_req *r, void *arg)
{
    evf_sleep(r, 0.100);
    *(int *)arg = 1;
}

static void
gather(evf_req *r)
{
    int done[3] = { 0, 0, 0 };
    void *args[3] = { &done[0], &done[1], &done[2] };
    evf_gather(r, 3, gather_one, args);
    evf_json_printf(r, 200, "{\"tasks\":%d}", done[0] + done[1] + done[2]);
}

/* GET /events?n=N&interval_ms=M: Server-Sent Events, one every M ms. */
static void
events(evf_req *r)
{
    int64_t n = evf_query_int(r, "n");
    double interval = (double)evf_query_int(r, "interval_ms") / 1000.0;

    evf_add_header(r, "Cache-Control", "no-cache");
    evf_add_header(r, "X-Accel-Buffering", "no");
    evf_stream_begin(r, 200, "text/event-stream");
    for (int64_t i = 0; i < n; i++) {
        if (i)
            evf_sleep(r, interval);
        if (evf_stream_printf(r, "id: %lld\ndata: {\"n\":%lld}\n\n",
                              (long long)i, (long long)i) < 0)
            return;
    }
    evf_stream_end(r);
}

static const evf_query events_query[] = {
    EVF_Q("n", EVF_INT, .def = "5", .has_ge = true, .ge = 0, .has_le = true,
          .le = 10000),
    EVF_Q("interval_ms", EVF_INT, .def = "100", .has_ge = true, .ge = 0,
          .has_le = true, .le = 60000),
    { .name = NULL },
};

/* GET /blocking: FastAPI's plain `def` route, on the thread pool. */
static void
blocking(evf_req *r)
{
    usleep(100 * 1000);     /* a blocking call: fine on a pool thread */
    evf_json_printf(r, 200, "{\"slept_ms\":100,\"where\":\"pool\"}");
}

static void
blocking_call(void *arg)
{
    usleep(100 * 1000);
    *(int *)arg = 100;
}

/* GET /to-thread: an async route awaiting a blocking call on the pool. */
static void
to_thread(evf_req *r)
{
    int slept = 0;
    if (evf_to_thread(r, blocking_call, &slept) == EVF_EBUSY)
        evf_raise(r, 503, "Service Unavailable");
    evf_json_printf(r, 200, "{\"slept_ms\":%d,\"where\":\"to_thread\"}",
                    slept);
}

/*
 * GET /blocking-wrong: the seed's first pitfall, on purpose: a blocking
 * sleep in an async handler stalls every request on the loop.  It is
 * served, and the stall detector names it in the log.
 */
static void
blocking_wrong(evf_req *r)
{
    usleep(100 * 1000);
    evf_json_printf(r, 200, "{\"slept_ms\":100,\"where\":\"loop\"}");
}

/* ---- dependencies ----------------------------------------------------- */

/* Settings, as FastAPI apps read them: the environment, overridden by the
 * app's options in the daemon's configuration. */
static const char *upstream_url;
static bool upstream_http2;         /* upstream_http2 = 1: h2c / h2 */
static size_t upstream_max_answer;  /* bytes; 0: the client's default */
static const char *upstream_ca_file;    /* PEM CA bundle for https */

static int redis_startup(evf_app_ctx *app);

static int
startup(evf_app_ctx *app)
{
    upstream_url = evf_app_option(app, "upstream_url");
    if (!upstream_url)
        upstream_url = getenv("DEMO_UPSTREAM_URL");
    const char *v = evf_app_option(app, "upstream_http2");
    upstream_http2 = v && strcmp(v, "1") == 0;
    v = evf_app_option(app, "upstream_max_answer");
    upstream_max_answer = v ? (size_t)strtoull(v, NULL, 10) : 0;
    upstream_ca_file = evf_app_option(app, "upstream_ca_file");
    return redis_startup(app);
}

static void
put_json(void *obj)
{
    json_object_put(obj);
}

/*
 * The seed's dependency:
 *     async def get_external_data():
 *         async with httpx.AsyncClient() as client:
 *             response = await client.get(URL)
 *             response.raise_for_status()
 *             return response.json()
 */
static void *
get_external_data(evf_req *r)
{
    if (!upstream_url)
        evf_raise(r, 500, "DEMO_UPSTREAM_URL is not set");
    evf_http_response resp;
    int rc = evf_http(r, &(evf_http_opts){ .url = upstream_url,
                                           .timeout = 10,
                                           .raise_for_status = true,
                                           .http2 = upstream_http2,
                                           .max_answer = upstream_max_answer,
                                           .ca_file = upstream_ca_file },
                      &resp);
    if (rc < 0)
        evf_http_raise(r, rc, &resp);
    /*
     * response.json(), with one parser kept for the worker's loop thread
     * (handlers run there) rather than one made and freed per answer.
     */
    static json_tokener *tok;
    if (!tok && !(tok = json_tokener_new()))
        evf_raise(r, 503, "Service Unavailable");
    json_tokener_reset(tok);
    json_object *data = json_tokener_parse_ex(tok, resp.body,
                                              (int)resp.body_len + 1);
    if (!data || json_tokener_get_error(tok) != json_tokener_success) {
        json_object_put(data);
        evf_raise(r, 502, "Bad Gateway: the upstream sent invalid JSON");
    }
    evf_defer(r, put_json, data);
    return data;
}

static const evf_dep external_data = {
    .name = "get_external_data", .resolve = get_external_data,
};

/* @app.get("/external-data")
 * async def get_data(external_data: dict = Depends(get_external_data)) */
static void
get_data(evf_req *r)
{
    json_object *data = evf_depends(r, &external_data);
    /* {"source":"external","data":DATA}, without a wrapper object. */
    static const char head[] = "{\"source\":\"external\",\"data\":";
    size_t len;
    const char *s = json_object_to_json_string_length(
        data, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    char *out = s ? evf_alloc(r, sizeof(head) + len + 1) : NULL;
    if (!out)
        evf_raise(r, 503, "Service Unavailable");
    memcpy(out, head, sizeof(head) - 1);
    memcpy(out + sizeof(head) - 1, s, len);
    out[sizeof(head) - 1 + len] = '}';
    evf_respond(r, 200, "application/json", out, sizeof(head) + len);
}

/*
 * GET /deps-demo: a nested chain, settings -> session (with a teardown)
 * -> caller identity from a header.  GET /deps-demo/stats shows how many
 * sessions were opened and closed, so the teardowns can be observed.
 */
static unsigned long sessions_opened, sessions_closed;

typedef struct session {
    unsigned long id;
} session_t;

static void *
settings_dep(evf_req *r)
{
    (void)r;
    return (void *)"demo";
}

static const evf_dep settings = { .name = "settings", .resolve = settings_dep };

static void
close_session(evf_req *r, void *arg)
{
    (void)r, (void)arg;
    sessions_closed++;
}

static void *
session_dep(evf_req *r)
{
    session_t *s = evf_alloc(r, sizeof(*s));
    evf_sleep(r, 0.010);    /* "connect" to a database */
    s->id = ++sessions_opened;
    evf_teardown(r, close_session, s);
    return s;
}

static const evf_dep session = {
    .name = "session", .resolve = session_dep,
    .deps = EVF_DEPS(&settings),
};

static void *
identity_dep(evf_req *r)
{
    const char *user = evf_header(r, "X-User");
    evf_depends(r, &session);
    if (!user || !*user)
        evf_raise(r, 401, "Not authenticated");
    return (void *)user;
}

static const evf_dep identity = {
    .name = "identity", .resolve = identity_dep,
    .deps = EVF_DEPS(&session),
};

static void
deps_demo(evf_req *r)
{
    const char *user = evf_depends(r, &identity);
    session_t *s = evf_depends(r, &session);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "user", json_object_new_string(user));
    json_object_object_add(o, "session", json_object_new_int64(
                               (int64_t)s->id));
    json_object_object_add(o, "app", json_object_new_string(
                               evf_depends(r, &settings)));
    evf_json(r, 200, o);
}

static void
deps_stats(evf_req *r)
{
    evf_json_printf(r, 200, "{\"sessions_opened\":%lu,"
                    "\"sessions_closed\":%lu}", sessions_opened,
                    sessions_closed);
}

/* ---- state shared across hosts, in Redis ------------------------------- */

/*
 * App options: redis_url (redis://HOST:PORT or unix:/PATH), rate_limit
 * (requests per window, default 10), rate_window (seconds, default 60),
 * cache_ttl (seconds, default 60).  Every evfcgid host pointing at the same
 * Redis shares the counters and the cache.
 */
static long rate_limit = 10, rate_window = 60, cache_ttl = 60;

static long
option_long(evf_app_ctx *app, const char *name, long def)
{
    const char *v = evf_app_option(app, name);
    char *end;
    if (!v)
        return def;
    long n = strtol(v, &end, 10);
    if (*end || n <= 0) {
        evf_log(NULL, EVF_LOG_ERROR, "demo: option %s=%s is not a positive "
                "integer; using %ld", name, v, def);
        return def;
    }
    return n;
}

static int
redis_startup(evf_app_ctx *app)
{
    const char *url = evf_app_option(app, "redis_url");
    rate_limit = option_long(app, "rate_limit", 10);
    rate_window = option_long(app, "rate_window", 60);
    cache_ttl = option_long(app, "cache_ttl", 60);
    return url && evf_redis_open(url) < 0 ? -1 : 0;
}

static void
demo_shutdown(evf_app_ctx *app)
{
    (void)app;
    evf_redis_close();
}

/*
 * GET /limited: a fixed-window rate limit per client address.  The window
 * is the current rate_window-long slice of the clock (hosts must keep
 * their clocks in sync); INCR counts this request and EXPIRE lets the key
 * go with its window, both sent in one pipeline.
 */
static void
limited(evf_req *r)
{
    const char *addr = evf_param(r, "REMOTE_ADDR");
    long long now = (long long)time(NULL), count;
    long long slice = now / rate_window;
    char key[160];
    const evf_redis_reply *n = NULL;

    snprintf(key, sizeof(key), "demo:limited:%s:%lld", addr ? addr : "-",
             slice);
    evf_future *incr = evf_redis_send(r, "INCR %s", key);
    evf_future *expire = evf_redis_send(r, "EXPIRE %s %ld", key,
                                        rate_window);
    int rc = evf_redis_get(r, incr, &n);
    int rc2 = evf_redis_get(r, expire, NULL);
    if (rc < 0 || rc2 < 0) {
        evf_redis_raise(r, rc < 0 ? rc : rc2, n);
        return;
    }
    if (!evf_redis_int(n, &count)) {
        evf_raise(r, 500, NULL);
        return;
    }
    if (count > rate_limit) {
        char retry[48];
        snprintf(retry, sizeof(retry), "Retry-After: %lld",
                 (slice + 1) * rate_window - now);
        const char *const headers[] = { retry, NULL };
        evf_raise_headers(r, 429, "Too Many Requests", headers);
        return;
    }
    evf_json_printf(r, 200, "{\"remaining\":%lld}", rate_limit - count);
}

/*
 * GET /cache/items/{item_id:int}: read-through cache in front of the slow
 * /items work.  A hit answers from Redis; a miss does the 100 ms work and
 * stores the answer for cache_ttl seconds.  X-Cache says which it was.
 */
static void
cached_item(evf_req *r)
{
    long long id = (long long)evf_path_int(r, "item_id");
    const evf_redis_reply *v = NULL;
    size_t len;

    int rc = evf_redis(r, &v, "GET demo:item:%lld", id);
    if (rc < 0) {
        evf_redis_raise(r, rc, v);
        return;
    }
    const char *hit = evf_redis_str(v, &len);
    if (hit && evf_redis_type(v) == EVF_REDIS_STRING) {
        evf_add_header(r, "X-Cache", "hit");
        evf_respond(r, 200, "application/json", hit, len);
        return;
    }
    evf_sleep(r, 0.100);    /* the slow work: a simulated DB query */
    char body[96];
    int blen = snprintf(body, sizeof(body),
                        "{\"item_id\":%lld,\"data\":\"some data\"}", id);
    rc = evf_redis(r, &v, "SET demo:item:%lld %b EX %ld", id, body,
                   (size_t)blen, cache_ttl);
    if (rc < 0)
        evf_log(r, EVF_LOG_WARN, "not cached (Redis failed: %d)", rc);
    evf_add_header(r, "X-Cache", "miss");
    evf_respond(r, 200, "application/json", body, (size_t)blen);
}

static const evf_route routes[] = {
    EVF_GET("/hello", hello, .summary = "Say hello"),
    EVF_POST("/echo", echo, .summary = "Echo the body back"),
    EVF_GET("/big", big, .query = big_query,
            .summary = "A body of the size asked for"),
    EVF_GET("/items/{item_id:int}", read_item,
            .responses = demo_read_item_responses,
            .summary = "Read an item (a 100 ms await)"),
    EVF_GET("/sleep", sleep_ms, .query = sleep_query,
            .summary = "Sleep without blocking the loop"),
    EVF_GET("/gather", gather, .summary = "Three awaits at once"),
    EVF_GET("/events", events, .query = events_query,
            .summary = "Server-Sent Events"),
    EVF_GET("/blocking", blocking, .blocking = true,
            .summary = "A blocking route on the thread pool"),
    EVF_GET("/to-thread", to_thread,
            .summary = "Blocking work handed to the pool"),
    EVF_GET("/blocking-wrong", blocking_wrong,
            .summary = "What not to do: block the loop"),
    EVF_GET("/external-data", get_data, .deps = EVF_DEPS(&external_data),
            .summary = "Data from an upstream API (a dependency)"),
    EVF_GET("/deps-demo", deps_demo, .deps = EVF_DEPS(&identity),
            .summary = "A chain of dependencies"),
    EVF_GET("/deps-demo/stats", deps_stats,
            .summary = "Sessions opened and closed by /deps-demo"),
    EVF_GET("/limited", limited, .summary = "Rate-limited (Redis)"),
    EVF_GET("/cache/items/{item_id:int}", cached_item,
            .summary = "Read an item through a Redis cache"),
    /* Forms and uploads (demo_forms.c). */
    EVF_POST("/upload", demo_upload, .form = demo_upload_form,
             .blocking = true, .summary = "Upload files (multipart)"),
    EVF_POST("/login", demo_login, .form = demo_login_form,
             .summary = "Log in with a form"),
    /* toolkit (issue 13): demo_toolkit.c */
    EVF_GET("/search", demo_search, .query = demo_search_query,
            .summary = "Search by tags (a list parameter)"),
    EVF_GET("/prefs", demo_prefs, .query = demo_prefs_query,
            .summary = "Preferences in a cookie"),
    EVF_GET("/whoami", demo_whoami, .deps = EVF_DEPS(&demo_current_user),
            .summary = "Who the bearer token says you are"),
    EVF_GET("/agent", demo_agent, .query = demo_agent_query,
            .summary = "Your User-Agent (a header parameter)"),
    /* ---- models (issue 12) ---- */
    EVF_POST("/items", demo_create_item, .body = &demo_item_in_model,
             .response_model = &demo_item_model,
             .status_code = EVF_HTTP_CREATED, .summary = "Create an item"),
    EVF_END
};

EVF_APP("demo", routes, .startup = startup, .shutdown = demo_shutdown,
        /* middleware and CORS: demo_web.c */
        .middleware = demo_middleware, .cors = &demo_cors);
