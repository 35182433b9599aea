/*
 * test_params: declared header, cookie and list parameters, cookies and
 * response cookies (suite "params").
 *
 * Requests are driven through fcgi_peer.h (toolkit_peer.h adds headers).
 * Covered: header parameters read with FastAPI's underscore-to-hyphen
 * naming and typed, defaulted and bounded; cookie parameters with
 * choices; list query parameters collecting every occurrence with their
 * item count bounds and per-item checks; the one 422 list in FastAPI's
 * order (path, query in declaration order, header, cookie), compared byte
 * for byte; evf_cookie on the parsed Cookie header (last duplicate wins,
 * quoted values); evf_set_cookie's header and its refusals.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "log.h"
#include "settings.h"
#include "toolkit_peer.h"
#include "unit.h"

/* What the last handler saw. */
static struct {
    unsigned runs;
    char token[64], session[64], theme[16], other[16], agent[64];
    int64_t limit, q;
    bool has_limit, has_token, has_tag;
    size_t ntags, nids;
    char tags[4][16];
    int64_t ids[4];
    const char *past_end;
    int bad_cookie_rc, good_cookie_rc;
} g;

static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
}

static void
copy(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "(null)");
}

static void
h_params(evf_req *r)
{
    g.runs++;
    copy(g.token, sizeof(g.token), evf_query_str(r, "x_token"));
    copy(g.session, sizeof(g.session), evf_query_str(r, "session"));
    copy(g.theme, sizeof(g.theme), evf_query_str(r, "theme"));
    copy(g.other, sizeof(g.other), evf_cookie(r, "other"));
    copy(g.agent, sizeof(g.agent), evf_query_str(r, "user_agent"));
    g.limit = evf_query_int(r, "x-limit");
    g.has_limit = evf_query_has(r, "x-limit");
    g.has_token = evf_query_has(r, "x_token");
    g.has_tag = evf_query_has(r, "tag");
    g.q = evf_query_int(r, "q");
    g.ntags = evf_query_count(r, "tag");
    for (size_t i = 0; i < g.ntags && i < 4; i++)
        copy(g.tags[i], sizeof(g.tags[i]), evf_query_str_at(r, "tag", i));
    g.nids = evf_query_count(r, "id");
    for (size_t i = 0; i < g.nids && i < 4; i++)
        g.ids[i] = evf_query_int_at(r, "id", i);
    g.past_end = evf_query_str_at(r, "tag", g.ntags);
    evf_text(r, 200, "ok");
}

static void
h_setc(evf_req *r)
{
    g.runs++;
    g.bad_cookie_rc = evf_set_cookie(r, "theme", "x\r\nX-Evil: 1", NULL);
    evf_cookie_opts o = { .httponly = true, .samesite = EVF_SAMESITE_LAX };
    g.good_cookie_rc = evf_set_cookie(r, "theme", "dark", &o);
    evf_delete_cookie(r, "old", NULL);
    evf_text(r, 200, "set");
}

static const char *const themes[] = { "light", "dark", NULL };

/* Declared out of location order on purpose: errors come in FastAPI's. */
static const evf_query p_spec[] = {
    EVF_Q("x_token", EVF_STR, .in = EVF_IN_HEADER),
    EVF_Q("q", EVF_INT, .def = "0"),
    EVF_Q("tag", EVF_STR, .list = true, .min_items = 2, .max_items = 3),
    EVF_Q("id", EVF_INT, .list = true, .optional = true, .has_ge = true,
          .ge = 0),
    EVF_Q("x-limit", EVF_INT, .in = EVF_IN_HEADER, .def = "10",
          .has_le = true, .le = 100),
    EVF_Q("session", EVF_STR, .in = EVF_IN_COOKIE),
    EVF_Q("theme", EVF_STR, .in = EVF_IN_COOKIE, .def = "light",
          .choices = themes),
    EVF_Q("user_agent", EVF_STR, .in = EVF_IN_HEADER, .optional = true),
    { .name = NULL },
};

static const evf_route routes[] = {
    EVF_GET("/params/{n:int}", h_params, .query = p_spec),
    EVF_GET("/setc", h_setc),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "params",
    .routes = routes,
};

/* ---- tests ------------------------------------------------------------ */

static void
test_valid(void)
{
    static const char *const hdrs[] = {
        "HTTP_X_TOKEN", "tok",
        "HTTP_USER_AGENT", "curl/8",
        "HTTP_COOKIE", "session=\"s\\0731\"; theme=dark; other=o; "
                       "junk; other=p",
        NULL,
    };
    CU_ASSERT_EQUAL(get_with("/params/1?q=5&tag=a&tag=b+c&id=3&id=%204",
                             hdrs), 200);
    CU_ASSERT_EQUAL(g.runs, 1);
    CU_ASSERT_STRING_EQUAL(g.token, "tok");
    CU_ASSERT_TRUE(g.has_token);
    CU_ASSERT_STRING_EQUAL(g.agent, "curl/8");  /* user_agent: User-Agent */
    CU_ASSERT_STRING_EQUAL(g.session, "s;1");   /* unquoted */
    CU_ASSERT_STRING_EQUAL(g.theme, "dark");
    CU_ASSERT_STRING_EQUAL(g.other, "p");       /* the later one wins */
    CU_ASSERT_EQUAL(g.limit, 10);               /* the default */
    CU_ASSERT_FALSE(g.has_limit);
    CU_ASSERT_EQUAL(g.q, 5);
    CU_ASSERT_TRUE(g.has_tag);
    CU_ASSERT_EQUAL(g.ntags, 2);
    CU_ASSERT_STRING_EQUAL(g.tags[0], "a");
    CU_ASSERT_STRING_EQUAL(g.tags[1], "b c");
    CU_ASSERT_PTR_NULL(g.past_end);
    CU_ASSERT_EQUAL(g.nids, 2);
    CU_ASSERT_EQUAL(g.ids[0], 3);
    CU_ASSERT_EQUAL(g.ids[1], 4);
    finish_conn();

    /* Defaults: theme light; an optional list absent is empty. */
    static const char *const min[] = {
        "HTTP_X_TOKEN", "t", "HTTP_X_LIMIT", "100",
        "HTTP_COOKIE", "session=", NULL,
    };
    CU_ASSERT_EQUAL(get_with("/params/1?tag=x&tag=y", min), 200);
    CU_ASSERT_STRING_EQUAL(g.theme, "light");
    CU_ASSERT_STRING_EQUAL(g.session, "");
    CU_ASSERT_STRING_EQUAL(g.agent, "(null)");
    CU_ASSERT_STRING_EQUAL(g.other, "(null)");
    CU_ASSERT_EQUAL(g.limit, 100);
    CU_ASSERT_TRUE(g.has_limit);
    CU_ASSERT_EQUAL(g.nids, 0);
    finish_conn();
}

/* Every error in one 422, in FastAPI's order, byte for byte. */
static void
test_422_order(void)
{
    static const char *const hdrs[] = {
        "HTTP_COOKIE", "theme=blue", NULL,
    };
    CU_ASSERT_EQUAL(get_with("/params/x?q=abc&tag=a&tag=b&tag=c&tag=d"
                             "&id=1&id=-1&id=x", hdrs), 422);
    CU_ASSERT(body_exact(
        "{\"detail\":["
        "{\"type\":\"int_parsing\",\"loc\":[\"path\",\"n\"],"
        "\"msg\":\"Input should be a valid integer, unable to parse string "
        "as an integer\",\"input\":\"x\"},"
        "{\"type\":\"int_parsing\",\"loc\":[\"query\",\"q\"],"
        "\"msg\":\"Input should be a valid integer, unable to parse string "
        "as an integer\",\"input\":\"abc\"},"
        "{\"type\":\"too_long\",\"loc\":[\"query\",\"tag\"],"
        "\"msg\":\"List should have at most 3 items after validation, not "
        "4\",\"input\":[\"a\",\"b\",\"c\",\"d\"],\"ctx\":{\"field_type\":"
        "\"List\",\"max_length\":3,\"actual_length\":4}},"
        "{\"type\":\"greater_than_equal\",\"loc\":[\"query\",\"id\",1],"
        "\"msg\":\"Input should be greater than or equal to 0\","
        "\"input\":\"-1\",\"ctx\":{\"ge\":0}},"
        "{\"type\":\"int_parsing\",\"loc\":[\"query\",\"id\",2],"
        "\"msg\":\"Input should be a valid integer, unable to parse string "
        "as an integer\",\"input\":\"x\"},"
        "{\"type\":\"missing\",\"loc\":[\"header\",\"x_token\"],"
        "\"msg\":\"Field required\",\"input\":null},"
        "{\"type\":\"missing\",\"loc\":[\"cookie\",\"session\"],"
        "\"msg\":\"Field required\",\"input\":null},"
        "{\"type\":\"enum\",\"loc\":[\"cookie\",\"theme\"],"
        "\"msg\":\"Input should be 'light' or 'dark'\",\"input\":\"blue\","
        "\"ctx\":{\"expected\":\"'light' or 'dark'\"}}"
        "]}"));
    CU_ASSERT_EQUAL(g.runs, 0);
    finish_conn();
}

/* Header bounds and conversion, list too short, a required list absent. */
static void
test_422_more(void)
{
    static const char *const hdrs[] = {
        "HTTP_X_TOKEN", "t", "HTTP_X_LIMIT", "500",
        "HTTP_COOKIE", "session=s", NULL,
    };
    CU_ASSERT_EQUAL(get_with("/params/1?tag=only", hdrs), 422);
    CU_ASSERT(body_exact(
        "{\"detail\":["
        "{\"type\":\"too_short\",\"loc\":[\"query\",\"tag\"],"
        "\"msg\":\"List should have at least 2 items after validation, not "
        "1\",\"input\":[\"only\"],\"ctx\":{\"field_type\":\"List\","
        "\"min_length\":2,\"actual_length\":1}},"
        "{\"type\":\"less_than_equal\",\"loc\":[\"header\",\"x-limit\"],"
        "\"msg\":\"Input should be less than or equal to 100\","
        "\"input\":\"500\",\"ctx\":{\"le\":100}}"
        "]}"));
    finish_conn();

    static const char *const bad[] = {
        "HTTP_X_TOKEN", "t", "HTTP_X_LIMIT", "ten",
        "HTTP_COOKIE", "session=s", NULL,
    };
    CU_ASSERT_EQUAL(get_with("/params/1", bad), 422);
    CU_ASSERT(body_exact(
        "{\"detail\":["
        "{\"type\":\"missing\",\"loc\":[\"query\",\"tag\"],"
        "\"msg\":\"Field required\",\"input\":null},"
        "{\"type\":\"int_parsing\",\"loc\":[\"header\",\"x-limit\"],"
        "\"msg\":\"Input should be a valid integer, unable to parse string "
        "as an integer\",\"input\":\"ten\"}"
        "]}"));
    CU_ASSERT_EQUAL(g.runs, 0);
    finish_conn();
}

/* A NUL in a list item or a cookie is refused, not cut short. */
static void
test_nul(void)
{
    static const char *const hdrs[] = {
        "HTTP_X_TOKEN", "t", "HTTP_COOKIE", "session=\"a\\000b\"", NULL,
    };
    CU_ASSERT_EQUAL(get_with("/params/1?tag=a&tag=5%00x", hdrs), 422);
    CU_ASSERT(body_exact(
        "{\"detail\":["
        "{\"type\":\"string_no_nul\",\"loc\":[\"query\",\"tag\",1],"
        "\"msg\":\"Input should not contain a NUL byte\","
        "\"input\":\"5\\u0000x\"},"
        "{\"type\":\"string_no_nul\",\"loc\":[\"cookie\",\"session\"],"
        "\"msg\":\"Input should not contain a NUL byte\","
        "\"input\":\"a\\u0000b\"}"
        "]}"));
    finish_conn();
}

static void
test_set_cookie(void)
{
    CU_ASSERT_EQUAL(get_with("/setc", NULL), 200);
    CU_ASSERT_EQUAL(g.bad_cookie_rc, EVF_EINVAL);
    CU_ASSERT_EQUAL(g.good_cookie_rc, 0);
    CU_ASSERT(has_header(1, "Set-Cookie: theme=dark; HttpOnly; Path=/; "
                            "SameSite=Lax"));
    CU_ASSERT(has_header(1, "Set-Cookie: old=; Expires=Thu, 01 Jan 1970 "
                            "00:00:01 GMT; Max-Age=0; Path=/; SameSite=Lax"));
    CU_ASSERT_PTR_NULL(strstr(cl.rsp[1]->out, "X-Evil"));
    finish_conn();
}

/* ---- suite ------------------------------------------------------------ */

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 16;
    evf_settings.request_deadline = 0;
    return evf_app_register(&app, "params") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    return 0;
}

static CU_TestInfo tests[] = {
    { "header, cookie and list parameters", test_valid },
    { "422: path, query, header, cookie", test_422_order },
    { "422: bounds, too short, missing list", test_422_more },
    { "NUL bytes refused", test_nul },
    { "response cookies", test_set_cookie },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("params", init, cleanup, tests);
}
