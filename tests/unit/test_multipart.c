/*
 * test_multipart: the multipart/form-data push parser (src/multipart.c).
 *
 * Each sample body is parsed whole, then split in two at every position,
 * in three at every pair of positions (short bodies), and one byte at a
 * time: every parse must report the same parts, contents and error.  The
 * events are written to a log ("[name|filename|type]" at a part's start,
 * its content, "<end>" at its end), adjacent content pieces joined.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "multipart.h"
#include "unit.h"

typedef struct log {
    char buf[65536];
    size_t len;
    int fail_at;        /* begin number that fails with -99; 0: none */
    int begins;
} log_t;

static void
put(log_t *l, const char *p, size_t n)
{
    if (n > sizeof(l->buf) - 1 - l->len)
        n = sizeof(l->buf) - 1 - l->len;
    memcpy(l->buf + l->len, p, n);
    l->len += n;
    l->buf[l->len] = '\0';
}

static void
puts_(log_t *l, const char *s)
{
    put(l, s ? s : "-", strlen(s ? s : "-"));
}

static int
on_begin(void *ud, const evf_mp_part_t *p)
{
    log_t *l = ud;
    if (++l->begins == l->fail_at)
        return -99;
    puts_(l, "[");
    puts_(l, p->name);
    puts_(l, "|");
    puts_(l, p->filename);
    puts_(l, "|");
    puts_(l, p->content_type);
    puts_(l, "]");
    return 0;
}

static int
on_data(void *ud, const char *p, size_t n)
{
    CU_ASSERT(n > 0);
    put(ud, p, n);
    return 0;
}

static int
on_end(void *ud)
{
    puts_(ud, "<end>");
    return 0;
}

static const evf_mp_cbs_t cbs = { on_begin, on_data, on_end };

/* Parse body in the pieces cut at cuts[0..ncuts) (ascending). */
static int
parse_cut(const char *bnd, const char *body, size_t len, const size_t *cuts,
          size_t ncuts, log_t *l, int fail_at)
{
    static evf_mp_t mp;
    memset(l, 0, sizeof(*l));
    l->fail_at = fail_at;
    evf_mp_init(&mp, bnd, &cbs, l);
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        /* An exact-size copy, so a read past the piece is seen (ASan). */
        char *piece = malloc(to - at + 1);
        memcpy(piece, body + at, to - at);
        rc = evf_mp_feed(&mp, piece, to - at);
        free(piece);
        at = to;
    }
    if (rc == 0)
        rc = evf_mp_finish(&mp);
    return rc;
}

/* Whole, every split, every 3-split (short bodies), byte by byte. */
static void
check_body(const char *bnd, const char *body, int want_rc,
           const char *want_log)
{
    size_t len = strlen(body);
    log_t *whole = malloc(sizeof(*whole)), *l = malloc(sizeof(*l));
    int rc = parse_cut(bnd, body, len, NULL, 0, whole, 0);
    CU_ASSERT_EQUAL(rc, want_rc);
    if (want_log && !unit_mem_eq(whole->buf, whole->len, want_log,
                                strlen(want_log)))
        CU_FAIL("whole body: unexpected events");
    for (size_t a = 0; a <= len; a++) {
        size_t cuts[1] = { a };
        int r = parse_cut(bnd, body, len, cuts, 1, l, 0);
        if (r != rc || strcmp(l->buf, whole->buf)) {
            fprintf(stderr, "split at %zu differs: rc %d, %s\n", a, r,
                    l->buf);
            CU_FAIL("a split parse differs from the whole one");
            break;
        }
    }
    if (len <= 300)
        for (size_t a = 0; a <= len; a++)
            for (size_t b = a; b <= len; b++) {
                size_t cuts[2] = { a, b };
                int r = parse_cut(bnd, body, len, cuts, 2, l, 0);
                if (r != rc || strcmp(l->buf, whole->buf)) {
                    CU_FAIL("a 3-piece parse differs from the whole one");
                    a = b = len + 1;
                }
            }
    size_t *cuts = malloc((len + 1) * sizeof(*cuts));
    for (size_t i = 0; i < len; i++)
        cuts[i] = i;
    int r = parse_cut(bnd, body, len, cuts, len, l, 0);
    CU_ASSERT_EQUAL(r, rc);
    CU_ASSERT_STRING_EQUAL(l->buf, whole->buf);
    free(cuts);
    free(whole);
    free(l);
}

#define SAMPLE \
    "preamble to ignore\r\n" \
    "--XyZ'()+_,-./:=?\r\n" \
    "Content-Disposition: form-data; name=\"note\"\r\n" \
    "\r\n" \
    "hello\r\n--XyZ not the delimiter\r\r\n\r\n-\r\n--\r\n" \
    "--XyZ'()+_,-./:=?  \t\r\n" \
    "content-disposition: form-data; name=files; " \
    "filename=\"a \\\"b\\\".txt\"\r\n" \
    "Content-Type: text/plain\r\n" \
    "\r\n" \
    "line1\r\nline2\r\n\r\n" \
    "--XyZ'()+_,-./:=?\r\n" \
    "Content-Disposition: form-data; name=\"files\"; filename=\"x\"; " \
    "filename*=UTF-8''%E2%82%AC%20rates.bin\r\n" \
    "Content-Type: application/octet-stream\r\n" \
    "\r\n" \
    "\r\n" \
    "--XyZ'()+_,-./:=?--\r\n" \
    "epilogue --XyZ'()+_,-./:=? ignored"

static void
test_sample(void)
{
    check_body("XyZ'()+_,-./:=?", SAMPLE, 0,
               "[note|-|-]hello\r\n--XyZ not the delimiter\r\r\n\r\n-\r\n--"
               "<end>"
               "[files|a \"b\".txt|text/plain]line1\r\nline2\r\n<end>"
               "[files|\xe2\x82\xac rates.bin|application/octet-stream]"
               "<end>");
}

static void
test_no_preamble_and_empty(void)
{
    check_body("b", "--b--", 0, "");
    check_body("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n"
               "1\r\n--b--", 0, "[a|-|-]1<end>");
    /* A part with no content at all; a trailing ';' in the disposition. */
    check_body("b", "--b\r\nContent-Disposition: form-data; name=\"\";\r\n"
               "\r\n\r\n--b--\r\n", 0, "[|-|-]<end>");
}

static void
test_errors(void)
{
    const char *d = "Content-Disposition: form-data; name=a\r\n";
    char buf[512];
    /* Truncated part, missing final delimiter, no delimiter at all. */
    snprintf(buf, sizeof(buf), "--b\r\n%s\r\nabc", d);
    check_body("b", buf, EVF_MP_EMALFORMED, NULL);
    snprintf(buf, sizeof(buf), "--b\r\n%s\r\nabc\r\n--b", d);
    check_body("b", buf, EVF_MP_EMALFORMED, NULL);
    snprintf(buf, sizeof(buf), "--b\r\n%s\r\nabc\r\n--b\r\n", d);
    check_body("b", buf, EVF_MP_EMALFORMED, NULL);
    check_body("b", "just some bytes", EVF_MP_EMALFORMED, NULL);
    check_body("b", "", EVF_MP_EMALFORMED, NULL);
    /* Garbage after a delimiter; a lone '-'. */
    check_body("b", "--bX\r\n", EVF_MP_EMALFORMED, NULL);
    check_body("b", "--b-x", EVF_MP_EMALFORMED, NULL);
    /* Part headers: no disposition, not form-data, no name, bad line,
     * bare LF, a NUL, bad quoting, bad filename*. */
    check_body("b", "--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--",
               EVF_MP_EMALFORMED, NULL);
    check_body("b", "--b\r\nContent-Disposition: attachment; name=a\r\n\r\n"
               "x\r\n--b--", EVF_MP_EMALFORMED, NULL);
    check_body("b", "--b\r\nContent-Disposition: form-data; filename=a\r\n"
               "\r\nx\r\n--b--", EVF_MP_EMALFORMED, NULL);
    check_body("b", "--b\r\nno colon here\r\n\r\nx\r\n--b--",
               EVF_MP_EMALFORMED, NULL);
    check_body("b", "--b\r\nContent-Disposition: form-data; name=a\n\r\n",
               EVF_MP_EMALFORMED, NULL);
    static const char nul[] = "--b\r\nX: a\0b\r\n";
    log_t *l = malloc(sizeof(*l));
    CU_ASSERT_EQUAL(parse_cut("b", nul, sizeof(nul) - 1, NULL, 0, l, 0),
                    EVF_MP_EMALFORMED);
    check_body("b", "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\n"
               "x\r\n--b--", EVF_MP_EMALFORMED, NULL);
    check_body("b", "--b\r\nContent-Disposition: form-data; name=a; "
               "filename*=UTF-8''%zz\r\n\r\nx\r\n--b--", EVF_MP_EMALFORMED,
               NULL);
    check_body("b", "--b\r\nContent-Disposition: form-data; name=a; "
               "filename*=noquotes\r\n\r\nx\r\n--b--", EVF_MP_EMALFORMED,
               NULL);
    free(l);
}

static void
test_header_bombs(void)
{
    size_t n = 3 * EVF_MP_HEADER_MAX;
    char *body = malloc(n + 64);
    strcpy(body, "--b\r\nX-Big: ");
    size_t o = strlen(body);
    memset(body + o, 'a', n);
    strcpy(body + o + n, "\r\n\r\n");
    log_t *l = malloc(sizeof(*l));
    CU_ASSERT_EQUAL(parse_cut("b", body, strlen(body), NULL, 0, l, 0),
                    EVF_MP_EHEADERS);
    /* Many short lines. */
    strcpy(body, "--b\r\n");
    for (int i = 0; i < EVF_MP_HEADERS_MAX + 1; i++)
        strcat(body, "X: y\r\n");
    strcat(body, "\r\n");
    evf_mp_t *mp = malloc(sizeof(*mp));
    evf_mp_init(mp, "b", &cbs, l);
    memset(l, 0, sizeof(*l));
    CU_ASSERT_EQUAL(evf_mp_feed(mp, body, strlen(body)), EVF_MP_EHEADERS);
    CU_ASSERT(strstr(evf_mp_error(mp), "headers") != NULL);
    /* The error sticks. */
    CU_ASSERT_EQUAL(evf_mp_feed(mp, "x", 1), EVF_MP_EHEADERS);
    CU_ASSERT_EQUAL(evf_mp_finish(mp), EVF_MP_EHEADERS);
    free(mp);
    free(body);
    free(l);
}

static void
test_callback_stops(void)
{
    log_t *l = malloc(sizeof(*l));
    const char *body = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\n"
                       "1\r\n--b\r\nContent-Disposition: form-data; name=c"
                       "\r\n\r\n2\r\n--b--";
    CU_ASSERT_EQUAL(parse_cut("b", body, strlen(body), NULL, 0, l, 2), -99);
    CU_ASSERT_STRING_EQUAL(l->buf, "[a|-|-]1<end>");
    free(l);
}

static void
test_boundary(void)
{
    char b[EVF_MP_BOUNDARY_MAX + 1];
    CU_ASSERT_EQUAL(evf_mp_boundary("multipart/form-data; boundary=abc",
                                    b, sizeof(b)), 0);
    CU_ASSERT_STRING_EQUAL(b, "abc");
    CU_ASSERT_EQUAL(evf_mp_boundary("Multipart/Form-Data ; charset=utf-8;"
                                    " BOUNDARY=\"a b:c\"", b, sizeof(b)), 0);
    CU_ASSERT_STRING_EQUAL(b, "a b:c");
    CU_ASSERT_EQUAL(evf_mp_boundary("multipart/form-data", b, sizeof(b)),
                    -1);
    CU_ASSERT_EQUAL(evf_mp_boundary("multipart/form-data; boundary=",
                                    b, sizeof(b)), -1);
    CU_ASSERT_EQUAL(evf_mp_boundary("multipart/form-data; boundary=\"ab \"",
                                    b, sizeof(b)), -1);
    CU_ASSERT_EQUAL(evf_mp_boundary("multipart/form-data; boundary=a\rb",
                                    b, sizeof(b)), -1);
    CU_ASSERT_EQUAL(evf_mp_boundary("multipart/form-data; boundary=\"ab",
                                    b, sizeof(b)), -1);
    CU_ASSERT_EQUAL(evf_mp_boundary("multipart/mixed; boundary=ab",
                                    b, sizeof(b)), -1);
    CU_ASSERT_EQUAL(evf_mp_boundary(NULL, b, sizeof(b)), -1);
    char lng[128] = "multipart/form-data; boundary=";
    memset(lng + strlen(lng), 'x', 71);
    CU_ASSERT_EQUAL(evf_mp_boundary(lng, b, sizeof(b)), -1);
    lng[strlen(lng) - 1] = '\0';
    CU_ASSERT_EQUAL(evf_mp_boundary(lng, b, sizeof(b)), 0);
    CU_ASSERT_EQUAL(strlen(b), 70);
}

/* A large part fed in big pieces reaches the callback in few calls. */
static int ncalls;

static int
count_data(void *ud, const char *p, size_t n)
{
    (void)ud, (void)p, (void)n;
    ncalls++;
    return 0;
}

static void
test_large_content(void)
{
    static const evf_mp_cbs_t c = { on_begin, count_data, on_end };
    size_t n = 1 << 20;
    char *body = malloc(n + 256);
    int h = sprintf(body, "--b\r\nContent-Disposition: form-data; name=f; "
                          "filename=f\r\n\r\n");
    memset(body + h, 'z', n);
    strcpy(body + h + n, "\r\n--b--");
    log_t *l = calloc(1, sizeof(*l));
    evf_mp_t *mp = malloc(sizeof(*mp));
    evf_mp_init(mp, "b", &c, l);
    ncalls = 0;
    size_t len = strlen(body);
    for (size_t at = 0; at < len; at += 65536)
        CU_ASSERT_EQUAL(evf_mp_feed(mp, body + at,
                                    len - at < 65536 ? len - at : 65536), 0);
    CU_ASSERT_EQUAL(evf_mp_finish(mp), 0);
    CU_ASSERT(ncalls <= 20);
    free(mp);
    free(l);
    free(body);
}

int
main(void)
{
    static CU_TestInfo tests[] = {
        { "sample body, every split", test_sample },
        { "no preamble, empty parts", test_no_preamble_and_empty },
        { "malformed bodies", test_errors },
        { "header bombs", test_header_bombs },
        { "a callback stops the parse", test_callback_stops },
        { "boundary from Content-Type", test_boundary },
        { "large content in few calls", test_large_content },
        CU_TEST_INFO_NULL,
    };
    return unit_run_tests("multipart", tests);
}
