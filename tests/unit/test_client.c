/*
 * test_client: the TestClient (evfcgi_test.h), as an app's tests use it:
 * linked against libevfcgi.so, public API only (suite "client").
 *
 * Covered, on the demo app loaded from its .so ($DEMO_APP): /hello, the
 * router's 404 and 405 and a 422 of a path and of a query parameter,
 * POST /echo with a raw body (larger than one STDIN piece), a urlencoded
 * form and a multipart body, a blocking route, awaits (/sleep, /gather,
 * /to-thread), /events read piece by piece, a stream left early,
 * /deps-demo and /external-data with their dependency overridden by name
 * (the answer changes, and changes back once the override is removed),
 * built-in pages and request_deadline set as directives, the client's own
 * timeout.  On an app linked into this program: startup (reading an app
 * option) and shutdown run once per client, clients one after another
 * (and never two at once), the CGI variables a handler sees (method, URI,
 * query, headers, cookies, body type and length), an override by address
 * replacing a declared dependency, background tasks done before the call
 * returns, a blocking route's stream.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "evfcgi.h"
#include "evfcgi_test.h"
#include "unit.h"

/* ---- helpers ------------------------------------------------------------- */

static const char *
demo_path(void)
{
    const char *p = getenv("DEMO_APP");
    return p && *p ? p : "apps/.libs/demo.so";
}

/* A member of resp's JSON body as a string ("" when absent). */
static const char *
jstr(evf_client_resp *resp, const char *key)
{
    json_object *o = evf_client_resp_json(resp), *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return "";
    return json_object_get_string(v);
}

static int64_t
jint(evf_client_resp *resp, const char *key)
{
    json_object *o = evf_client_resp_json(resp), *v;
    if (!o || !json_object_object_get_ex(o, key, &v))
        return -1;
    return json_object_get_int64(v);
}

/* GET path on c: its status (the answer is checked complete). */
static int
get_status(evf_client *c, const char *path)
{
    evf_client_resp resp;
    int rc = evf_client_get(c, path, &resp);
    CU_ASSERT_EQUAL(rc, 0);
    int status = resp.status;
    evf_client_resp_free(&resp);
    return status;
}

/* ---- the demo app, from its .so ------------------------------------------ */

static evf_client *demo;

static void
test_hello(void)
{
    evf_client_resp resp;
    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/hello", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(evf_client_resp_header(&resp, "content-type"),
                           "application/json");
    CU_ASSERT_STRING_EQUAL(evf_client_resp_header(&resp, "Content-Length"),
                           "19");
    CU_ASSERT_PTR_NULL(evf_client_resp_header(&resp, "Status"));
    CU_ASSERT_STRING_EQUAL(resp.body, "{\"message\":\"hello\"}");
    CU_ASSERT_EQUAL(resp.body_len, 19);
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "message"), "hello");
    /* The demo's middleware runs as under evfcgid: a request id. */
    const char *rid = evf_client_resp_header(&resp, "X-Request-ID");
    CU_ASSERT(rid && strlen(rid) == 36);
    evf_client_resp_free(&resp);
    CU_ASSERT_PTR_NULL(resp.body);
}

static void
test_router_errors(void)
{
    evf_client_resp resp;
    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/no-such-page", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 404);
    CU_ASSERT_STRING_EQUAL(resp.body, "{\"detail\":\"Not Found\"}");
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL_FATAL(evf_client_request(demo, &(evf_client_req){
        .method = "DELETE", .path = "/hello" }, &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 405);
    CU_ASSERT_STRING_EQUAL(evf_client_resp_header(&resp, "Allow"), "GET");
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/items/abc", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 422);
    CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "\"loc\":[\"path\","
                                             "\"item_id\"]"));
    CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "\"type\":\"int_parsing\""));
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/sleep?ms=-5", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 422);
    CU_ASSERT_PTR_NOT_NULL(strstr(resp.body, "\"loc\":[\"query\",\"ms\"]"));
    evf_client_resp_free(&resp);

    /* A malformed test request is the test's error, not an answer. */
    CU_ASSERT_EQUAL(evf_client_get(demo, "no-slash", &resp), EVF_EINVAL);
    CU_ASSERT_EQUAL(resp.status, 0);
    evf_client_resp_free(&resp);
}

static void
test_echo(void)
{
    evf_client_resp resp;
    CU_ASSERT_EQUAL_FATAL(evf_client_request(demo, &(evf_client_req){
        .path = "/echo", .body = "some bytes", .body_len = 10,
        .content_type = "text/plain" }, &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(resp.body, "some bytes");
    CU_ASSERT_STRING_EQUAL(evf_client_resp_header(&resp, "Content-Type"),
                           "text/plain");
    evf_client_resp_free(&resp);

    /* Larger than one STDIN piece, with a NUL inside. */
    size_t n = 100000;
    char *big = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 7 % 251);
    CU_ASSERT_EQUAL_FATAL(evf_client_request(demo, &(evf_client_req){
        .path = "/echo", .body = big, .body_len = n,
        .content_type = "application/octet-stream" }, &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_EQUAL(resp.body_len, n);
    CU_ASSERT(resp.body_len == n && memcmp(resp.body, big, n) == 0);
    evf_client_resp_free(&resp);
    free(big);

    static const char *const form[] = { "name", "a b&c", "x", "1", NULL };
    CU_ASSERT_EQUAL_FATAL(evf_client_request(demo, &(evf_client_req){
        .path = "/echo", .form = form }, &resp), 0);
    CU_ASSERT_STRING_EQUAL(resp.body, "name=a+b%26c&x=1");
    CU_ASSERT_STRING_EQUAL(evf_client_resp_header(&resp, "Content-Type"),
                           "application/x-www-form-urlencoded");
    evf_client_resp_free(&resp);

    static const char *const note[] = { "note", "hi", NULL };
    evf_client_file files[] = {
        { .field = "files", .filename = "a.txt", .content_type = "text/plain",
          .data = "AAA", .len = 3 },
        { .field = NULL },
    };
    CU_ASSERT_EQUAL_FATAL(evf_client_request(demo, &(evf_client_req){
        .path = "/echo", .form = note, .files = files }, &resp), 0);
    const char *ct = evf_client_resp_header(&resp, "Content-Type");
    CU_ASSERT_PTR_NOT_NULL_FATAL(ct);
    CU_ASSERT_EQUAL(strncmp(ct, "multipart/form-data; boundary=", 30), 0);
    char want[512];
    snprintf(want, sizeof(want),
             "--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n"
             "hi\r\n--%s\r\nContent-Disposition: form-data; name=\"files\"; "
             "filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nAAA\r\n"
             "--%s--\r\n", ct + 30, ct + 30, ct + 30);
    CU_ASSERT_STRING_EQUAL(resp.body, want);
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL_FATAL(evf_client_post_json(demo, "/echo", "{\"a\":[1]}",
                                               &resp), 0);
    CU_ASSERT_STRING_EQUAL(resp.body, "{\"a\":[1]}");
    CU_ASSERT_STRING_EQUAL(evf_client_resp_header(&resp, "Content-Type"),
                           "application/json");
    evf_client_resp_free(&resp);
}

static void
test_awaits_and_pool(void)
{
    evf_client_resp resp;
    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/sleep?ms=30", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_EQUAL(jint(&resp, "slept_ms"), 30);
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/gather", &resp), 0);
    CU_ASSERT_EQUAL(jint(&resp, "tasks"), 3);
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/items/7", &resp), 0);
    CU_ASSERT_STRING_EQUAL(resp.body,
                           "{\"item_id\":7,\"data\":\"some data\"}");
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL(get_status(demo, "/blocking"), 200);
    CU_ASSERT_EQUAL(get_status(demo, "/to-thread"), 200);
}

static void
test_events(void)
{
    evf_client_resp resp;
    evf_client_stream *s;
    CU_ASSERT_EQUAL_FATAL(evf_client_stream_open(demo, &(evf_client_req){
        .path = "/events?n=3&interval_ms=20" }, &resp, &s), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(evf_client_resp_header(&resp, "Content-Type"),
                           "text/event-stream");
    CU_ASSERT_STRING_EQUAL(evf_client_resp_header(&resp, "Cache-Control"),
                           "no-cache");
    CU_ASSERT_PTR_NULL(evf_client_resp_header(&resp, "Content-Length"));
    for (int i = 0; i < 3; i++) {
        const char *data;
        size_t len;
        char want[64];
        snprintf(want, sizeof(want), "id: %d\ndata: {\"n\":%d}\n\n", i, i);
        CU_ASSERT_EQUAL_FATAL(evf_client_stream_next(s, &data, &len), 1);
        CU_ASSERT_EQUAL(len, strlen(want));
        CU_ASSERT_STRING_EQUAL(data, want);
    }
    const char *data;
    size_t len;
    CU_ASSERT_EQUAL(evf_client_stream_next(s, &data, &len), 0);
    CU_ASSERT_EQUAL(len, 0);
    evf_client_stream_close(s);
    evf_client_resp_free(&resp);

    /* A stream left early: the handler is cancelled, the client goes on. */
    CU_ASSERT_EQUAL_FATAL(evf_client_stream_open(demo, &(evf_client_req){
        .path = "/events?n=10000&interval_ms=10" }, &resp, &s), 0);
    CU_ASSERT_EQUAL(evf_client_stream_next(s, &data, &len), 1);
    CU_ASSERT_EQUAL(evf_client_stream_next(s, &data, &len), 1);
    CU_ASSERT_STRING_EQUAL(data, "id: 1\ndata: {\"n\":1}\n\n");
    evf_client_stream_close(s);
    evf_client_resp_free(&resp);
    CU_ASSERT_EQUAL(get_status(demo, "/hello"), 200);

    /* An answer that is not a stream: its body is the one piece. */
    CU_ASSERT_EQUAL_FATAL(evf_client_stream_open(demo, &(evf_client_req){
        .path = "/nowhere" }, &resp, &s), 0);
    CU_ASSERT_EQUAL(resp.status, 404);
    CU_ASSERT_EQUAL(evf_client_stream_next(s, &data, &len), 1);
    CU_ASSERT_STRING_EQUAL(data, "{\"detail\":\"Not Found\"}");
    CU_ASSERT_EQUAL(evf_client_stream_next(s, &data, &len), 0);
    evf_client_stream_close(s);
    evf_client_resp_free(&resp);
}

/* Fakes for the demo's dependencies, replaced by name. */
static void *
fake_identity(evf_req *r)
{
    (void)r;
    return (void *)"tester";
}

static const evf_dep fake_identity_dep = {
    .name = "fake_identity", .resolve = fake_identity,
};

static void
put_json(void *o)
{
    json_object_put(o);
}

static void *
fake_external(evf_req *r)
{
    json_object *o = json_tokener_parse("{\"fake\":true}");
    evf_defer(r, put_json, o);
    return o;
}

static const evf_dep fake_external_dep = {
    .name = "fake_external", .resolve = fake_external,
};

static void
test_demo_overrides(void)
{
    evf_client_resp resp;
    /* The real identity wants X-User. */
    CU_ASSERT_EQUAL(get_status(demo, "/deps-demo"), 401);
    CU_ASSERT_EQUAL_FATAL(evf_client_request(demo, &(evf_client_req){
        .path = "/deps-demo", .headers = (const char *const[]){
            "X-User: alice", NULL } }, &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "user"), "alice");
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL(evf_client_override_name(demo, "identity",
                                             &fake_identity_dep), 0);
    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/deps-demo", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "user"), "tester");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "app"), "demo");
    evf_client_resp_free(&resp);
    CU_ASSERT_EQUAL(evf_client_override_name(demo, "identity", NULL), 0);
    CU_ASSERT_EQUAL(get_status(demo, "/deps-demo"), 401);

    /* No upstream configured: the real dependency fails (500). */
    CU_ASSERT_EQUAL(get_status(demo, "/external-data"), 500);
    CU_ASSERT_EQUAL(evf_client_override_name(demo, "get_external_data",
                                             &fake_external_dep), 0);
    CU_ASSERT_EQUAL_FATAL(evf_client_get(demo, "/external-data", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(resp.body, "{\"source\":\"external\","
                                      "\"data\":{\"fake\":true}}");
    evf_client_resp_free(&resp);
    CU_ASSERT_EQUAL(evf_client_override_name(demo, "get_external_data",
                                             NULL), 0);
    CU_ASSERT_EQUAL(get_status(demo, "/external-data"), 500);
}

static int
demo_init(void)
{
    unsetenv("DEMO_UPSTREAM_URL");
    demo = evf_client_load(demo_path(), &(evf_client_opts){
        .directives = (const char *const[]){ "log_level", "error", NULL } });
    return demo ? 0 : 1;
}

static int
demo_cleanup(void)
{
    evf_client_free(demo);
    demo = NULL;
    return 0;
}

/* Directives, and the client's own timeout, each on a fresh client. */
static void
test_directives_and_timeout(void)
{
    evf_client *c = evf_client_load(demo_path(), &(evf_client_opts){
        .directives = (const char *const[]){
            "log_level", "error", "ping_path", "/ping",
            "request_deadline", "0.05", NULL },
        .timeout = 0.5,
    });
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    evf_client_resp resp;
    CU_ASSERT_EQUAL_FATAL(evf_client_get(c, "/ping", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(resp.body, "pong");
    evf_client_resp_free(&resp);
    /* The request's deadline: the framework's 504. */
    CU_ASSERT_EQUAL_FATAL(evf_client_get(c, "/sleep?ms=10000", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 504);
    CU_ASSERT_STRING_EQUAL(resp.body, "{\"detail\":\"Gateway Timeout\"}");
    evf_client_resp_free(&resp);
    evf_client_free(c);

    c = evf_client_load(demo_path(), &(evf_client_opts){
        .directives = (const char *const[]){ "log_level", "error", NULL },
        .timeout = 0.2,
    });
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    /* No answer within the client's timeout: cancelled, reported. */
    CU_ASSERT_EQUAL(evf_client_get(c, "/sleep?ms=60000", &resp),
                    EVF_ETIMEDOUT);
    evf_client_resp_free(&resp);
    CU_ASSERT_EQUAL(get_status(c, "/hello"), 200);
    evf_client_free(c);
}

/* ---- an app linked into the test ----------------------------------------- */

static int started, stopped, bg_done;
static char greeting[64];

static int
app_startup(evf_app_ctx *app)
{
    const char *g = evf_app_option(app, "greeting");
    snprintf(greeting, sizeof(greeting), "%s", g ? g : "(none)");
    started++;
    return 0;
}

static void
app_shutdown(evf_app_ctx *app)
{
    (void)app;
    stopped++;
}

static void *
real_db(evf_req *r)
{
    (void)r;
    return (void *)"postgres";
}

static const evf_dep db = { .name = "db", .resolve = real_db };

static void *
fake_db(evf_req *r)
{
    (void)r;
    return (void *)"fake-db";
}

static const evf_dep fake_db_dep = { .name = "fake_db", .resolve = fake_db };

static void
add(json_object *o, const char *k, const char *v)
{
    json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* The CGI variables and inputs the handler sees. */
static void
show(evf_req *r)
{
    json_object *o = json_object_new_object();
    static const char *const vars[] = {
        "REQUEST_METHOD", "REQUEST_URI", "DOCUMENT_URI", "QUERY_STRING",
        "CONTENT_TYPE", "CONTENT_LENGTH", "HTTP_HOST", "HTTP_X_TOKEN",
        "HTTP_COOKIE", "REMOTE_ADDR", NULL,
    };
    for (size_t i = 0; vars[i]; i++)
        add(o, vars[i], evf_param(r, vars[i]));
    add(o, "path", evf_path(r));
    add(o, "q", evf_query_str(r, "q"));
    add(o, "db", evf_depends(r, &db));
    add(o, "greeting", greeting);
    evf_json(r, 200, o);
}

static void
background(evf_req *r, void *arg)
{
    (void)arg;
    evf_sleep(r, 0.01);
    bg_done++;
}

static void
with_background(evf_req *r)
{
    evf_background(r, background, NULL);
    evf_text(r, 202, "queued");
}

static void
blocking_stream(evf_req *r)
{
    evf_stream_begin(r, 200, "text/plain");
    evf_stream_write(r, "one,", 4);
    evf_stream_write(r, "two", 3);
    evf_stream_end(r);
}

static const evf_route app_routes[] = {
    EVF_ROUTE("PUT", "/show/{name}", show, .deps = EVF_DEPS(&db)),
    EVF_GET("/bg", with_background),
    EVF_GET("/bstream", blocking_stream, .blocking = true),
    EVF_END
};

static const evf_app test_app = {
    .abi = EVF_ABI_VERSION, .name = "tapp", .routes = app_routes,
    .startup = app_startup, .shutdown = app_shutdown,
};

static int
refuse(evf_app_ctx *app)
{
    (void)app;
    return -1;
}

static const evf_app refusing_app = {
    .abi = EVF_ABI_VERSION, .name = "refusing", .routes = app_routes,
    .startup = refuse, .shutdown = app_shutdown,
};

static evf_client *
new_app_client(void)
{
    return evf_client_new(&test_app, &(evf_client_opts){
        .options = (const char *const[]){ "greeting", "hi there", NULL },
        .directives = (const char *const[]){ "log_level", "error", NULL },
    });
}

static void
test_lifespan(void)
{
    started = stopped = 0;
    for (int round = 1; round <= 2; round++) {
        evf_client *c = new_app_client();
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        CU_ASSERT_EQUAL(started, round);
        CU_ASSERT_EQUAL(stopped, round - 1);
        CU_ASSERT_STRING_EQUAL(greeting, "hi there");
        /* One at a time: a second live client is refused. */
        CU_ASSERT_PTR_NULL(evf_client_new(&test_app, NULL));
        CU_ASSERT_EQUAL(started, round);
        CU_ASSERT_EQUAL(get_status(c, "/bg"), 202);
        evf_client_free(c);
        CU_ASSERT_EQUAL(stopped, round);
    }
    /* A startup that refuses: no client, no shutdown; the next one works. */
    CU_ASSERT_PTR_NULL(evf_client_new(&refusing_app, &(evf_client_opts){
        .directives = (const char *const[]){ "log_level", "error", NULL } }));
    CU_ASSERT_EQUAL(stopped, 2);
    evf_client *c = new_app_client();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(started, 3);
    CU_ASSERT_EQUAL(get_status(c, "/bg"), 202);
    evf_client_free(c);
    /* A .so that is not there: refused, logged. */
    CU_ASSERT_PTR_NULL(evf_client_load("/nonexistent/app.so", NULL));
}

static void
test_cgi_variables(void)
{
    evf_client *c = new_app_client();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    evf_client_resp resp;
    CU_ASSERT_EQUAL_FATAL(evf_client_request(c, &(evf_client_req){
        .method = "PUT", .path = "/show/a%20b?q=x%2By&z=1",
        .headers = (const char *const[]){ "X-Token: t1", "x-token: t2",
                                          "Cookie: a=1", NULL },
        .cookies = (const char *const[]){ "session=s1", "theme=dark", NULL },
        .json = "{}" }, &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "REQUEST_METHOD"), "PUT");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "REQUEST_URI"),
                           "/show/a%20b?q=x%2By&z=1");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "DOCUMENT_URI"), "/show/a%20b");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "QUERY_STRING"), "q=x%2By&z=1");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "CONTENT_TYPE"), "application/json");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "CONTENT_LENGTH"), "2");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "HTTP_HOST"), "testserver");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "HTTP_X_TOKEN"), "t1, t2");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "HTTP_COOKIE"),
                           "a=1; session=s1; theme=dark");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "REMOTE_ADDR"), "127.0.0.1");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "path"), "/show/a b");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "q"), "x+y");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "db"), "postgres");
    evf_client_resp_free(&resp);

    /* Without a body: GET, an empty type and length (as nginx sends). */
    CU_ASSERT_EQUAL_FATAL(evf_client_request(c, &(evf_client_req){
        .method = "PUT", .path = "/show/x" }, &resp), 0);
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "CONTENT_LENGTH"), "");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "CONTENT_TYPE"), "");
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "QUERY_STRING"), "");
    evf_client_resp_free(&resp);
    evf_client_free(c);
}

static void
test_override_by_address(void)
{
    evf_client *c = new_app_client();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    evf_client_resp resp;
    CU_ASSERT_EQUAL(evf_client_override(c, &db, &fake_db_dep), 0);
    CU_ASSERT_EQUAL_FATAL(evf_client_request(c, &(evf_client_req){
        .method = "PUT", .path = "/show/x" }, &resp), 0);
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "db"), "fake-db");
    evf_client_resp_free(&resp);
    CU_ASSERT_EQUAL(evf_client_override(c, &db, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(evf_client_request(c, &(evf_client_req){
        .method = "PUT", .path = "/show/x" }, &resp), 0);
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "db"), "postgres");
    evf_client_resp_free(&resp);
    /* Overrides end with their client. */
    CU_ASSERT_EQUAL(evf_client_override(c, &db, &fake_db_dep), 0);
    evf_client_free(c);
    c = new_app_client();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL_FATAL(evf_client_request(c, &(evf_client_req){
        .method = "PUT", .path = "/show/x" }, &resp), 0);
    CU_ASSERT_STRING_EQUAL(jstr(&resp, "db"), "postgres");
    evf_client_resp_free(&resp);
    evf_client_free(c);
}

static void
test_background_and_blocking_stream(void)
{
    evf_client *c = new_app_client();
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    bg_done = 0;
    evf_client_resp resp;
    CU_ASSERT_EQUAL_FATAL(evf_client_get(c, "/bg", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 202);
    CU_ASSERT_STRING_EQUAL(resp.body, "queued");
    CU_ASSERT_EQUAL(bg_done, 1);    /* done before the call returned */
    evf_client_resp_free(&resp);

    CU_ASSERT_EQUAL_FATAL(evf_client_get(c, "/bstream", &resp), 0);
    CU_ASSERT_EQUAL(resp.status, 200);
    CU_ASSERT_STRING_EQUAL(resp.body, "one,two");
    evf_client_resp_free(&resp);
    evf_client_free(c);
}

int
main(void)
{
    static CU_TestInfo demo_tests[] = {
        { "hello", test_hello },
        { "router errors: 404, 405, 422", test_router_errors },
        { "echo: raw, form, multipart, json", test_echo },
        { "awaits and the pool", test_awaits_and_pool },
        { "events piece by piece", test_events },
        { "overrides by name", test_demo_overrides },
        CU_TEST_INFO_NULL,
    };
    static CU_TestInfo fresh_tests[] = {
        { "directives and the timeout", test_directives_and_timeout },
        { "startup, shutdown, one at a time", test_lifespan },
        { "CGI variables", test_cgi_variables },
        { "override by address", test_override_by_address },
        { "background tasks, blocking stream",
          test_background_and_blocking_stream },
        CU_TEST_INFO_NULL,
    };
    CU_SuiteInfo suites[] = {
        { .pName = "client: demo", .pInitFunc = demo_init,
          .pCleanupFunc = demo_cleanup, .pTests = demo_tests },
        { .pName = "client: fresh clients", .pTests = fresh_tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}
