/*
 * Unit tests for the CORS policy (cors.c), pure: the exact headers, status
 * and body Starlette's CORSMiddleware gives, for preflights (allowed;
 * refused for origin, method, headers, each and together), simple requests
 * (allowed, refused: no header at all), credentials (the origin echoed,
 * also with "*"), "*" origins with and without a cookie, a regex matching
 * the whole origin only, "*" methods and headers (requested headers
 * mirrored), max age and expose headers; conf options overriding the
 * code's fields, and bad options refused.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cors.h"
#include "unit.h"

/* The result as "Name: value\n" lines, in order, to compare exactly. */
static const char *
lines(const evf_cors_res_t *res)
{
    static char buf[2048];
    size_t o = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < res->n; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s: %s\n",
                              res->h[i].name, res->h[i].value);
    return buf;
}

#define LINES_EQ(res, want)                                              \
    do {                                                                 \
        const char *got_ = lines(res);                                   \
        if (strcmp(got_, (want)) != 0)                                   \
            fprintf(stderr, "\n--- got:\n%s--- want:\n%s", got_, (want)); \
        CU_ASSERT_STRING_EQUAL(got_, (want));                            \
    } while (0)

static evf_cors_cfg_t *
build(const evf_cors *spec)
{
    evf_cors_cfg_t *c = NULL;
    char err[256] = "";
    CU_ASSERT_EQUAL_FATAL(evf__cors_build(spec, NULL, NULL, &c, err,
                                          sizeof(err)), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    return c;
}

static const evf_cors demo = {
    .allow_origins = EVF_STRS("http://app.example.test"),
    .allow_methods = EVF_STRS("GET", "POST"),
    .allow_credentials = true,
};

static void
test_preflight_allowed(void)
{
    evf_cors_cfg_t *c = build(&demo);
    evf_cors_res_t res;
    evf__cors_preflight(c, "http://app.example.test", "POST", NULL, &res);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_STRING_EQUAL(res.body, "OK");
    LINES_EQ(&res,
             "Vary: Origin\n"
             "Access-Control-Allow-Methods: GET, POST\n"
             "Access-Control-Max-Age: 600\n"
             "Access-Control-Allow-Headers: Accept, Accept-Language, "
             "Content-Language, Content-Type\n"
             "Access-Control-Allow-Credentials: true\n"
             "Access-Control-Allow-Origin: http://app.example.test\n");
    /* Safelisted headers, any case and blanks, are allowed. */
    evf__cors_preflight(c, "http://app.example.test", "GET",
                        "content-type,  ACCEPT", &res);
    CU_ASSERT_EQUAL(res.status, 200);
    evf__cors_free(c);
}

static void
test_preflight_refused(void)
{
    evf_cors_cfg_t *c = build(&demo);
    evf_cors_res_t res;
    evf__cors_preflight(c, "http://other.example.test", "GET", NULL, &res);
    CU_ASSERT_EQUAL(res.status, 400);
    CU_ASSERT_STRING_EQUAL(res.body, "Disallowed CORS origin");
    /* No Allow-Origin: the browser refuses. */
    LINES_EQ(&res,
             "Vary: Origin\n"
             "Access-Control-Allow-Methods: GET, POST\n"
             "Access-Control-Max-Age: 600\n"
             "Access-Control-Allow-Headers: Accept, Accept-Language, "
             "Content-Language, Content-Type\n"
             "Access-Control-Allow-Credentials: true\n");
    evf__cors_preflight(c, "http://app.example.test", "DELETE", NULL, &res);
    CU_ASSERT_EQUAL(res.status, 400);
    CU_ASSERT_STRING_EQUAL(res.body, "Disallowed CORS method");
    evf__cors_preflight(c, "http://app.example.test", "GET", "X-Token",
                        &res);
    CU_ASSERT_EQUAL(res.status, 400);
    CU_ASSERT_STRING_EQUAL(res.body, "Disallowed CORS headers");
    /* An empty item is not a header. */
    evf__cors_preflight(c, "http://app.example.test", "GET", "accept,",
                        &res);
    CU_ASSERT_STRING_EQUAL(res.body, "Disallowed CORS headers");
    evf__cors_preflight(c, "http://evil.test", "put", "X-A, accept", &res);
    CU_ASSERT_EQUAL(res.status, 400);
    CU_ASSERT_STRING_EQUAL(res.body,
                           "Disallowed CORS origin, method, headers");
    evf__cors_free(c);
}

static void
test_simple(void)
{
    evf_cors_cfg_t *c = build(&demo);
    evf_cors_res_t res;
    evf__cors_simple(c, "http://app.example.test", false, &res);
    LINES_EQ(&res,
             "Access-Control-Allow-Origin: http://app.example.test\n"
             "Vary: Origin\n"
             "Access-Control-Allow-Credentials: true\n");
    /* Disallowed: no CORS header at all. */
    evf__cors_simple(c, "http://other.example.test", true, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    /* Exact comparison: a prefix or another scheme is another origin. */
    evf__cors_simple(c, "http://app.example.test.evil", false, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    evf__cors_simple(c, "https://app.example.test", false, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    evf__cors_free(c);
}

static void
test_star(void)
{
    const evf_cors star = { .allow_origins = EVF_STRS("*") };
    evf_cors_cfg_t *c = build(&star);
    evf_cors_res_t res;
    evf__cors_simple(c, "http://any.test", false, &res);
    LINES_EQ(&res, "Access-Control-Allow-Origin: *\n");
    /* A request with a cookie gets its origin back, and Vary. */
    evf__cors_simple(c, "http://any.test", true, &res);
    LINES_EQ(&res, "Access-Control-Allow-Origin: http://any.test\n"
                   "Vary: Origin\n");
    evf__cors_preflight(c, "http://any.test", "GET", NULL, &res);
    CU_ASSERT_EQUAL(res.status, 200);
    LINES_EQ(&res,
             "Access-Control-Allow-Origin: *\n"
             "Access-Control-Allow-Methods: GET\n"
             "Access-Control-Max-Age: 600\n"
             "Access-Control-Allow-Headers: Accept, Accept-Language, "
             "Content-Language, Content-Type\n");
    evf__cors_free(c);

    /* "*" with credentials: the origin, never "*", in both answers. */
    const evf_cors cred = {
        .allow_origins = EVF_STRS("*"), .allow_credentials = true,
    };
    c = build(&cred);
    evf__cors_simple(c, "http://any.test", false, &res);
    LINES_EQ(&res, "Access-Control-Allow-Origin: http://any.test\n"
                   "Vary: Origin\n"
                   "Access-Control-Allow-Credentials: true\n");
    evf__cors_preflight(c, "http://any.test", "GET", NULL, &res);
    LINES_EQ(&res,
             "Vary: Origin\n"
             "Access-Control-Allow-Methods: GET\n"
             "Access-Control-Max-Age: 600\n"
             "Access-Control-Allow-Headers: Accept, Accept-Language, "
             "Content-Language, Content-Type\n"
             "Access-Control-Allow-Credentials: true\n"
             "Access-Control-Allow-Origin: http://any.test\n");
    evf__cors_free(c);
}

static void
test_regex(void)
{
    const evf_cors re = {
        .allow_origin_regex = "https://[a-z]+\\.example\\.test",
    };
    evf_cors_cfg_t *c = build(&re);
    evf_cors_res_t res;
    evf__cors_simple(c, "https://shop.example.test", false, &res);
    LINES_EQ(&res, "Access-Control-Allow-Origin: https://shop.example.test\n"
                   "Vary: Origin\n");
    /* The whole origin must match (Python's fullmatch). */
    evf__cors_simple(c, "https://shop.example.test.evil", false, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    evf__cors_simple(c, "xhttps://shop.example.test", false, &res);
    CU_ASSERT_EQUAL(res.n, 0);
    evf__cors_free(c);
}

static void
test_all_methods_headers(void)
{
    const evf_cors all = {
        .allow_origins = EVF_STRS("http://a.test"),
        .allow_methods = EVF_STRS("*"),
        .allow_headers = EVF_STRS("*"),
        .expose_headers = EVF_STRS("X-Request-ID", "X-Process-Time"),
        .max_age = 60,
    };
    evf_cors_cfg_t *c = build(&all);
    evf_cors_res_t res;
    evf__cors_preflight(c, "http://a.test", "PATCH", "X-Anything, X-Else",
                        &res);
    CU_ASSERT_EQUAL(res.status, 200);
    LINES_EQ(&res,
             "Vary: Origin\n"
             "Access-Control-Allow-Methods: DELETE, GET, HEAD, OPTIONS, "
             "PATCH, POST, PUT\n"
             "Access-Control-Max-Age: 60\n"
             "Access-Control-Allow-Origin: http://a.test\n"
             "Access-Control-Allow-Headers: X-Anything, X-Else\n");
    evf__cors_simple(c, "http://a.test", false, &res);
    LINES_EQ(&res, "Access-Control-Allow-Origin: http://a.test\n"
                   "Vary: Origin\n"
                   "Access-Control-Expose-Headers: X-Request-ID, "
                   "X-Process-Time\n");
    evf__cors_free(c);

    /* Given headers join the safelisted ones, sorted, once. */
    const evf_cors some = {
        .allow_origins = EVF_STRS("http://a.test"),
        .allow_headers = EVF_STRS("X-Token", "Accept", "Authorization"),
        .max_age = -1,
    };
    c = build(&some);
    evf__cors_preflight(c, "http://a.test", "GET", "authorization,x-token",
                        &res);
    CU_ASSERT_EQUAL(res.status, 200);
    LINES_EQ(&res,
             "Vary: Origin\n"
             "Access-Control-Allow-Methods: GET\n"
             "Access-Control-Max-Age: 0\n"
             "Access-Control-Allow-Headers: Accept, Accept-Language, "
             "Authorization, Content-Language, Content-Type, X-Token\n"
             "Access-Control-Allow-Origin: http://a.test\n");
    evf__cors_free(c);
}

static const char *
opts(void *ud, const char *key)
{
    const char *const *kv = ud;
    for (; kv[0]; kv += 2)
        if (strcmp(kv[0], key) == 0)
            return kv[1];
    return NULL;
}

static void
test_options(void)
{
    evf_cors_cfg_t *c = NULL;
    char err[256] = "";
    /* No spec, no option: CORS off. */
    static const char *const none[] = { "other", "x", NULL };
    CU_ASSERT_EQUAL(evf__cors_build(NULL, opts, (void *)none, &c, err,
                                    sizeof(err)), 0);
    CU_ASSERT_PTR_NULL(c);

    static const char *const kv[] = {
        "cors_allow_origins", " http://a.test , http://b.test,",
        "cors_allow_methods", "GET, POST",
        "cors_allow_credentials", "true",
        "cors_expose_headers", "X-Request-ID",
        "cors_max_age", "120",
        NULL
    };
    CU_ASSERT_EQUAL_FATAL(evf__cors_build(NULL, opts, (void *)kv, &c, err,
                                          sizeof(err)), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    evf_cors_res_t res;
    evf__cors_simple(c, "http://b.test", false, &res);
    LINES_EQ(&res, "Access-Control-Allow-Origin: http://b.test\n"
                   "Vary: Origin\n"
                   "Access-Control-Allow-Credentials: true\n"
                   "Access-Control-Expose-Headers: X-Request-ID\n");
    evf__cors_preflight(c, "http://a.test", "POST", NULL, &res);
    CU_ASSERT_EQUAL(res.status, 200);
    CU_ASSERT_STRING_EQUAL(res.h[2].value, "120");
    evf__cors_free(c);

    /* An option overrides the code's field. */
    static const char *const off[] = {
        "cors_allow_credentials", "off", NULL
    };
    CU_ASSERT_EQUAL_FATAL(evf__cors_build(&demo, opts, (void *)off, &c, err,
                                          sizeof(err)), 0);
    evf__cors_simple(c, "http://app.example.test", false, &res);
    LINES_EQ(&res, "Access-Control-Allow-Origin: http://app.example.test\n"
                   "Vary: Origin\n");
    evf__cors_free(c);

    static const char *const bad[][3] = {
        { "cors_allow_credentials", "maybe", NULL },
        { "cors_max_age", "10s", NULL },
        { "cors_max_age", "-1", NULL },
        { "cors_allow_origin_regex", "(", NULL },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        c = NULL;
        CU_ASSERT_EQUAL(evf__cors_build(NULL, opts, (void *)bad[i], &c, err,
                                        sizeof(err)), -1);
        CU_ASSERT_PTR_NULL(c);
        CU_ASSERT_PTR_NOT_NULL(strstr(err, bad[i][0]));
    }
}

static void
test_is_preflight(void)
{
    CU_ASSERT_TRUE(evf__cors_is_preflight("OPTIONS", "http://a", "GET"));
    CU_ASSERT_FALSE(evf__cors_is_preflight("OPTIONS", "http://a", NULL));
    CU_ASSERT_FALSE(evf__cors_is_preflight("OPTIONS", NULL, "GET"));
    CU_ASSERT_FALSE(evf__cors_is_preflight("GET", "http://a", "GET"));
}

static CU_TestInfo tests[] = {
    { "preflight allowed: exact headers", test_preflight_allowed },
    { "preflight refused: 400 and why", test_preflight_refused },
    { "simple request: allowed, refused", test_simple },
    { "\"*\" origins, cookies, credentials", test_star },
    { "origin regex matches the whole origin", test_regex },
    { "\"*\" methods and headers, expose, max age", test_all_methods_headers },
    { "conf options build and override", test_options },
    { "what a preflight is", test_is_preflight },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("cors", tests);
}
