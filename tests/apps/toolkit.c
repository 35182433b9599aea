/*
 * toolkit: an app with exception handlers, route data and app state, for
 * test_toolkit.sh (the demo keeps FastAPI's error bodies).  Its 404 and
 * 422 answers are its own, an app-defined error code is answered 418 by
 * its handler, and /greet reads its route's data and the state startup
 * set.
 */
#include <json-c/json.h>
#include <stdio.h>

#include "evfcgi.h"

#define ERR_UNICORN (EVF_APP_ERROR + 1)

static void
not_found(evf_req *r, int status, const char *detail, json_object *errors)
{
    (void)status, (void)detail, (void)errors;
    evf_json_printf(r, 404, "{\"error\":\"nothing at this address\"}");
}

static void
invalid(evf_req *r, int status, const char *detail, json_object *errors)
{
    (void)status, (void)detail;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "problems", json_object_get(errors));
    evf_json(r, 400, o);
}

static void
unicorn(evf_req *r, int status, const char *detail, json_object *errors)
{
    (void)status, (void)errors;
    evf_json_printf(r, 418, "{\"message\":\"Oops! %s did something. "
                    "There goes a rainbow...\"}", detail);
}

static const evf_exception_handler handlers[] = {
    { 404, not_found },
    { 422, invalid },
    { ERR_UNICORN, unicorn },
    { 0, NULL },
};

/* GET /unicorns/{name}: "yolo" raises the app's own error. */
static void
unicorns(evf_req *r)
{
    const char *name = evf_path_str(r, "name");
    if (name[0] == 'y' && name[1] == 'o' && name[2] == 'l' &&
        name[3] == 'o' && !name[4])
        evf_raise(r, ERR_UNICORN, "yolo");
    evf_json_printf(r, 200, "{\"unicorn_name\":\"ok\"}");
}

/* GET /count/{n:int}: 422 on a bad n, answered by the handler. */
static void
count(evf_req *r)
{
    evf_json_printf(r, 200, "{\"n\":%lld}",
                    (long long)evf_path_int(r, "n"));
}

static int hits;
static const char hello_data[] = "hello from the route";

/* GET /greet: the route's data and the app's state (a counter). */
static void
greet(evf_req *r)
{
    int *n = evf_app_state(r);
    (*n)++;
    evf_json_printf(r, 200, "{\"data\":\"%s\",\"hits\":%d}",
                    (const char *)evf_route_data(r), *n);
}

static int
startup(evf_app_ctx *app)
{
    hits = 0;
    evf_app_set_state(app, &hits);
    return 0;
}

static const evf_route routes[] = {
    EVF_GET("/unicorns/{name}", unicorns),
    EVF_GET("/count/{n:int}", count),
    EVF_GET("/greet", greet, .data = (void *)hello_data),
    EVF_END
};

EVF_APP("toolkit", routes, .startup = startup,
        .exception_handlers = handlers);
