/*
 * demo_toolkit: the demo routes of FastAPI's request toolkit (issue 13):
 * list query parameters (/search), a cookie parameter and a response
 * cookie (/prefs), HTTP Bearer security (/whoami), a declared header
 * parameter (/agent).  Listed in demo.c's route table.
 */
#include <json-c/json.h>
#include <string.h>

#include "demo.h"

/*
 * GET /search?tag=a&tag=b&limit=N -> {"tags":["a","b"],"limit":N}: tag is
 * a list of 1 to 5 strings, required; limit an int in [1, 100], default
 * 10.
 */
const evf_query demo_search_query[] = {
    EVF_Q("tag", EVF_STR, .list = true, .min_items = 1, .max_items = 5),
    EVF_Q("limit", EVF_INT, .def = "10", .has_ge = true, .ge = 1,
          .has_le = true, .le = 100),
    { .name = NULL },
};

void
demo_search(evf_req *r)
{
    json_object *o = json_object_new_object();
    json_object *tags = json_object_new_array();
    size_t n = evf_query_count(r, "tag");
    for (size_t i = 0; i < n; i++)
        json_object_array_add(tags, json_object_new_string(
                                  evf_query_str_at(r, "tag", i)));
    json_object_object_add(o, "tags", tags);
    json_object_object_add(o, "limit",
                           json_object_new_int64(evf_query_int(r, "limit")));
    evf_json(r, 200, o);
}

/*
 * GET /prefs -> {"theme": the cookie theme, light or dark, default
 * light}; GET /prefs?set=dark also sets the cookie (HttpOnly,
 * SameSite=Lax, Path=/) and answers the new theme.
 */
static const char *const themes[] = { "light", "dark", NULL };

const evf_query demo_prefs_query[] = {
    EVF_Q("theme", EVF_STR, .in = EVF_IN_COOKIE, .def = "light",
          .choices = themes),
    EVF_Q("set", EVF_STR, .optional = true, .choices = themes),
    { .name = NULL },
};

void
demo_prefs(evf_req *r)
{
    const char *theme = evf_query_str(r, "theme");
    if (evf_query_has(r, "set")) {
        theme = evf_query_str(r, "set");
        evf_cookie_opts o = { .httponly = true,
                              .samesite = EVF_SAMESITE_LAX, .path = "/" };
        if (evf_set_cookie(r, "theme", theme, &o) < 0) {
            evf_raise(r, 500, NULL);
            return;
        }
    }
    evf_json_printf(r, 200, "{\"theme\":\"%s\"}", theme);
}

/*
 * GET /whoami with Authorization: Bearer demo-token -> {"user":"demo"}.
 * No or another scheme: 401 Not authenticated (the helper's); another
 * token: 401 Invalid authentication credentials; both with
 * WWW-Authenticate: Bearer.
 */
EVF_HTTP_BEARER(demo_bearer, .description = "The demo's token: demo-token");

static void *
current_user(evf_req *r)
{
    const evf_credentials *c = evf_depends(r, &demo_bearer);
    if (!c || strcmp(c->credentials, "demo-token") != 0) {
        static const char *const h[] = { "WWW-Authenticate: Bearer", NULL };
        evf_raise_headers(r, 401, "Invalid authentication credentials", h);
        return NULL;
    }
    return "demo";
}

const evf_dep demo_current_user = {
    .name = "current_user",
    .resolve = current_user,
    .deps = EVF_DEPS(&demo_bearer),
};

void
demo_whoami(evf_req *r)
{
    const char *user = evf_depends(r, &demo_current_user);
    evf_json_printf(r, 200, "{\"user\":\"%s\"}", user);
}

/* GET /agent -> {"user_agent": the User-Agent header}, required. */
const evf_query demo_agent_query[] = {
    EVF_Q("user_agent", EVF_STR, .in = EVF_IN_HEADER),
    { .name = NULL },
};

void
demo_agent(evf_req *r)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "user_agent", json_object_new_string(
                               evf_query_str(r, "user_agent")));
    evf_json(r, 200, o);
}
