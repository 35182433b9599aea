/*
 * test_router: suite "router".
 *
 * Covers the route table: literal routes (the root "/" included), typed
 * parameters ({id:int}, {x:float}, {s}, {p:path}), a literal preferred to
 * a parameter, backtracking out of a literal dead end, 404 against 405 and
 * its Allow list, trailing slashes, refused routes (clashes, conflicting
 * parameter names, bad templates) and that a refused route leaves the
 * table as it was, out-of-memory during evf_router_add, and
 * evf_router_count.  The typed conversions and percent-decoding have
 * their own suites (test_convert, test_url).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oom.h"
#include "router.h"
#include "unit.h"

static char err[256];

/* Add a route whose data is its tag (a string); the result of the add. */
static int
add(evf_router_t *rt, const char *method, const char *path, const char *tag)
{
    err[0] = '\0';
    return evf_router_add(rt, method, path, (void *)tag, "test", err,
                          sizeof(err));
}

static int
add_as(evf_router_t *rt, const char *method, const char *path,
       const char *owner)
{
    err[0] = '\0';
    return evf_router_add(rt, method, path, (void *)path, owner, err,
                          sizeof(err));
}

/* The matched route's tag, or "404" / "405". */
static const char *
match(const evf_router_t *rt, const char *method, const char *path,
      evf_match_t *m)
{
    evf_router_match(rt, method, path, m);
    if (m->status == 404)
        return "404";
    if (m->status == 405)
        return "405";
    if (m->status != 0 || !m->data)
        return "?";
    return m->data;
}

/* Capture i is name=value of the given type. */
static bool
cap_is(const evf_match_t *m, size_t i, const char *name, evf_type type,
       const char *value)
{
    if (i >= m->ncaps)
        return false;
    const evf_capture_t *c = &m->caps[i];
    return strcmp(c->name, name) == 0 && c->type == type &&
           c->len == strlen(value) && memcmp(c->value, value, c->len) == 0;
}

static void
test_literal(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(evf_router_count(rt), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/hello", "hello"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/a/b/c", "abc"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/a", "a"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/zeta", "zeta"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/alpha", "alpha"), 0);
    CU_ASSERT_EQUAL(evf_router_count(rt), 5);

    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/hello", &m), "hello");
    CU_ASSERT_EQUAL(m.ncaps, 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a/b/c", &m), "abc");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a", &m), "a");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/zeta", &m), "zeta");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/alpha", &m), "alpha");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a/b", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a/b/c/d", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/hell", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/helloo", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/HELLO", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "hello", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/", &m), "404");
    CU_ASSERT_PTR_NULL(m.data);
    evf_router_free(rt);
}

static void
test_root(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add(rt, "GET", "/", "root"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/x", "x"), 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/", &m), "root");
    CU_ASSERT_STRING_EQUAL(match(rt, "POST", "/", &m), "405");
    CU_ASSERT_STRING_EQUAL(m.allow, "GET");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/x", &m), "x");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "//", &m), "404");
    evf_router_free(rt);
}

static void
test_params(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add(rt, "GET", "/items/{id:int}", "item"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/f/{x:float}", "float"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/s/{s}", "str"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/t/{t:str}/{flag:bool}", "two"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/files/{p:path}", "path"), 0);

    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/42", &m), "item");
    CU_ASSERT_EQUAL(m.ncaps, 1);
    CU_ASSERT_TRUE(cap_is(&m, 0, "id", EVF_INT, "42"));
    /* Conversion is validation after matching: not a 404. */
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/abc", &m), "item");
    CU_ASSERT_TRUE(cap_is(&m, 0, "id", EVF_INT, "abc"));
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/1/2", &m), "404");

    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/f/1.5", &m), "float");
    CU_ASSERT_TRUE(cap_is(&m, 0, "x", EVF_FLOAT, "1.5"));
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/s/hello world", &m), "str");
    CU_ASSERT_TRUE(cap_is(&m, 0, "s", EVF_STR, "hello world"));
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/t/a/yes", &m), "two");
    CU_ASSERT_EQUAL(m.ncaps, 2);
    CU_ASSERT_TRUE(cap_is(&m, 0, "t", EVF_STR, "a"));
    CU_ASSERT_TRUE(cap_is(&m, 1, "flag", EVF_BOOL, "yes"));

    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/files/a/b/c.txt", &m), "path");
    CU_ASSERT_EQUAL(m.ncaps, 1);
    CU_ASSERT_TRUE(cap_is(&m, 0, "p", EVF_PATH, "a/b/c.txt"));
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/files/x", &m), "path");
    CU_ASSERT_TRUE(cap_is(&m, 0, "p", EVF_PATH, "x"));
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/files/d/", &m), "path");
    CU_ASSERT_TRUE(cap_is(&m, 0, "p", EVF_PATH, "d/"));
    /* Captures point into the path given. */
    const char *path = "/items/777";
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", path, &m), "item");
    CU_ASSERT_PTR_EQUAL(m.caps[0].value, path + 7);
    evf_router_free(rt);
}

static void
test_literal_first(void)
{
    /* Both orders of registration give the same answers. */
    for (int order = 0; order < 2; order++) {
        evf_router_t *rt = evf_router_new();
        evf_match_t m;
        CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
        if (order == 0) {
            CU_ASSERT_EQUAL(add(rt, "GET", "/items/{id}", "id"), 0);
            CU_ASSERT_EQUAL(add(rt, "GET", "/items/me", "me"), 0);
        } else {
            CU_ASSERT_EQUAL(add(rt, "GET", "/items/me", "me"), 0);
            CU_ASSERT_EQUAL(add(rt, "GET", "/items/{id}", "id"), 0);
        }
        CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/me", &m), "me");
        CU_ASSERT_EQUAL(m.ncaps, 0);
        CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/you", &m), "id");
        CU_ASSERT_TRUE(cap_is(&m, 0, "id", EVF_STR, "you"));
        CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/mee", &m), "id");
        evf_router_free(rt);
    }
}

static void
test_backtracking(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add(rt, "GET", "/a/{x}/c", "xc"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/a/b/d", "bd"), 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a/b/c", &m), "xc");
    CU_ASSERT_EQUAL(m.ncaps, 1);
    CU_ASSERT_TRUE(cap_is(&m, 0, "x", EVF_STR, "b"));
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a/b/d", &m), "bd");
    CU_ASSERT_EQUAL(m.ncaps, 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a/z/c", &m), "xc");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a/b/e", &m), "404");
    CU_ASSERT_EQUAL(m.ncaps, 0);

    /* A capture made on a dead-end branch is dropped on the way back. */
    CU_ASSERT_EQUAL(add(rt, "GET", "/p/b/{y}/q", "yq"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/p/{x}/c/r", "xr"), 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/p/b/c/r", &m), "xr");
    CU_ASSERT_EQUAL(m.ncaps, 1);
    CU_ASSERT_TRUE(cap_is(&m, 0, "x", EVF_STR, "b"));
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/p/b/c/q", &m), "yq");
    CU_ASSERT_EQUAL(m.ncaps, 1);
    CU_ASSERT_TRUE(cap_is(&m, 0, "y", EVF_STR, "c"));

    /* A {path} route is the last resort. */
    CU_ASSERT_EQUAL(add(rt, "GET", "/p/{x}/{rest:path}", "rest"), 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/p/b/c/zz", &m), "rest");
    CU_ASSERT_EQUAL(m.ncaps, 2);
    CU_ASSERT_TRUE(cap_is(&m, 0, "x", EVF_STR, "b"));
    CU_ASSERT_TRUE(cap_is(&m, 1, "rest", EVF_PATH, "c/zz"));
    evf_router_free(rt);
}

static void
test_404_405(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add(rt, "GET", "/things", "get"), 0);
    CU_ASSERT_EQUAL(add(rt, "POST", "/things", "post"), 0);
    CU_ASSERT_EQUAL(add(rt, "PUT", "/items/{id:int}", "put"), 0);

    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/things", &m), "get");
    CU_ASSERT_STRING_EQUAL(match(rt, "POST", "/things", &m), "post");
    CU_ASSERT_STRING_EQUAL(match(rt, "DELETE", "/things", &m), "405");
    CU_ASSERT_STRING_EQUAL(m.allow, "GET, POST");
    CU_ASSERT_PTR_NULL(m.data);
    CU_ASSERT_STRING_EQUAL(match(rt, "get", "/things", &m), "405");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/3", &m), "405");
    CU_ASSERT_STRING_EQUAL(m.allow, "PUT");
    CU_ASSERT_EQUAL(m.ncaps, 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/nothing", &m), "404");
    CU_ASSERT_STRING_EQUAL(m.allow, "");
    CU_ASSERT_PTR_NULL(m.data);
    evf_router_free(rt);
}

static void
test_trailing_slash(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add(rt, "GET", "/hello", "hello"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/dir/", "dir"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/v/{id}", "v"), 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/hello", &m), "hello");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/hello/", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/dir/", &m), "dir");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/dir", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/v/1", &m), "v");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/v/1/", &m), "404");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/v/", &m), "404");
    evf_router_free(rt);
}

static void
test_clash(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add_as(rt, "GET", "/items/{id:int}", "first-app"), 0);
    CU_ASSERT_EQUAL(add_as(rt, "GET", "/items/{id:int}", "second-app"), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "first-app"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "second-app"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "/items/{id:int}"));
    CU_ASSERT_EQUAL(evf_router_count(rt), 1);
    /* The first one still wins. */
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/1", &m),
                           "/items/{id:int}");

    /* Another method on the same shape is no clash. */
    CU_ASSERT_EQUAL(add_as(rt, "POST", "/items/{id:int}", "second-app"), 0);
    CU_ASSERT_EQUAL(evf_router_count(rt), 2);

    /* Literal routes clash too. */
    CU_ASSERT_EQUAL(add_as(rt, "GET", "/x/y", "one"), 0);
    CU_ASSERT_EQUAL(add_as(rt, "GET", "/x/y", "two"), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "one"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "two"));
    CU_ASSERT_EQUAL(add_as(rt, "GET", "/f/{p:path}", "one"), 0);
    CU_ASSERT_EQUAL(add_as(rt, "GET", "/f/{p:path}", "two"), -1);
    CU_ASSERT_EQUAL(evf_router_count(rt), 4);
    evf_router_free(rt);
}

static void
test_param_conflict(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add(rt, "GET", "/items/{id}", "a"), 0);
    CU_ASSERT_EQUAL(add(rt, "POST", "/items/{name}", "b"), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "name"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "id"));
    /* Same name, another type: the same position cannot be both. */
    CU_ASSERT_EQUAL(add(rt, "POST", "/items/{id:int}", "c"), -1);
    CU_ASSERT(err[0] != '\0');
    /* Deeper: /items/{id}/x and /items/{other}/y. */
    CU_ASSERT_EQUAL(add(rt, "GET", "/items/{other}/y", "d"), -1);
    CU_ASSERT_EQUAL(add(rt, "GET", "/items/{id}/y", "e"), 0);
    CU_ASSERT_EQUAL(add(rt, "GET", "/f/{p:path}", "f"), 0);
    CU_ASSERT_EQUAL(add(rt, "POST", "/f/{q:path}", "g"), -1);
    CU_ASSERT_EQUAL(evf_router_count(rt), 3);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/items/7/y", &m), "e");
    CU_ASSERT_TRUE(cap_is(&m, 0, "id", EVF_STR, "7"));
    evf_router_free(rt);
}

static void
test_bad_templates(void)
{
    static const char *const bad[] = {
        "/f/{p:path}/x",        /* {path} not last */
        "/x/{id:uuid}",         /* unknown type */
        "/file-{id}",           /* partial segment */
        "/file/{id}.json",
        "/file/x{id}",
        "/{}",
        "/{:int}",
        "/{a-b}",
        "/{id",
        "/id}",
        "items",                /* no leading slash */
        "",
    };
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add(rt, "GET", "/ok", "ok"), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = add(rt, "GET", bad[i], "bad");
        CU_ASSERT_EQUAL(rc, -1);
        CU_ASSERT(err[0] != '\0');
        if (rc != -1)
            fprintf(stderr, "\n    accepted: '%s'\n", bad[i]);
    }
    CU_ASSERT_EQUAL(add(rt, "GET", "/x/{id:uuid}", "bad"), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "uuid"));
    CU_ASSERT_EQUAL(evf_router_count(rt), 1);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/ok", &m), "ok");
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/file-1", &m), "404");
    evf_router_free(rt);
}

/* A refused route must not leave part of itself behind. */
static void
test_refused_leaves_no_trace(void)
{
    evf_router_t *rt = evf_router_new();
    evf_match_t m;

    CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
    CU_ASSERT_EQUAL(add(rt, "GET", "/x/{a}/{id:uuid}", "bad"), -1);
    CU_ASSERT_EQUAL(add(rt, "GET", "/x/{b}", "b"), 0);
    CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/x/1", &m), "b");
    CU_ASSERT_EQUAL(add(rt, "GET", "/y/{a}/{p:path}/z", "bad"), -1);
    CU_ASSERT_EQUAL(add(rt, "GET", "/y/{c}", "c"), 0);
    CU_ASSERT_EQUAL(evf_router_count(rt), 2);
    evf_router_free(rt);
}

/* ---- out of memory ------------------------------------------------------ */

/*
 * Fail each allocation of an add in turn: the add fails with a message
 * and the table keeps working; nothing leaks (LSan), and adding the route
 * again with memory back succeeds.
 */
static void
test_oom(void)
{
    static const char *const routes[] = {
        "/a/{x:int}/lit/{rest:path}", "/a/{x:int}/other", "/b",
    };
    for (size_t r = 0; r < sizeof(routes) / sizeof(routes[0]); r++) {
        bool done = false;
        for (size_t n = 1; n < 64 && !done; n++) {
            evf_router_t *rt = evf_router_new();
            evf_match_t m;
            CU_ASSERT_PTR_NOT_NULL_FATAL(rt);
            CU_ASSERT_EQUAL(add(rt, "GET", "/a/{x:int}/lit/z", "pre"), 0);

            oom_fail_at(n);
            int rc = add(rt, "POST", routes[r], "new");
            oom_off();

            if (rc == 0) {
                done = true;
                CU_ASSERT_EQUAL(evf_router_count(rt), 2);
            } else {
                CU_ASSERT_EQUAL(rc, -1);
                CU_ASSERT(err[0] != '\0');
                CU_ASSERT_EQUAL(evf_router_count(rt), 1);
                CU_ASSERT_EQUAL(add(rt, "POST", routes[r], "new"), 0);
            }
            CU_ASSERT_STRING_EQUAL(match(rt, "GET", "/a/1/lit/z", &m),
                                   "pre");
            evf_router_free(rt);
        }
        CU_ASSERT_TRUE(done);
    }
}

static CU_TestInfo tests[] = {
    { "literal routes", test_literal },
    { "root route /", test_root },
    { "typed parameters", test_params },
    { "literal preferred to parameter", test_literal_first },
    { "backtracking", test_backtracking },
    { "404 vs 405 and Allow", test_404_405 },
    { "trailing slash", test_trailing_slash },
    { "route clash", test_clash },
    { "conflicting parameter names", test_param_conflict },
    { "bad templates", test_bad_templates },
    { "refused route leaves no trace", test_refused_leaves_no_trace },
    { "out of memory in add", test_oom },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("router", tests);
}
