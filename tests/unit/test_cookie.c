/*
 * test_cookie: the Cookie header and Set-Cookie values (suite "cookie"),
 * pure: cookie.c's splitting (Starlette's lenient rules), unquoting, the
 * RFC 6265 checks and the Set-Cookie formatting, with every attribute and
 * every refusal that keeps a header from being injected.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cookie.h"
#include "unit.h"

/* Split h and write "name=value|" for each cookie (values unquoted). */
static const char *
split(const char *h)
{
    static char out[1024];
    char v[256];
    size_t pos = 0, n = 0;
    evf_cookie_field_t f;
    out[0] = '\0';
    while (evf_cookie_next(h, strlen(h), &pos, &f)) {
        CU_ASSERT_FATAL(f.vlen < sizeof(v));
        size_t vl = evf_cookie_unquote(v, f.value, f.vlen);
        n += (size_t)snprintf(out + n, sizeof(out) - n, "%.*s=%.*s|",
                              (int)f.nlen, f.name, (int)vl, v);
    }
    return out;
}

static void
test_split(void)
{
    CU_ASSERT_STRING_EQUAL(split("a=1; b=2"), "a=1|b=2|");
    CU_ASSERT_STRING_EQUAL(split(""), "");
    CU_ASSERT_STRING_EQUAL(split(";; ;"), "");
    /* Spaces and tabs trimmed, empty chunks skipped, '=' in a value. */
    CU_ASSERT_STRING_EQUAL(split(" a = 1 ;;\tb=x=y\t; c=;"),
                           "a=1|b=x=y|c=|");
    /* A chunk without '=' is a value with an empty name (Starlette). */
    CU_ASSERT_STRING_EQUAL(split("lonely; k=v"), "=lonely|k=v|");
    /* Quoted values lose their quotes and escapes. */
    CU_ASSERT_STRING_EQUAL(split("q=\"a b\"; e=\"x\\\"y\\\\z\\073w\""),
                           "q=a b|e=x\"y\\z;w|");
    /* Only a value wrapped in quotes is unquoted. */
    CU_ASSERT_STRING_EQUAL(split("h=\"half; o=\""), "h=\"half|o=\"|");
    CU_ASSERT_EQUAL(evf_cookie_max("a;b;c", 5), 3);
}

static void
test_checks(void)
{
    CU_ASSERT_TRUE(evf_cookie_name_ok("session_id"));
    CU_ASSERT_FALSE(evf_cookie_name_ok(""));
    CU_ASSERT_FALSE(evf_cookie_name_ok("a=b"));
    CU_ASSERT_FALSE(evf_cookie_name_ok("a b"));
    CU_ASSERT_FALSE(evf_cookie_name_ok("a;b"));
    CU_ASSERT_TRUE(evf_cookie_value_ok(""));
    CU_ASSERT_TRUE(evf_cookie_value_ok("abc-._~!#$&'()*+/:<=>?@[]^`{|}"));
    CU_ASSERT_TRUE(evf_cookie_value_ok("\"quoted\""));
    CU_ASSERT_FALSE(evf_cookie_value_ok("a b"));
    CU_ASSERT_FALSE(evf_cookie_value_ok("a;b"));
    CU_ASSERT_FALSE(evf_cookie_value_ok("a,b"));
    CU_ASSERT_FALSE(evf_cookie_value_ok("a\\b"));
    CU_ASSERT_FALSE(evf_cookie_value_ok("a\"b"));
    CU_ASSERT_FALSE(evf_cookie_value_ok("a\r\nSet-Cookie: x=y"));
    CU_ASSERT_FALSE(evf_cookie_value_ok("caf\xc3\xa9"));
}

static void
test_format(void)
{
    char buf[512];
    int n = evf_cookie_format(buf, sizeof(buf), "theme", "dark", NULL);
    CU_ASSERT_EQUAL(n, (int)strlen(buf));
    CU_ASSERT_STRING_EQUAL(buf, "theme=dark; Path=/; SameSite=Lax");

    evf_cookie_opts o = {
        .has_max_age = true, .max_age = 3600, .expires = 1700000000,
        .path = "/app", .domain = "example.test", .secure = true,
        .httponly = true, .samesite = EVF_SAMESITE_STRICT,
    };
    n = evf_cookie_format(buf, sizeof(buf), "id", "a1", &o);
    CU_ASSERT(n > 0);
    CU_ASSERT_STRING_EQUAL(buf, "id=a1; Domain=example.test; "
                           "Expires=Tue, 14 Nov 2023 22:13:20 GMT; "
                           "HttpOnly; Max-Age=3600; Path=/app; "
                           "SameSite=Strict; Secure");

    o = (evf_cookie_opts){ .samesite = EVF_SAMESITE_NONE, .secure = true,
                           .has_max_age = true, .max_age = -5 };
    CU_ASSERT(evf_cookie_format(buf, sizeof(buf), "x", "", &o) > 0);
    CU_ASSERT_STRING_EQUAL(buf, "x=; Max-Age=0; Path=/; SameSite=None; "
                           "Secure");
    o = (evf_cookie_opts){ .samesite = EVF_SAMESITE_OMIT };
    CU_ASSERT(evf_cookie_format(buf, sizeof(buf), "x", "1", &o) > 0);
    CU_ASSERT_STRING_EQUAL(buf, "x=1; Path=/");
}

/* Everything that could end the header or add one is refused. */
static void
test_refusals(void)
{
    char buf[512];
    CU_ASSERT_EQUAL(evf_cookie_format(buf, sizeof(buf), "a=b", "1", NULL),
                    -1);
    CU_ASSERT_EQUAL(evf_cookie_format(buf, sizeof(buf), "a", "1\r\nX: y",
                                      NULL), -1);
    CU_ASSERT_EQUAL(evf_cookie_format(buf, sizeof(buf), "a", "1; Secure",
                                      NULL), -1);
    evf_cookie_opts o = { .path = "/; Domain=evil" };
    CU_ASSERT_EQUAL(evf_cookie_format(buf, sizeof(buf), "a", "1", &o), -1);
    o = (evf_cookie_opts){ .domain = "x\ny" };
    CU_ASSERT_EQUAL(evf_cookie_format(buf, sizeof(buf), "a", "1", &o), -1);
    o = (evf_cookie_opts){ .path = "" };
    CU_ASSERT_EQUAL(evf_cookie_format(buf, sizeof(buf), "a", "1", &o), -1);
    /* SameSite=None without Secure: browsers drop it. */
    o = (evf_cookie_opts){ .samesite = EVF_SAMESITE_NONE };
    CU_ASSERT_EQUAL(evf_cookie_format(buf, sizeof(buf), "a", "1", &o), -1);
    /* Too small a buffer is refused, never cut. */
    CU_ASSERT_EQUAL(evf_cookie_format(buf, 12, "a", "1", NULL), -1);
}

static CU_TestInfo tests[] = {
    { "Cookie header split as Starlette", test_split },
    { "name and value grammar", test_checks },
    { "Set-Cookie formatting", test_format },
    { "no header injection", test_refusals },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("cookie", tests);
}
