/*
 * test_exc: exception handlers, route data and app state (suite "exc").
 *
 * The app registers handlers for the framework's 404, 405, 422 and 500,
 * for an evf_raise status (403) and for an app-defined code; the tests
 * check that each replaces the framework's body (with the error's own
 * headers kept: Allow, WWW-Authenticate), that statuses without a handler
 * keep FastAPI's body, that a handler which does not answer or raises
 * leaves the framework's answer, and that an app code without a handler
 * is a 500 that does not show the app's detail.  Route data and the app
 * state set by startup reach the handler.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "log.h"
#include "pool.h"
#include "settings.h"
#include "toolkit_peer.h"
#include "unit.h"

#define ERR_UNICORN  (EVF_APP_ERROR + 1)
#define ERR_NO_HANDLER (EVF_APP_ERROR + 2)

static struct {
    unsigned handled;
    int status;
    char detail[64];
    bool had_errors;
} g;

static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
}

static void
note(int status, const char *detail, json_object *errors)
{
    g.handled++;
    g.status = status;
    snprintf(g.detail, sizeof(g.detail), "%s", detail ? detail : "(null)");
    g.had_errors = errors != NULL;
}

static void
on_not_found(evf_req *r, int status, const char *detail, json_object *e)
{
    note(status, detail, e);
    evf_json_printf(r, 404, "{\"error\":\"no such page\"}");
}

static void
on_method(evf_req *r, int status, const char *detail, json_object *e)
{
    note(status, detail, e);
    evf_json_printf(r, 405, "{\"error\":\"wrong method\"}");
}

/* FastAPI's docs example: the errors, under another key, as 400. */
static void
on_invalid(evf_req *r, int status, const char *detail, json_object *e)
{
    note(status, detail, e);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "errors", json_object_get(e));
    evf_json(r, 400, o);
}

static void
on_500(evf_req *r, int status, const char *detail, json_object *e)
{
    note(status, detail, e);
    evf_json_printf(r, 500, "{\"error\":\"sorry\"}");
}

static void
on_unauthorized(evf_req *r, int status, const char *detail, json_object *e)
{
    note(status, detail, e);
    evf_json_printf(r, 401, "{\"error\":\"login first\"}");
}

static void
on_unicorn(evf_req *r, int status, const char *detail, json_object *e)
{
    note(status, detail, e);
    evf_json_printf(r, 418, "{\"message\":\"Oops! %s did something\"}",
                    detail);
}

/* Does not answer: the framework's answer goes out. */
static void
on_conflict(evf_req *r, int status, const char *detail, json_object *e)
{
    (void)r;
    note(status, detail, e);
}

/* Raises inside: that raise gets the framework's answer. */
static void
on_gone(evf_req *r, int status, const char *detail, json_object *e)
{
    note(status, detail, e);
    evf_raise(r, 500, "nested");
}

static const evf_exception_handler handlers[] = {
    { 404, on_not_found },
    { 405, on_method },
    { 422, on_invalid },
    { 500, on_500 },
    { 401, on_unauthorized },
    { ERR_UNICORN, on_unicorn },
    { 409, on_conflict },
    { 410, on_gone },
    { 0, NULL },
};

static void
h_item(evf_req *r)
{
    evf_json_printf(r, 200, "{\"id\":%lld}",
                    (long long)evf_path_int(r, "id"));
}

static void
h_silent(evf_req *r)
{
    (void)r;        /* no answer: 500 */
}

static void
h_raise(evf_req *r)
{
    int st = (int)evf_path_int(r, "st");
    if (st == 401) {
        static const char *const h[] = { "WWW-Authenticate: Bearer", NULL };
        evf_raise_headers(r, 401, "Not authenticated", h);
    }
    evf_raise(r, st, st == ERR_NO_HANDLER ? "secret internals" : "yolo");
}

static void
h_blocking_raise(evf_req *r)
{
    evf_raise(r, ERR_UNICORN, "blocker");
}

typedef struct { const char *greeting; } route_data_t;
static route_data_t hi_data = { "hi" };
static route_data_t bye_data = { "bye" };

static void
h_data(evf_req *r)
{
    const route_data_t *d = evf_route_data(r);
    const char *state = evf_app_state(r);
    evf_json_printf(r, 200, "{\"greeting\":\"%s\",\"state\":\"%s\"}",
                    d ? d->greeting : "none", state ? state : "none");
}

static char state_text[] = "from startup";

static int
startup(evf_app_ctx *a)
{
    evf_app_set_state(a, state_text);
    return evf_app_state_of(a) == state_text ? 0 : -1;
}

static const evf_route routes[] = {
    EVF_GET("/items/{id:int}", h_item),
    EVF_GET("/silent", h_silent),
    EVF_GET("/raise/{st:int}", h_raise),
    EVF_GET("/blocking-raise", h_blocking_raise, .blocking = true),
    EVF_GET("/hi", h_data, .data = &hi_data),
    EVF_GET("/bye", h_data, .data = &bye_data),
    EVF_GET("/nodata", h_data),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "exc",
    .routes = routes,
    .startup = startup,
    .exception_handlers = handlers,
};

/* ---- tests ------------------------------------------------------------ */

static void
test_framework_errors(void)
{
    CU_ASSERT_EQUAL(get_with("/nowhere", NULL), 404);
    CU_ASSERT(body_exact("{\"error\":\"no such page\"}"));
    CU_ASSERT(g.handled == 1 && g.status == 404);
    CU_ASSERT_STRING_EQUAL(g.detail, "Not Found");
    finish_conn();

    CU_ASSERT_EQUAL(request_with("POST", "/items/1", NULL), 405);
    CU_ASSERT(body_exact("{\"error\":\"wrong method\"}"));
    CU_ASSERT(has_header(1, "Allow: GET"));     /* the error's header */
    finish_conn();

    CU_ASSERT_EQUAL(get_with("/items/abc", NULL), 400);
    CU_ASSERT(body_exact("{\"errors\":[{\"type\":\"int_parsing\",\"loc\":"
                         "[\"path\",\"id\"],\"msg\":\"Input should be a "
                         "valid integer, unable to parse string as an "
                         "integer\",\"input\":\"abc\"}]}"));
    CU_ASSERT(g.status == 422 && g.had_errors);
    finish_conn();

    CU_ASSERT_EQUAL(get_with("/silent", NULL), 500);
    CU_ASSERT(body_exact("{\"error\":\"sorry\"}"));
    finish_conn();

    CU_ASSERT_EQUAL(get_with("/items/7", NULL), 200);
    CU_ASSERT_EQUAL(g.handled, 0);
    finish_conn();
}

static void
test_raised(void)
{
    /* A raised status with a handler; its headers stay. */
    CU_ASSERT_EQUAL(get_with("/raise/401", NULL), 401);
    CU_ASSERT(body_exact("{\"error\":\"login first\"}"));
    CU_ASSERT(has_header(1, "WWW-Authenticate: Bearer"));
    CU_ASSERT_STRING_EQUAL(g.detail, "Not authenticated");
    finish_conn();

    /* Without a handler: FastAPI's body. */
    CU_ASSERT_EQUAL(get_with("/raise/403", NULL), 403);
    CU_ASSERT(body_exact("{\"detail\":\"yolo\"}"));
    CU_ASSERT_EQUAL(g.handled, 0);
    finish_conn();

    /* raised 404 (a route matched) goes to the 404 handler too. */
    CU_ASSERT_EQUAL(get_with("/raise/404", NULL), 404);
    CU_ASSERT(body_exact("{\"error\":\"no such page\"}"));
    finish_conn();

    /* The app's own code: its handler builds the answer. */
    char uri[64];
    snprintf(uri, sizeof(uri), "/raise/%d", ERR_UNICORN);
    CU_ASSERT_EQUAL(get_with(uri, NULL), 418);
    CU_ASSERT(body_exact("{\"message\":\"Oops! yolo did something\"}"));
    CU_ASSERT_EQUAL(g.status, ERR_UNICORN);
    finish_conn();

    /* ... also raised from a blocking handler on the pool. */
    CU_ASSERT_EQUAL(get_with("/blocking-raise", NULL), 418);
    CU_ASSERT(body_exact("{\"message\":\"Oops! blocker did something\"}"));
    finish_conn();

    /* An app code without a handler: 500, the detail not shown. */
    snprintf(uri, sizeof(uri), "/raise/%d", ERR_NO_HANDLER);
    CU_ASSERT_EQUAL(get_with(uri, NULL), 500);
    CU_ASSERT(body_exact("{\"detail\":\"Internal Server Error\"}"));
    finish_conn();

    /* A handler that does not answer: the framework's answer. */
    CU_ASSERT_EQUAL(get_with("/raise/409", NULL), 409);
    CU_ASSERT(body_exact("{\"detail\":\"yolo\"}"));
    CU_ASSERT_EQUAL(g.handled, 1);
    finish_conn();
    /* The raise inside is answered with the framework's body. */
    CU_ASSERT_EQUAL(get_with("/raise/410", NULL), 500);
    CU_ASSERT(body_exact("{\"detail\":\"nested\"}"));
    CU_ASSERT_EQUAL(g.handled, 1);
    finish_conn();
}

static void
test_data_state(void)
{
    CU_ASSERT_EQUAL(get_with("/hi", NULL), 200);
    CU_ASSERT(body_exact("{\"greeting\":\"hi\",\"state\":\"from startup\"}"));
    finish_conn();
    CU_ASSERT_EQUAL(get_with("/bye", NULL), 200);
    CU_ASSERT(body_exact("{\"greeting\":\"bye\",\"state\":\"from startup\"}"));
    finish_conn();
    CU_ASSERT_EQUAL(get_with("/nodata", NULL), 200);
    CU_ASSERT(body_exact("{\"greeting\":\"none\",\"state\":\"from startup\"}"));
    finish_conn();
}

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR + 100);
    evf_settings.max_reqs_per_conn = 16;
    evf_settings.request_deadline = 0;
    if (evf_pool_start(cl.loop, 2, 16) < 0)
        return -1;
    if (evf_app_register(&app, "exc") < 0)
        return -1;
    return evf_apps_startup();
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_shutdown();
    evf_apps_free();
    evf_pool_stop();
    evf_coro_pool_destroy();
    peer_free();
    return 0;
}

static CU_TestInfo tests[] = {
    { "404, 405, 422, 500 replaced", test_framework_errors },
    { "raised statuses and app codes", test_raised },
    { "route data and app state", test_data_state },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("exc", init, cleanup, tests);
}
