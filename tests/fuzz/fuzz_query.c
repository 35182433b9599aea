/*
 * fuzz_query: libFuzzer harness for query splitting and percent-decoding.
 *
 * The input is a query string (any bytes, NUL included).  It is split
 * with evf_url_query_next from an exact-size heap copy (so ASan sees a
 * read past its end) and checked against a reference split written here:
 * the same fields in the same order, each non-empty, pointing into the
 * query, names without '=' or '&', values without '&', no more than
 * evf_url_query_max fields; joined back with '&' they give the input
 * without its empty fields.  Each name and value is then percent-decoded
 * (with and without '+' as a space) into an exact-size block and compared
 * with a reference decoder; decoding in place gives the same bytes; and
 * escaping every decoded byte, then decoding, gives them back.
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays tests/fuzz/corpus-query without libFuzzer.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            fail(__FILE__, __LINE__, #cond); \
    } while (0)

static void fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

static void
fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

static char *
copy(const void *p, size_t n)
{
    char *b = malloc(n ? n : 1);
    if (!b)
        abort();
    if (n)
        memcpy(b, p, n);
    else
        b[0] = '\0';
    return b;
}

static int
hex(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The reference decoder, into out (len + 1 bytes); the length. */
static size_t
ref_decode(const char *s, size_t len, bool plus, char *out)
{
    size_t o = 0, i = 0;
    while (i < len) {
        if (s[i] == '%' && len - i >= 3 && hex((unsigned char)s[i + 1]) >= 0
            && hex((unsigned char)s[i + 2]) >= 0) {
            out[o++] = (char)(hex((unsigned char)s[i + 1]) * 16 +
                              hex((unsigned char)s[i + 2]));
            i += 3;
        } else {
            out[o++] = plus && s[i] == '+' ? ' ' : s[i];
            i++;
        }
    }
    out[o] = '\0';
    return o;
}

/* Decode s[0..len) every way and compare. */
static void
check_decode(const char *s, size_t len, bool plus)
{
    char *src = copy(s, len);
    char *dst = malloc(len + 1);
    char *want = malloc(len + 1);
    if (!dst || !want)
        abort();
    size_t n = evf_pct_decode(dst, src, len, plus);
    size_t wn = ref_decode(s, len, plus, want);
    CHECK(n == wn && n <= len);
    CHECK(memcmp(dst, want, n + 1) == 0);

    /* In place: same bytes. */
    char *in = malloc(len + 1);
    if (!in)
        abort();
    memcpy(in, s, len);
    CHECK(evf_pct_decode(in, in, len, plus) == n);
    CHECK(memcmp(in, want, n + 1) == 0);
    free(in);

    /* Escape every byte, decode: the decoded bytes come back. */
    static const char digits[] = "0123456789ABCDEF";
    char *esc = malloc(3 * n + 1);
    char *back = malloc(3 * n + 1);
    if (!esc || !back)
        abort();
    for (size_t i = 0; i < n; i++) {
        esc[3 * i] = '%';
        esc[3 * i + 1] = digits[(unsigned char)dst[i] >> 4];
        esc[3 * i + 2] = digits[(unsigned char)dst[i] & 15];
    }
    CHECK(evf_pct_decode(back, esc, 3 * n, plus) == n);
    CHECK(memcmp(back, dst, n) == 0);
    free(esc);
    free(back);
    free(src);
    free(dst);
    free(want);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t none[1];
    if (!data)
        data = none;
    const char *s = (const char *)data;
    char *q = copy(data, size);

    /* The input without its empty fields, the reference's way. */
    char *joined = malloc(size + 1);
    if (!joined)
        abort();
    size_t jn = 0, want_fields = 0;
    for (size_t i = 0; i <= size;) {
        size_t j = i;
        while (j < size && s[j] != '&')
            j++;
        if (j > i) {
            if (jn)
                joined[jn++] = '&';
            memcpy(joined + jn, s + i, j - i);
            jn += j - i;
            want_fields++;
        }
        i = j + 1;
    }

    size_t max = evf_url_query_max(q, size);
    size_t pos = 0, fields = 0, rn = 0, last_end = 0;
    char *rebuilt = malloc(size + 1);
    if (!rebuilt)
        abort();
    evf_url_field_t f;
    while (evf_url_query_next(q, size, &pos, &f)) {
        fields++;
        CHECK(fields <= max);
        CHECK(pos <= size);
        CHECK(f.name >= q + last_end && f.name + f.nlen <= q + size);
        CHECK(f.nlen + f.vlen + f.has_value > 0);
        CHECK(!memchr(f.name, '=', f.nlen) && !memchr(f.name, '&', f.nlen));
        if (f.has_value) {
            CHECK(f.value == f.name + f.nlen + 1 && f.name[f.nlen] == '=');
            CHECK(f.value + f.vlen <= q + size);
        } else {
            CHECK(f.vlen == 0);
        }
        CHECK(!memchr(f.value, '&', f.vlen));
        const char *fend = f.has_value ? f.value + f.vlen : f.name + f.nlen;
        CHECK(fend == q + size || *fend == '&');
        last_end = (size_t)(fend - q);
        if (rn)
            rebuilt[rn++] = '&';
        memcpy(rebuilt + rn, f.name, f.nlen);
        rn += f.nlen;
        if (f.has_value) {
            rebuilt[rn++] = '=';
            memcpy(rebuilt + rn, f.value, f.vlen);
            rn += f.vlen;
        }
        for (int plus = 0; plus < 2; plus++) {
            check_decode(f.name, f.nlen, plus);
            check_decode(f.value, f.vlen, plus);
        }
    }
    CHECK(pos == size);
    CHECK(fields == want_fields);
    CHECK(rn == jn && memcmp(rebuilt, joined, rn) == 0);

    /* The whole input as one string, as a path is decoded. */
    check_decode(s, size, false);
    free(rebuilt);
    free(joined);
    free(q);
    return 0;
}
