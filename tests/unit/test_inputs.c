/*
 * test_inputs: what a request brought, as the handler reads it (suite
 * "inputs").
 *
 * Requests are driven through fcgi_peer.h as in test_request; handlers
 * record what the accessors return.  Covered: typed path parameters
 * (int, float, str, path; percent-decoded; the wrong type or an unknown
 * name reads 0 or NULL); declared query parameters (given, defaults,
 * optional, evf_query_has, evf_query_str falling back to the default);
 * undeclared ones converted on the spot; pydantic's lenient forms (spaces,
 * signs, the boolean words); inclusive bounds; and the 422 answer listing
 * every bad parameter, path first then query in declaration order, with
 * FastAPI's types, locations, messages and inputs, the handler not run.
 */
#include "config.h"

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "settings.h"
#include "unit.h"

/* What the last handler saw. */
static struct {
    unsigned runs;
    int64_t i;
    double f;
    const char *s, *rest, *unknown;
    int64_t wrong_type, unknown_int;
    int64_t n;
    double x;
    bool flag, has_n, has_x, has_flag;
    const char *str_n, *str_x, *str_flag, *name;
    int64_t u_int;
    double u_float;
    bool u_bool;
    const char *u_str, *plus, *dup;
    char buf[8][128];       /* copies of the strings above */
} g;

static const char *
keep(int k, const char *s)
{
    if (!s)
        return NULL;
    snprintf(g.buf[k], sizeof(g.buf[k]), "%s", s);
    return g.buf[k];
}

static void
fresh_state(void)
{
    memset(&g, 0, sizeof(g));
}

/* ---- handlers --------------------------------------------------------- */

/* /p/{i:int}/{f:float}/{s}/{rest:path} */
static void
h_path(evf_req *r)
{
    g.runs++;
    g.i = evf_path_int(r, "i");
    g.f = evf_path_float(r, "f");
    g.s = keep(0, evf_path_str(r, "s"));
    g.rest = keep(1, evf_path_str(r, "rest"));
    g.unknown = evf_path_str(r, "nope");
    g.wrong_type = evf_path_int(r, "s");
    g.unknown_int = evf_path_int(r, "nope");
    evf_text(r, 200, "ok");
}

/* /q: n:int in [1, 10] default 5, x:float optional in [0, 1],
 * flag:bool default false, name:str required. */
static void
h_query(evf_req *r)
{
    g.runs++;
    g.n = evf_query_int(r, "n");
    g.x = evf_query_float(r, "x");
    g.flag = evf_query_bool(r, "flag");
    g.has_n = evf_query_has(r, "n");
    g.has_x = evf_query_has(r, "x");
    g.has_flag = evf_query_has(r, "flag");
    g.str_n = keep(0, evf_query_str(r, "n"));
    g.str_x = keep(1, evf_query_str(r, "x"));
    g.str_flag = keep(2, evf_query_str(r, "flag"));
    g.name = keep(3, evf_query_str(r, "name"));
    g.u_int = evf_query_int(r, "u");
    g.u_float = evf_query_float(r, "u");
    g.u_bool = evf_query_bool(r, "u");
    g.u_str = keep(4, evf_query_str(r, "u"));
    g.plus = keep(5, evf_query_str(r, "plus"));
    g.dup = keep(6, evf_query_str(r, "dup"));
    evf_text(r, 200, "ok");
}

/* /h: headers and params by name (evf_header's CGI mapping). */
static struct {
    const char *custom, *lower, *ctype, *clen, *shorter, *longer, *param;
    const char *underscore, *prefix_only;
} hv;

static void
h_headers(evf_req *r)
{
    g.runs++;
    hv.custom = keep(0, evf_header(r, "X-Custom-Header"));
    hv.lower = keep(1, evf_header(r, "x-custom-header"));
    hv.ctype = keep(2, evf_header(r, "content-type"));
    hv.clen = keep(3, evf_header(r, "Content-Length"));
    hv.shorter = keep(4, evf_header(r, "X-Custom"));
    hv.longer = keep(5, evf_header(r, "X-Custom-Header-2"));
    hv.param = keep(6, evf_param(r, "HTTP_X_CUSTOM_HEADER"));
    hv.underscore = keep(7, evf_header(r, "X_Custom_Header"));
    hv.prefix_only = evf_header(r, "");
    evf_text(r, 200, "ok");
}

static const evf_query q_spec[] = {
    EVF_Q("n", EVF_INT, .def = "5", .has_ge = true, .ge = 1,
          .has_le = true, .le = 10),
    EVF_Q("x", EVF_FLOAT, .optional = true, .has_ge = true, .ge = 0,
          .has_le = true, .le = 1),
    EVF_Q("flag", EVF_BOOL, .def = "false"),
    EVF_Q("name", EVF_STR),
    { .name = NULL },
};

static const evf_route routes[] = {
    EVF_GET("/p/{i:int}/{f:float}/{s}/{rest:path}", h_path),
    EVF_GET("/q", h_query, .query = q_spec),
    EVF_GET("/pq/{i:int}", h_query, .query = q_spec),
    EVF_GET("/h", h_headers),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "inputs",
    .routes = routes,
};

/* ---- helpers ---------------------------------------------------------- */

/* GET uri on a fresh connection; the status of the answer. */
static int
get(const char *uri)
{
    open_conn();
    send_get(1, uri);
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT(complete(1));
    int st = status_of(1);
    return st;
}

/* The 422 body of request 1, parsed (the caller puts it), or NULL. */
static json_object *
errors_of(void)
{
    size_t len = 0;
    const char *b = body_of(1, &len);
    json_object *o = b ? json_tokener_parse(b) : NULL;
    json_object *d;
    if (!o || !json_object_object_get_ex(o, "detail", &d) ||
        !json_object_is_type(d, json_type_array)) {
        fprintf(stderr, "\n    not a 422 body: %s\n", b ? b : "(none)");
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Error k of the list: its type, loc ("query.n"), msg and input. */
static bool
error_is(json_object *o, size_t k, const char *type, const char *loc,
         const char *msg, const char *input)
{
    json_object *d, *e, *v;
    char where[64] = "";
    json_object_object_get_ex(o, "detail", &d);
    if (k >= json_object_array_length(d)) {
        fprintf(stderr, "\n    no error %zu in %s\n", k,
                json_object_to_json_string(o));
        return false;
    }
    e = json_object_array_get_idx(d, k);
    json_object_object_get_ex(e, "loc", &v);
    for (size_t i = 0; v && i < json_object_array_length(v); i++) {
        if (i)
            strncat(where, ".", sizeof(where) - strlen(where) - 1);
        strncat(where, json_object_get_string(json_object_array_get_idx(v, i)),
                sizeof(where) - strlen(where) - 1);
    }
    const char *t = json_object_object_get_ex(e, "type", &v)
                        ? json_object_get_string(v) : "";
    const char *m = json_object_object_get_ex(e, "msg", &v)
                        ? json_object_get_string(v) : "";
    json_object *in = NULL;
    json_object_object_get_ex(e, "input", &in);
    const char *i = in ? json_object_get_string(in) : NULL;
    bool ok = strcmp(t, type) == 0 && strcmp(where, loc) == 0 &&
              (!msg || strcmp(m, msg) == 0) &&
              (input ? i && strcmp(i, input) == 0 : i == NULL);
    if (!ok)
        fprintf(stderr, "\n    error %zu: %s\n", k,
                json_object_to_json_string(e));
    return ok;
}

static size_t
error_count(json_object *o)
{
    json_object *d;
    return json_object_object_get_ex(o, "detail", &d)
               ? json_object_array_length(d) : 0;
}

/* ---- tests ------------------------------------------------------------ */

static void
test_path(void)
{
    CU_ASSERT_EQUAL(get("/p/-42/2.5/caf%C3%A9%20au%20lait/a/b%2Fc/d"), 200);
    CU_ASSERT_EQUAL(g.runs, 1);
    CU_ASSERT_EQUAL(g.i, -42);
    CU_ASSERT_DOUBLE_EQUAL(g.f, 2.5, 1e-12);
    CU_ASSERT(g.s && strcmp(g.s, "caf\xc3\xa9 au lait") == 0);
    CU_ASSERT(g.rest && strcmp(g.rest, "a/b/c/d") == 0);
    CU_ASSERT_PTR_NULL(g.unknown);
    CU_ASSERT_EQUAL(g.wrong_type, 0);       /* s is a str */
    CU_ASSERT_EQUAL(g.unknown_int, 0);
    finish_conn();

    /* '+' is a plus sign in a path, not a space. */
    CU_ASSERT_EQUAL(get("/p/+7/1e3/a+b/x"), 200);
    CU_ASSERT_EQUAL(g.i, 7);
    CU_ASSERT_DOUBLE_EQUAL(g.f, 1000.0, 1e-9);
    CU_ASSERT(g.s && strcmp(g.s, "a+b") == 0);
    finish_conn();
}

/* Declared parameters given, with pydantic's lenient forms. */
static void
test_query_given(void)
{
    CU_ASSERT_EQUAL(get("/q?n=%207%20&x=0.25&flag=YES&name=a+b%26c"), 200);
    CU_ASSERT_EQUAL(g.runs, 1);
    CU_ASSERT_EQUAL(g.n, 7);
    CU_ASSERT_DOUBLE_EQUAL(g.x, 0.25, 1e-12);
    CU_ASSERT_TRUE(g.flag);
    CU_ASSERT(g.has_n && g.has_x && g.has_flag);
    CU_ASSERT(g.str_n && strcmp(g.str_n, " 7 ") == 0);     /* as sent */
    CU_ASSERT(g.name && strcmp(g.name, "a b&c") == 0);
    finish_conn();

    static const char *const yes[] = { "1", "on", "t", "TRUE", "y", "Yes" };
    static const char *const no[] = { "0", "off", "F", "false", "n", "NO" };
    char uri[64];
    for (size_t i = 0; i < 6; i++) {
        snprintf(uri, sizeof(uri), "/q?name=z&flag=%s", yes[i]);
        CU_ASSERT_EQUAL(get(uri), 200);
        CU_ASSERT_TRUE(g.flag);
        finish_conn();
        snprintf(uri, sizeof(uri), "/q?name=z&flag=%s", no[i]);
        CU_ASSERT_EQUAL(get(uri), 200);
        CU_ASSERT(g.runs == 1 && !g.flag && g.has_flag);
        finish_conn();
    }
}

/* Absent: the default, or 0 / NULL for an optional one; has says no. */
static void
test_query_defaults(void)
{
    CU_ASSERT_EQUAL(get("/q?name="), 200);
    CU_ASSERT_EQUAL(g.n, 5);
    CU_ASSERT_FALSE(g.has_n);
    CU_ASSERT(g.str_n && strcmp(g.str_n, "5") == 0);
    CU_ASSERT_EQUAL(g.x, 0.0);
    CU_ASSERT_FALSE(g.has_x);
    CU_ASSERT_PTR_NULL(g.str_x);
    CU_ASSERT_FALSE(g.flag);
    CU_ASSERT(g.str_flag && strcmp(g.str_flag, "false") == 0);
    CU_ASSERT(g.name && strcmp(g.name, "") == 0);  /* given, empty */
    finish_conn();
}

/* Undeclared parameters: text as sent, typed on request, first wins. */
static void
test_query_undeclared(void)
{
    CU_ASSERT_EQUAL(get("/q?name=z&u=42&plus=1+1%3D2&dup=first&dup=second"),
                    200);
    CU_ASSERT_EQUAL(g.u_int, 42);
    CU_ASSERT_DOUBLE_EQUAL(g.u_float, 42.0, 1e-12);
    CU_ASSERT_FALSE(g.u_bool);              /* "42" is not a boolean */
    CU_ASSERT(g.u_str && strcmp(g.u_str, "42") == 0);
    CU_ASSERT(g.plus && strcmp(g.plus, "1 1=2") == 0);
    CU_ASSERT(g.dup && strcmp(g.dup, "first") == 0);
    finish_conn();

    CU_ASSERT_EQUAL(get("/q?name=z&u=4x2"), 200);   /* not validated */
    CU_ASSERT_EQUAL(g.u_int, 0);
    CU_ASSERT_EQUAL(g.u_float, 0.0);
    CU_ASSERT(g.u_str && strcmp(g.u_str, "4x2") == 0);
    finish_conn();
}

/* Bounds are inclusive; past them, 422 with the bound in ctx. */
static void
test_bounds(void)
{
    CU_ASSERT_EQUAL(get("/q?name=z&n=1&x=0"), 200);
    CU_ASSERT(g.n == 1 && g.x == 0.0);
    finish_conn();
    CU_ASSERT_EQUAL(get("/q?name=z&n=10&x=1"), 200);
    CU_ASSERT(g.n == 10 && g.x == 1.0);
    finish_conn();

    CU_ASSERT_EQUAL(get("/q?name=z&n=0"), 422);
    json_object *o = errors_of();
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_EQUAL(error_count(o), 1);
    CU_ASSERT(error_is(o, 0, "greater_than_equal", "query.n",
                       "Input should be greater than or equal to 1", "0"));
    json_object *d, *e, *ctx, *ge;
    json_object_object_get_ex(o, "detail", &d);
    e = json_object_array_get_idx(d, 0);
    CU_ASSERT(json_object_object_get_ex(e, "ctx", &ctx) &&
              json_object_object_get_ex(ctx, "ge", &ge) &&
              json_object_get_int64(ge) == 1);
    json_object_put(o);
    CU_ASSERT_EQUAL(g.runs, 0);
    finish_conn();

    CU_ASSERT_EQUAL(get("/q?name=z&n=11&x=1.5"), 422);
    o = errors_of();
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_EQUAL(error_count(o), 2);
    CU_ASSERT(error_is(o, 0, "less_than_equal", "query.n",
                       "Input should be less than or equal to 10", "11"));
    CU_ASSERT(error_is(o, 1, "less_than_equal", "query.x",
                       "Input should be less than or equal to 1", "1.5"));
    json_object_put(o);
    finish_conn();
}

/*
 * Every bad parameter in one 422: path first, then the query parameters
 * in declaration order; the handler does not run.
 */
static void
test_422_list(void)
{
    CU_ASSERT_EQUAL(get("/pq/abc?n=seven&x=%20&flag=maybe"), 422);
    CU_ASSERT(has_header(1, "Content-Type: application/json"));
    json_object *o = errors_of();
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_EQUAL(error_count(o), 5);
    CU_ASSERT(error_is(o, 0, "int_parsing", "path.i",
                       "Input should be a valid integer, unable to parse "
                       "string as an integer", "abc"));
    CU_ASSERT(error_is(o, 1, "int_parsing", "query.n",
                       "Input should be a valid integer, unable to parse "
                       "string as an integer", "seven"));
    CU_ASSERT(error_is(o, 2, "float_parsing", "query.x",
                       "Input should be a valid number, unable to parse "
                       "string as a number", " "));
    CU_ASSERT(error_is(o, 3, "bool_parsing", "query.flag",
                       "Input should be a valid boolean, unable to "
                       "interpret input", "maybe"));
    CU_ASSERT(error_is(o, 4, "missing", "query.name", "Field required",
                       NULL));
    json_object_put(o);
    CU_ASSERT_EQUAL(g.runs, 0);
    finish_conn();

    /* An integer too big for 64 bits. */
    CU_ASSERT_EQUAL(get("/q?name=z&n=99999999999999999999"), 422);
    o = errors_of();
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(error_is(o, 0, "int_parsing_size", "query.n", NULL,
                       "99999999999999999999"));
    json_object_put(o);
    finish_conn();

    /* A hex float and "infinity" are not numbers to pydantic. */
    CU_ASSERT_EQUAL(get("/q?name=z&x=0x1p-2"), 422);
    finish_conn();
    CU_ASSERT_EQUAL(get("/q?name=z&x=inf"), 422);   /* out of [0, 1] */
    o = errors_of();
    CU_ASSERT(o && error_is(o, 0, "less_than_equal", "query.x", NULL,
                            "inf"));
    json_object_put(o);
    finish_conn();
    CU_ASSERT_EQUAL(g.runs, 0);
}

/* ---- suite ------------------------------------------------------------ */

/*
 * evf_header finds a header's CGI param: HTTP_ and the name in upper case
 * with '-' as '_' (Content-Type and Content-Length without the prefix), in
 * any case; a name that is only a prefix of a param's, or longer, is not
 * it.
 */
static void
test_headers(void)
{
    uint8_t params[512];
    size_t n = 0;
    fresh_state();
    memset(&hv, 0, sizeof(hv));
    open_conn();
    put_begin(1, FCGI_KEEP_CONN);
    n += put_pair(params + n, "REQUEST_METHOD", "GET");
    n += put_pair(params + n, "REQUEST_URI", "/h");
    n += put_pair(params + n, "HTTP_X_CUSTOM", "short");
    n += put_pair(params + n, "HTTP_X_CUSTOM_HEADER", "yes");
    n += put_pair(params + n, "CONTENT_TYPE", "text/plain");
    n += put_pair(params + n, "HTTP_CONTENT_LENGTH", "wrong");
    n += put_pair(params + n, "CONTENT_LENGTH", "0");
    n += put_pair(params + n, "HTTP_", "empty name");
    put_record(FCGI_PARAMS, 1, params, n);
    put_record(FCGI_PARAMS, 1, NULL, 0);
    put_record(FCGI_STDIN, 1, NULL, 0);
    client_flush();
    CU_ASSERT_TRUE(ended(1, 2.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_EQUAL(g.runs, 1);
    CU_ASSERT_STRING_EQUAL(hv.custom ? hv.custom : "(null)", "yes");
    CU_ASSERT_STRING_EQUAL(hv.lower ? hv.lower : "(null)", "yes");
    CU_ASSERT_STRING_EQUAL(hv.ctype ? hv.ctype : "(null)", "text/plain");
    CU_ASSERT_STRING_EQUAL(hv.clen ? hv.clen : "(null)", "0");
    CU_ASSERT_STRING_EQUAL(hv.shorter ? hv.shorter : "(null)", "short");
    CU_ASSERT_PTR_NULL(hv.longer);
    CU_ASSERT_STRING_EQUAL(hv.param ? hv.param : "(null)", "yes");
    CU_ASSERT_STRING_EQUAL(hv.underscore ? hv.underscore : "(null)", "yes");
    CU_ASSERT_PTR_NOT_NULL(hv.prefix_only);
    finish_conn();
}

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    cl.on_open = fresh_state;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 16;
    evf_settings.request_deadline = 0;
    return evf_app_register(&app, "inputs") < 0 ? -1 : 0;
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
    { "typed path parameters", test_path },
    { "declared query parameters given", test_query_given },
    { "defaults and optional parameters", test_query_defaults },
    { "undeclared query parameters", test_query_undeclared },
    { "bounds, inclusive", test_bounds },
    { "422 lists every bad parameter", test_422_list },
    { "headers by name", test_headers },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("inputs", init, cleanup, tests);
}
