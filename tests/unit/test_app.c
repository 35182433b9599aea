/*
 * test_app: registering apps and their lifespan (suite "app").
 *
 * Covered: two apps registered side by side, each route served (requests
 * driven through fcgi_peer.h as in test_request); a route clash refused
 * with a message naming both routes and both apps, leaving no route of the
 * refused app behind; other refusals (same app name, wrong ABI, no route
 * table, a route without handler, a dependency cycle), each logged; app
 * options (per app, the last setting wins, unknown keys NULL); startup
 * hooks in registration order and shutdown hooks in reverse, once each; a
 * startup hook that refuses stops the later ones, and only the apps that
 * started are shut down.  The log goes to a file the tests read.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "settings.h"
#include "unit.h"

static char logpath[256];

/* What the hooks did, in order: "+a,+b,-b,-a". */
static char trail[256];
static const char *seen_opt[4];     /* what startup hooks read */

static void
note(const char *ev)
{
    if (trail[0])
        strncat(trail, ",", sizeof(trail) - strlen(trail) - 1);
    strncat(trail, ev, sizeof(trail) - strlen(trail) - 1);
}

/* The whole log written so far (static buffer). */
static const char *
log_text(void)
{
    static char buf[16384];
    FILE *f = fopen(logpath, "r");
    size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    return buf;
}

static bool
logged(const char *what)
{
    if (strstr(log_text(), what))
        return true;
    fprintf(stderr, "\n    not in the log: %s\n    log: %s\n", what,
            log_text());
    return false;
}

/* A fresh log and no app. */
static void
fresh(void)
{
    evf_apps_free();
    CU_ASSERT_FATAL(truncate(logpath, 0) == 0);
    trail[0] = '\0';
    memset(seen_opt, 0, sizeof(seen_opt));
}

/* ---- apps ------------------------------------------------------------- */

static void
h_a(evf_req *r)
{
    evf_text(r, 200, "a");
}

static void
h_b(evf_req *r)
{
    evf_json_printf(r, 200, "{\"b\":%lld}", (long long)evf_path_int(r, "n"));
}

static int
up_a(evf_app_ctx *app)
{
    note("+a");
    seen_opt[0] = evf_app_option(app, "greeting");
    seen_opt[1] = evf_app_option(app, "nothing");
    return 0;
}

static void
down_a(evf_app_ctx *app)
{
    (void)app;
    note("-a");
}

static int
up_b(evf_app_ctx *app)
{
    note("+b");
    seen_opt[2] = evf_app_option(app, "greeting");
    return 0;
}

static void
down_b(evf_app_ctx *app)
{
    (void)app;
    note("-b");
}

static int
up_refuse(evf_app_ctx *app)
{
    (void)app;
    note("+refuse");
    return -1;
}

static void
down_refuse(evf_app_ctx *app)
{
    (void)app;
    note("-refuse");
}

static const evf_route routes_a[] = {
    EVF_GET("/a", h_a),
    EVF_GET("/items/{item_id:int}", h_a),
    EVF_END
};
static const evf_route routes_b[] = {
    EVF_GET("/b/{n:int}", h_b),
    EVF_POST("/a", h_a),            /* another method: no clash */
    EVF_END
};
/* Its first route is fine, its second clashes with app a's. */
static const evf_route routes_clash[] = {
    EVF_GET("/clash-only", h_a),
    EVF_GET("/items/{item_id:int}", h_a),
    EVF_END
};
static const evf_route routes_nohandler[] = {
    EVF_GET("/nohandler", NULL),
    EVF_END
};

static const evf_app app_a = {
    .abi = EVF_ABI_VERSION, .name = "a", .routes = routes_a,
    .startup = up_a, .shutdown = down_a,
};
static const evf_app app_b = {
    .abi = EVF_ABI_VERSION, .name = "b", .routes = routes_b,
    .startup = up_b, .shutdown = down_b,
};
static const evf_app app_refuse = {
    .abi = EVF_ABI_VERSION, .name = "refuse", .routes = routes_b,
    .startup = up_refuse, .shutdown = down_refuse,
};
static const evf_app app_clash = {
    .abi = EVF_ABI_VERSION, .name = "clash", .routes = routes_clash,
};
static const evf_app app_a_again = {
    .abi = EVF_ABI_VERSION, .name = "a", .routes = routes_b,
};
static const evf_app app_old_abi = {
    .abi = EVF_ABI_VERSION + 1, .name = "old", .routes = routes_b,
};
static const evf_app app_noroutes = {
    .abi = EVF_ABI_VERSION, .name = "noroutes",
};
static const evf_app app_nohandler = {
    .abi = EVF_ABI_VERSION, .name = "nohandler", .routes = routes_nohandler,
};

/* A dependency cycle: X needs Y needs X. */
static void *
r_dep(evf_req *r)
{
    (void)r;
    return NULL;
}
static const evf_dep dep_x, dep_y;
static const evf_dep dep_x = {
    .name = "X", .resolve = r_dep, .deps = EVF_DEPS(&dep_y),
};
static const evf_dep dep_y = {
    .name = "Y", .resolve = r_dep, .deps = EVF_DEPS(&dep_x),
};
static const evf_route routes_cycle[] = {
    EVF_GET("/cycle", h_a, .deps = EVF_DEPS(&dep_x)),
    EVF_END
};
static const evf_app app_cycle = {
    .abi = EVF_ABI_VERSION, .name = "cycle", .routes = routes_cycle,
};

/* ---- tests ------------------------------------------------------------ */

/* Two apps side by side: every route of each is served. */
static void
test_two_apps(void)
{
    fresh();
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_a, "test a"), 0);
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_b, "test b"), 0);
    CU_ASSERT(logged("loaded app 'a' from test a: 2 routes") ||
              evf_log_level() < EVF_LOG_LVL_INFO);
    const char *const *labels;
    CU_ASSERT_EQUAL(evf_apps_route_labels(&labels), 4);
    CU_ASSERT_STRING_EQUAL(labels[0], "GET /a");
    CU_ASSERT_STRING_EQUAL(labels[2], "GET /b/{n:int}");

    open_conn();
    send_get(1, "/a");
    send_get(2, "/b/7");
    send_req(3, FCGI_KEEP_CONN, "POST", "/a", "text/plain", "x");
    send_get(4, "/items/3");
    send_get(5, "/nowhere");
    uint16_t ids[] = { 1, 2, 3, 4, 5, 0 };
    CU_ASSERT_TRUE(run_until(all_ended, ids, 2.0));
    CU_ASSERT(status_of(1) == 200 && body_is(1, "a"));
    CU_ASSERT(status_of(2) == 200 && body_is(2, "{\"b\":7}"));
    CU_ASSERT(status_of(3) == 200 && body_is(3, "a"));
    CU_ASSERT(status_of(4) == 200 && body_is(4, "a"));
    CU_ASSERT_EQUAL(status_of(5), 404);
    finish_conn();
}

/*
 * A clash names both routes and both apps, and the refused app leaves no
 * route behind: its /clash-only is not served; app a's routes still are.
 */
static void
test_clash(void)
{
    fresh();
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_a, "test a"), 0);
    CU_ASSERT_EQUAL(evf_app_register(&app_clash, "test clash"), -1);
    CU_ASSERT(logged("test clash: route clash: GET /items/{item_id:int} "
                     "(app clash) and GET /items/{item_id:int} (app a)"));
    const char *const *labels;
    CU_ASSERT_EQUAL(evf_apps_route_labels(&labels), 2);

    open_conn();
    send_get(1, "/clash-only");
    send_get(2, "/items/5");
    send_get(3, "/a");
    uint16_t ids[] = { 1, 2, 3, 0 };
    CU_ASSERT_TRUE(run_until(all_ended, ids, 2.0));
    CU_ASSERT_EQUAL(status_of(1), 404);
    CU_ASSERT(status_of(2) == 200 && body_is(2, "a"));
    CU_ASSERT(status_of(3) == 200 && body_is(3, "a"));
    finish_conn();

    /* The order does not matter: the message names both either way. */
    fresh();
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_clash, "test clash"), 0);
    CU_ASSERT_EQUAL(evf_app_register(&app_a, "test a"), -1);
    CU_ASSERT(logged("test a: route clash: GET /items/{item_id:int} "
                     "(app a) and GET /items/{item_id:int} (app clash)"));
}

/* Apps refused at registration, each with its reason in the log. */
static void
test_refused(void)
{
    fresh();
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_a, "first.so"), 0);
    CU_ASSERT_EQUAL(evf_app_register(&app_a_again, "second.so"), -1);
    CU_ASSERT(logged("second.so: an app named 'a' is already loaded "
                     "(from first.so)"));
    CU_ASSERT_EQUAL(evf_app_register(&app_old_abi, "old.so"), -1);
    CU_ASSERT(logged("old.so: app built for evfcgi ABI"));
    CU_ASSERT_EQUAL(evf_app_register(&app_noroutes, "empty.so"), -1);
    CU_ASSERT(logged("empty.so: app has no name or no route table"));
    CU_ASSERT_EQUAL(evf_app_register(&app_nohandler, "nh.so"), -1);
    CU_ASSERT(logged("nh.so: route GET /nohandler has no handler"));
    CU_ASSERT_EQUAL(evf_app_register(&app_cycle, "cycle.so"), -1);
    CU_ASSERT(logged("cycle.so: route GET /cycle: dependency cycle"));
    const char *const *labels;
    CU_ASSERT_EQUAL(evf_apps_route_labels(&labels), 2);   /* a's only */
}

/* Options: per app; the last setting of a key wins; unknown keys NULL. */
static void
test_options(void)
{
    fresh();
    CU_ASSERT_EQUAL(evf_app_set_option("a", "greeting", "hello"), 0);
    CU_ASSERT_EQUAL(evf_app_set_option("a", "greeting", "bonjour"), 0);
    CU_ASSERT_EQUAL(evf_app_set_option("c", "greeting", "not for b"), 0);
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_a, "test a"), 0);
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_b, "test b"), 0);
    CU_ASSERT_EQUAL_FATAL(evf_apps_startup(), 0);
    CU_ASSERT(seen_opt[0] && strcmp(seen_opt[0], "bonjour") == 0);
    CU_ASSERT_PTR_NULL(seen_opt[1]);
    CU_ASSERT_PTR_NULL(seen_opt[2]);
    evf_apps_shutdown();
}

/* Startup in registration order, shutdown in reverse, once each. */
static void
test_lifespan_order(void)
{
    fresh();
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_a, "test a"), 0);
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_b, "test b"), 0);
    CU_ASSERT_EQUAL(evf_apps_startup(), 0);
    CU_ASSERT_STRING_EQUAL(trail, "+a,+b");
    evf_apps_shutdown();
    CU_ASSERT_STRING_EQUAL(trail, "+a,+b,-b,-a");
    evf_apps_shutdown();                    /* nothing runs twice */
    CU_ASSERT_STRING_EQUAL(trail, "+a,+b,-b,-a");
}

/*
 * A startup hook that refuses: startup fails, naming the app; the apps
 * after it do not start; shutdown runs for those that started only.
 */
static void
test_failed_startup(void)
{
    fresh();
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_a, "test a"), 0);
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_refuse, "test refuse"), 0);
    static const evf_route routes_c[] = { EVF_GET("/c", h_a), EVF_END };
    static const evf_app app_c = {
        .abi = EVF_ABI_VERSION, .name = "c", .routes = routes_c,
        .startup = up_b, .shutdown = down_b,
    };
    CU_ASSERT_EQUAL_FATAL(evf_app_register(&app_c, "test c"), 0);
    CU_ASSERT_EQUAL(evf_apps_startup(), -1);
    CU_ASSERT(logged("app 'refuse': startup hook failed"));
    CU_ASSERT_STRING_EQUAL(trail, "+a,+refuse");
    evf_apps_shutdown();
    CU_ASSERT_STRING_EQUAL(trail, "+a,+refuse,-a");
}

/* ---- suite ------------------------------------------------------------ */

static int
init(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(logpath, sizeof(logpath), "%s/evf-app-log-XXXXXX",
             t && *t ? t : "/tmp");
    int fd = mkstemp(logpath);
    if (fd < 0)
        return -1;
    close(fd);
    if (peer_init() < 0 || evf_log_open(logpath) < 0)
        return -1;
    evf_log_set_level(EVF_LOG_LVL_INFO);
    evf_settings.max_reqs_per_conn = 16;
    evf_settings.request_deadline = 0;
    return 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    evf_log_open("stderr");
    unlink(logpath);
    return 0;
}

static CU_TestInfo tests[] = {
    { "two apps side by side", test_two_apps },
    { "route clash names both", test_clash },
    { "refused apps, with reasons", test_refused },
    { "app options", test_options },
    { "startup in order, shutdown in reverse", test_lifespan_order },
    { "a failed startup", test_failed_startup },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("app", init, cleanup, tests);
}
