/*
 * test_url: suite "url".
 *
 * evf_pct_decode: escapes in either case, malformed ones kept, '+' only
 * in query mode, %00, decoding in place; evf_url_query_next and
 * evf_url_query_max: every field of a query string with its exact bytes,
 * empty fields skipped, a field without '=', only the first '=' splits,
 * and no byte read past the given length (inputs are exact-size heap
 * copies, so ASan sees an over-read).
 */
#include "config.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"
#include "url.h"

/* Decode src into an exact-size (len + 1) heap buffer; compare. */
static void
check_pct(const char *src, bool plus, const char *want, size_t wlen)
{
    size_t len = strlen(src);
    char *s = malloc(len ? len : 1);
    char *dst = malloc(len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dst);
    memcpy(s, src, len);
    memset(dst, 'Z', len + 1);
    size_t n = evf_pct_decode(dst, s, len, plus);
    CU_ASSERT_EQUAL(n, wlen);
    CU_ASSERT_TRUE(n == wlen && memcmp(dst, want, wlen) == 0);
    CU_ASSERT_TRUE(n <= len && dst[n] == '\0');
    if (n != wlen || memcmp(dst, want, wlen))
        fprintf(stderr, "\n    '%s' -> '%.*s'\n", src, (int)n, dst);
    free(s);
    free(dst);
}

#define PCT(src, plus, want) check_pct((src), (plus), (want), \
                                       sizeof(want) - 1)

static void
test_pct_decode(void)
{
    PCT("a%20b", false, "a b");
    PCT("%zz", false, "%zz");
    PCT("%4", false, "%4");
    PCT("x%", false, "x%");
    PCT("%", false, "%");
    PCT("%%41", false, "%A");
    PCT("%2F", false, "/");
    PCT("%2f", false, "/");
    PCT("%e2%82%ac", false, "\xe2\x82\xac");
    PCT("a+b", false, "a+b");
    PCT("a+b", true, "a b");
    PCT("%2B", true, "+");
    PCT("a%00b", false, "a\0b");
    PCT("plain", false, "plain");
    PCT("", false, "");
}

/* Decoding in place gives the same bytes. */
static void
test_pct_in_place(void)
{
    char s[] = "a%20b+c%2";
    size_t n = evf_pct_decode(s, s, strlen(s), true);
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_TRUE(memcmp(s, "a b c%2", 8) == 0);
}

/* An exact-size heap copy of s (no terminator). */
static char *
exact(const char *s, size_t len)
{
    char *p = malloc(len ? len : 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memcpy(p, s, len);
    return p;
}

/*
 * Split qs; the fields must be want[0..n), each "name" or "name=value"
 * exactly as it appears (has_value follows the '=').
 */
static void
check_split(const char *qs, const char *const *want, size_t n)
{
    size_t len = strlen(qs), pos = 0, i = 0;
    char *q = exact(qs, len);
    evf_url_field_t f;

    CU_ASSERT_TRUE(evf_url_query_max(q, len) >= n);
    while (evf_url_query_next(q, len, &pos, &f)) {
        CU_ASSERT_TRUE(pos <= len);
        if (i == n) {
            CU_FAIL("more fields than expected");
            fprintf(stderr, "\n    '%s': extra '%.*s'\n", qs, (int)f.nlen,
                    f.name);
            break;
        }
        const char *w = want[i++];
        const char *eq = strchr(w, '=');
        size_t nl = eq ? (size_t)(eq - w) : strlen(w);
        size_t vl = eq ? strlen(eq + 1) : 0;
        CU_ASSERT_EQUAL(f.has_value, eq != NULL);
        CU_ASSERT_EQUAL(f.nlen, nl);
        CU_ASSERT_EQUAL(f.vlen, vl);
        CU_ASSERT_TRUE(f.nlen == nl && memcmp(f.name, w, nl) == 0);
        CU_ASSERT_TRUE(f.vlen == vl &&
                       (vl == 0 || memcmp(f.value, eq + 1, vl) == 0));
        /* Pointers into the query, except the empty value of "name". */
        CU_ASSERT_TRUE(f.name >= q && f.name + f.nlen <= q + len);
        if (f.has_value)
            CU_ASSERT_TRUE(f.value == f.name + f.nlen + 1);
    }
    CU_ASSERT_EQUAL(i, n);
    CU_ASSERT_EQUAL(pos, len);
    /* Done stays done. */
    CU_ASSERT_FALSE(evf_url_query_next(q, len, &pos, &f));
    free(q);
}

#define SPLIT(qs, ...) do { \
        static const char *const w_[] = { __VA_ARGS__ }; \
        check_split((qs), w_ + 1, sizeof(w_) / sizeof(w_[0]) - 1); \
    } while (0)

static void
test_query_split(void)
{
    SPLIT("", NULL);
    SPLIT("&", NULL);
    SPLIT("&&&", NULL);
    SPLIT("a=1", NULL, "a=1");
    SPLIT("a=1&b=2", NULL, "a=1", "b=2");
    SPLIT("a", NULL, "a");
    SPLIT("a=", NULL, "a=");
    SPLIT("=v", NULL, "=v");
    SPLIT("=", NULL, "=");
    SPLIT("a=1=2", NULL, "a=1=2");
    SPLIT("&&a=1&&b&", NULL, "a=1", "b");
    SPLIT("q=x%26y&r=%3D", NULL, "q=x%26y", "r=%3D");
    SPLIT("a+b=c+d;e=f", NULL, "a+b=c+d;e=f");
}

/* The split and the decoding together, as inputs.c uses them. */
static void
test_query_decode(void)
{
    const char *qs = "name=J%C3%BCrgen+M&x=%41%2&flag&e=a=b";
    static const char *const want[][2] = {
        { "name", "J\xc3\xbcrgen M" }, { "x", "A%2" }, { "flag", "" },
        { "e", "a=b" },
    };
    size_t len = strlen(qs), pos = 0, i = 0;
    char *q = exact(qs, len);
    evf_url_field_t f;
    char name[64], value[64];

    while (evf_url_query_next(q, len, &pos, &f) && i < 4) {
        CU_ASSERT_FATAL(f.nlen < sizeof(name) && f.vlen < sizeof(value));
        evf_pct_decode(name, f.name, f.nlen, true);
        evf_pct_decode(value, f.value, f.vlen, true);
        CU_ASSERT_STRING_EQUAL(name, want[i][0]);
        CU_ASSERT_STRING_EQUAL(value, want[i][1]);
        i++;
    }
    CU_ASSERT_EQUAL(i, 4);
    free(q);
}

/* Only len bytes count: a field stops at the given end. */
static void
test_query_len(void)
{
    size_t pos = 0;
    evf_url_field_t f;
    CU_ASSERT_TRUE(evf_url_query_next("a=12&b=3", 3, &pos, &f));
    CU_ASSERT_EQUAL(f.nlen, 1);
    CU_ASSERT_EQUAL(f.vlen, 1);
    CU_ASSERT_EQUAL(f.value[0], '1');
    CU_ASSERT_FALSE(evf_url_query_next("a=12&b=3", 3, &pos, &f));
    CU_ASSERT_EQUAL(evf_url_query_max("a&b&c", 5), 3);
    CU_ASSERT_EQUAL(evf_url_query_max("a&b&c", 3), 2);
    CU_ASSERT_EQUAL(evf_url_query_max("", 0), 1);
}

/* Well-formed UTF-8 only; everything else one U+FFFD per byte. */
static void
test_utf8(void)
{
    static const struct {
        const char *in;
        size_t n;           /* evf_utf8_seq of its first byte */
    } seq[] = {
        { "a", 1 }, { "\xc3\xa9", 2 }, { "\xe2\x82\xac", 3 },
        { "\xf0\x9f\x98\x80", 4 }, { "\xff", 0 }, { "\x80", 0 },
        { "\xc0\xaf", 0 },           /* overlong '/' */
        { "\xed\xa0\x80", 0 },       /* surrogate */
        { "\xf4\x90\x80\x80", 0 },   /* beyond U+10FFFF */
        { "\xe2\x82", 0 },           /* cut short */
    };
    for (size_t i = 0; i < sizeof(seq) / sizeof(seq[0]); i++)
        CU_ASSERT_EQUAL(evf_utf8_seq((const unsigned char *)seq[i].in,
                                     strlen(seq[i].in)), seq[i].n);
    char out[64];
    size_t n = evf_utf8_scrub(out, "a\xff\xc3\xa9\0\xe2\x82", 7);
    CU_ASSERT_TRUE(unit_mem_eq(out, n, "a\xef\xbf\xbd\xc3\xa9\0"
                               "\xef\xbf\xbd\xef\xbf\xbd", 13));
}

static CU_TestInfo tests[] = {
    { "evf_pct_decode", test_pct_decode },
    { "evf_pct_decode in place", test_pct_in_place },
    { "query split", test_query_split },
    { "query split and decode", test_query_decode },
    { "only len bytes", test_query_len },
    { "UTF-8 sequences and scrubbing", test_utf8 },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("url", tests);
}
