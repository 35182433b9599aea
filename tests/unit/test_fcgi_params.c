/*
 * test_fcgi_params: suite "fcgi_params".
 *
 * Covers the FastCGI name-value pair codec: decoding 1-byte and 4-byte
 * lengths (the 127/128 boundary, empty and 70000-byte values, non-minimal
 * 4-byte lengths), every truncation of a valid stream (EVF_FCGI_EPAIR,
 * and no read past the end: each input sits in an exact-size heap block
 * so that the ASan build catches one), lengths claiming far more than
 * arrived, the callback's stop value, and the encoder: byte-exact output
 * for short and long pairs, evf_fcgi_pair_size, and an encode/decode round
 * trip.  Then the incremental scanner, evf_fcgi_params_next: the stream fed
 * in every split into two pieces, one byte at a time and every split into
 * three pieces, each arrival in a fresh exact-size block (the buffer
 * moves, and bytes behind the scanner are overwritten, as request.c's
 * in-place storage does): every pair is reported once, in order, with its
 * exact bytes and offsets, as soon as its last byte is in and not before;
 * an impossible length (a pair ending past the limit) is an error as soon
 * as its lengths are in, stays one, and a pair ending exactly at the limit
 * is fine.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_params.h"
#include "unit.h"

/* ---- collecting decoded pairs ------------------------------------------- */

#define MAX_PAIRS 16

typedef struct pair {
    const uint8_t *name;
    size_t nlen;
    const uint8_t *value;
    size_t vlen;
} pair_t;

typedef struct got {
    uint8_t *mem;           /* the heap copy decoded */
    const uint8_t *buf;     /* the decoded buffer, to check pointers */
    size_t len;
    size_t n;
    pair_t p[MAX_PAIRS];
    bool outside;           /* a pair pointed outside buf */
    size_t stop_at;         /* return stop_rc at this pair (1-based) */
    int stop_rc;
} got_t;

static bool
inside(const got_t *g, const uint8_t *p, size_t n)
{
    if (n == 0)
        return true;
    return p >= g->buf && p <= g->buf + g->len &&
           n <= (size_t)(g->buf + g->len - p);
}

static int
collect(void *ud, const uint8_t *name, size_t nlen, const uint8_t *value,
        size_t vlen)
{
    got_t *g = ud;

    if (!inside(g, name, nlen) || !inside(g, value, vlen))
        g->outside = true;
    if (g->n < MAX_PAIRS)
        g->p[g->n] = (pair_t){ name, nlen, value, vlen };
    g->n++;
    if (g->stop_at && g->n == g->stop_at)
        return g->stop_rc;
    return 0;
}

/* Decode src[0..len) from an exact-size heap copy. */
static int
decode(const uint8_t *src, size_t len, got_t *g)
{
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    if (len)
        memcpy(buf, src, len);
    size_t stop_at = g->stop_at;
    int stop_rc = g->stop_rc;
    memset(g, 0, sizeof(*g));
    g->buf = buf;
    g->len = len;
    g->stop_at = stop_at;
    g->stop_rc = stop_rc;
    g->mem = buf;
    /* The pairs point into buf: check them before done(g). */
    return evf_fcgi_params_decode(buf, len, collect, g);
}

static void
done(got_t *g)
{
    free(g->mem);
    g->mem = NULL;
    g->buf = NULL;
}

static bool
pair_eq(const pair_t *a, const pair_t *b)
{
    return a->nlen == b->nlen && a->vlen == b->vlen &&
           (a->nlen == 0 || memcmp(a->name, b->name, a->nlen) == 0) &&
           (a->vlen == 0 || memcmp(a->value, b->value, a->vlen) == 0);
}

/* ---- a hand-written stream ---------------------------------------------- */

/*
 * Pairs, with each length written out byte by byte:
 *   1. name 127 x 'n' (1-byte length 0x7f), empty value
 *   2. name 128 x 'm' (4-byte length 0x80000080), value "v"
 *   3. "REQUEST_URI" = "/ab"
 *   4. name "BIG", value of vbig bytes (4-byte length)
 *   5. empty name, empty value
 *   6. non-minimal 4-byte lengths: name "" (0x80000000), value "w"
 */
typedef struct stream {
    uint8_t *b;
    size_t n;
    size_t ends[MAX_PAIRS];     /* offset where each pair ends */
    pair_t want[MAX_PAIRS];
    size_t npairs;
} stream_t;

static void
raw(stream_t *s, const void *p, size_t n)
{
    memcpy(s->b + s->n, p, n);
    s->n += n;
}

static void
fill(stream_t *s, int c, size_t n)
{
    memset(s->b + s->n, c, n);
    s->n += n;
}

/* Record the pair just written: name at nat, value at vat. */
static void
end_pair(stream_t *s, size_t nat, size_t nlen, size_t vat, size_t vlen)
{
    s->want[s->npairs] = (pair_t){ s->b + nat, nlen, s->b + vat, vlen };
    s->ends[s->npairs++] = s->n;
}

static void
build(stream_t *s, size_t vbig)
{
    s->b = malloc(256 + 128 + 127 + vbig);
    if (!s->b)
        abort();
    s->n = s->npairs = 0;

    static const uint8_t l1[] = { 0x7f, 0x00 };
    raw(s, l1, sizeof(l1));
    size_t at = s->n;
    fill(s, 'n', 127);
    end_pair(s, at, 127, s->n, 0);

    static const uint8_t l2[] = { 0x80, 0x00, 0x00, 0x80, 0x01 };
    raw(s, l2, sizeof(l2));
    at = s->n;
    fill(s, 'm', 128);
    raw(s, "v", 1);
    end_pair(s, at, 128, at + 128, 1);

    static const uint8_t l3[] = {
        0x0b, 0x03, 'R', 'E', 'Q', 'U', 'E', 'S', 'T', '_', 'U', 'R', 'I',
        '/', 'a', 'b',
    };
    at = s->n;
    raw(s, l3, sizeof(l3));
    end_pair(s, at + 2, 11, at + 13, 3);

    uint8_t l4[] = {
        0x03, (uint8_t)(0x80 | vbig >> 24), (uint8_t)(vbig >> 16),
        (uint8_t)(vbig >> 8), (uint8_t)vbig, 'B', 'I', 'G',
    };
    at = s->n;
    raw(s, l4, sizeof(l4));
    for (size_t i = 0; i < vbig; i++)
        s->b[s->n + i] = (uint8_t)(i % 251);
    s->n += vbig;
    end_pair(s, at + 5, 3, at + 8, vbig);

    static const uint8_t l5[] = { 0x00, 0x00 };
    raw(s, l5, sizeof(l5));
    end_pair(s, s->n, 0, s->n, 0);

    static const uint8_t l6[] = {
        0x80, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x01, 'w',
    };
    at = s->n;
    raw(s, l6, sizeof(l6));
    end_pair(s, at + 8, 0, at + 8, 1);
}

static void
unbuild(stream_t *s)
{
    free(s->b);
    s->b = NULL;
}

/* ---- tests -------------------------------------------------------------- */

static void
test_decode(void)
{
    stream_t s;
    build(&s, 70000);
    got_t g = { 0 };

    CU_ASSERT_EQUAL(decode(s.b, s.n, &g), 0);
    CU_ASSERT_FALSE(g.outside);
    CU_ASSERT_EQUAL_FATAL(g.n, s.npairs);
    for (size_t i = 0; i < s.npairs; i++)
        CU_ASSERT_TRUE(pair_eq(&g.p[i], &s.want[i]));
    /* The boundaries that matter, spelled out. */
    CU_ASSERT_EQUAL(g.p[0].nlen, 127);
    CU_ASSERT_EQUAL(g.p[0].vlen, 0);
    CU_ASSERT_EQUAL(g.p[1].nlen, 128);
    CU_ASSERT_EQUAL(g.p[1].vlen, 1);
    CU_ASSERT_EQUAL(g.p[3].vlen, 70000);
    CU_ASSERT_EQUAL(g.p[3].value[69999], 69999 % 251);
    CU_ASSERT_EQUAL(memcmp(g.p[2].name, "REQUEST_URI", 11), 0);
    CU_ASSERT_EQUAL(memcmp(g.p[2].value, "/ab", 3), 0);
    CU_ASSERT_EQUAL(g.p[5].nlen, 0);
    CU_ASSERT_EQUAL(g.p[5].vlen, 1);
    CU_ASSERT_EQUAL(g.p[5].value[0], 'w');
    done(&g);

    /* No input, no pair. */
    CU_ASSERT_EQUAL(decode(s.b, 0, &g), 0);
    CU_ASSERT_EQUAL(g.n, 0);
    done(&g);
    unbuild(&s);
}

/*
 * Cut src[0..n) at k: a pair boundary decodes cleanly, anything else is
 * EVF_FCGI_EPAIR; either way, what was reported is a correct prefix of the
 * pairs, never one that ends past k.  Returns true when all held.
 */
static bool
check_cut(const stream_t *s, size_t k)
{
    got_t g = { 0 };
    size_t whole = 0;
    bool boundary = k == 0;

    for (size_t i = 0; i < s->npairs; i++) {
        if (s->ends[i] <= k)
            whole = i + 1;
        if (s->ends[i] == k)
            boundary = true;
    }
    int rc = decode(s->b, k, &g);
    bool ok = rc == (boundary ? 0 : EVF_FCGI_EPAIR) && !g.outside &&
              g.n <= whole && (!boundary || g.n == whole);
    for (size_t i = 0; ok && i < g.n && i < MAX_PAIRS; i++)
        ok = pair_eq(&g.p[i], &s->want[i]);
    if (!ok)
        fprintf(stderr, "\n    cut at %zu of %zu: rc %d, %zu pairs\n", k,
                s->n, rc, g.n);
    done(&g);
    return ok;
}

static void
test_truncations(void)
{
    stream_t s;
    size_t bad = 0, cuts = 0;

    /* Every prefix of a stream whose big value still needs a 4-byte
     * length (300 bytes). */
    build(&s, 300);
    for (size_t k = 0; k <= s.n; k++, cuts++)
        if (!check_cut(&s, k))
            bad++;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(cuts, s.n + 1);
    unbuild(&s);

    /* With the 70000-byte value: cuts around every pair boundary and
     * through the value. */
    build(&s, 70000);
    bad = 0;
    for (size_t k = 0; k <= s.n; k++) {
        bool near = false;
        for (size_t i = 0; i < s.npairs; i++)
            if (k + 16 >= s.ends[i] && k <= s.ends[i] + 16)
                near = true;
        if (near || k < 16 || k % 7919 == 0)
            if (!check_cut(&s, k))
                bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    unbuild(&s);
}

static void
test_huge_claims(void)
{
    static const uint8_t name_huge[] = {
        0xff, 0xff, 0xff, 0xff, 0x01, 'a', 'b',
    };
    static const uint8_t value_huge[] = {
        0x01, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c',
    };
    static const uint8_t both_huge[] = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a',
    };
    /* A valid pair, then one claiming 0x7fffffff. */
    static const uint8_t after_valid[] = {
        0x01, 0x01, 'k', 'v', 0x01, 0xff, 0xff, 0xff, 0xff, 'x', 'y',
    };
    /* One byte more than there is, in the 1-byte form. */
    static const uint8_t one_over[] = { 0x02, 0x02, 'a', 'b', 'c' };
    got_t g = { 0 };

    CU_ASSERT_EQUAL(decode(name_huge, sizeof(name_huge), &g),
                    EVF_FCGI_EPAIR);
    CU_ASSERT_EQUAL(g.n, 0);
    done(&g);
    CU_ASSERT_EQUAL(decode(value_huge, sizeof(value_huge), &g),
                    EVF_FCGI_EPAIR);
    CU_ASSERT_EQUAL(g.n, 0);
    done(&g);
    CU_ASSERT_EQUAL(decode(both_huge, sizeof(both_huge), &g),
                    EVF_FCGI_EPAIR);
    CU_ASSERT_EQUAL(g.n, 0);
    done(&g);
    CU_ASSERT_EQUAL(decode(after_valid, sizeof(after_valid), &g),
                    EVF_FCGI_EPAIR);
    CU_ASSERT(g.n <= 1);
    CU_ASSERT_FALSE(g.outside);
    done(&g);
    CU_ASSERT_EQUAL(decode(one_over, sizeof(one_over), &g), EVF_FCGI_EPAIR);
    CU_ASSERT_EQUAL(g.n, 0);
    done(&g);
}

static void
test_callback_stops(void)
{
    stream_t s;
    build(&s, 300);
    got_t g = { .stop_at = 2, .stop_rc = 42 };

    CU_ASSERT_EQUAL(decode(s.b, s.n, &g), 42);
    CU_ASSERT_EQUAL(g.n, 2);            /* no call after the stop */
    done(&g);

    g = (got_t){ .stop_at = 1, .stop_rc = -7 };
    CU_ASSERT_EQUAL(decode(s.b, s.n, &g), -7);
    CU_ASSERT_EQUAL(g.n, 1);
    done(&g);

    /* Stopping on the last pair still returns the callback's value. */
    g = (got_t){ .stop_at = s.npairs, .stop_rc = 1 };
    CU_ASSERT_EQUAL(decode(s.b, s.n, &g), 1);
    CU_ASSERT_EQUAL(g.n, s.npairs);
    done(&g);
    unbuild(&s);
}

static void
test_pair_size(void)
{
    CU_ASSERT_EQUAL(evf_fcgi_pair_size(0, 0), 2);
    CU_ASSERT_EQUAL(evf_fcgi_pair_size(127, 0), 1 + 1 + 127);
    CU_ASSERT_EQUAL(evf_fcgi_pair_size(128, 0), 4 + 1 + 128);
    CU_ASSERT_EQUAL(evf_fcgi_pair_size(0, 127), 1 + 1 + 127);
    CU_ASSERT_EQUAL(evf_fcgi_pair_size(0, 128), 1 + 4 + 128);
    CU_ASSERT_EQUAL(evf_fcgi_pair_size(200, 70000), 4 + 4 + 200 + 70000);
}

static void
test_encode_exact(void)
{
    /* Short: 1-byte lengths. */
    static const uint8_t short_want[] = { 0x01, 0x02, 'A', 'b', 'c' };
    uint8_t short_out[sizeof(short_want)];
    CU_ASSERT_EQUAL(evf_fcgi_pair_encode(short_out, "A", 1, "bc", 2), 5);
    CU_ASSERT_TRUE(unit_mem_eq(short_out, 5, short_want, 5));

    /* Empty value with a non-NULL pointer, and an empty value's NULL. */
    static const uint8_t empty_want[] = { 0x02, 0x00, 'h', 'i' };
    uint8_t empty_out[4];
    CU_ASSERT_EQUAL(evf_fcgi_pair_encode(empty_out, "hi", 2, NULL, 0), 4);
    CU_ASSERT_TRUE(unit_mem_eq(empty_out, 4, empty_want, 4));

    /* Long: 200-byte name (4-byte length), 3-byte value (1 byte). */
    size_t n = 4 + 1 + 200 + 3;
    uint8_t *want = malloc(n), *out = malloc(n), name[200];
    CU_ASSERT_PTR_NOT_NULL_FATAL(want);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    memset(name, 'x', sizeof(name));
    static const uint8_t long_hdr[] = { 0x80, 0x00, 0x00, 0xc8, 0x03 };
    memcpy(want, long_hdr, 5);
    memset(want + 5, 'x', 200);
    memcpy(want + 205, "abc", 3);
    CU_ASSERT_EQUAL(evf_fcgi_pair_encode(out, name, 200, "abc", 3), n);
    CU_ASSERT_TRUE(unit_mem_eq(out, n, want, n));
    free(want);
    free(out);

    /* 1-byte name, 70000-byte value (0x00011170). */
    n = 1 + 4 + 1 + 70000;
    uint8_t *value = malloc(70000);
    out = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(value);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out);
    memset(value, 'q', 70000);
    static const uint8_t big_hdr[] = { 0x01, 0x80, 0x01, 0x11, 0x70, 'k' };
    CU_ASSERT_EQUAL(evf_fcgi_pair_encode(out, "k", 1, value, 70000), n);
    CU_ASSERT_TRUE(unit_mem_eq(out, 6, big_hdr, 6));
    CU_ASSERT_EQUAL(memcmp(out + 6, value, 70000), 0);
    free(value);
    free(out);
}

static void
test_round_trip(void)
{
    static const size_t lens[][2] = {
        { 0, 0 }, { 1, 0 }, { 0, 1 }, { 127, 127 }, { 128, 128 },
        { 127, 128 }, { 128, 127 }, { 14, 3 }, { 300, 70000 },
    };
    size_t np = sizeof(lens) / sizeof(lens[0]);
    size_t total = 0;

    for (size_t i = 0; i < np; i++)
        total += evf_fcgi_pair_size(lens[i][0], lens[i][1]);
    uint8_t *src = malloc(70000 + 300);
    uint8_t *buf = malloc(total);
    CU_ASSERT_PTR_NOT_NULL_FATAL(src);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    for (size_t i = 0; i < 70000 + 300; i++)
        src[i] = (uint8_t)(i * 13 + 5);

    /* Pair i: name from src + i, value from src + 2 * i + 1. */
    size_t off = 0;
    for (size_t i = 0; i < np; i++) {
        size_t w = evf_fcgi_pair_encode(buf + off, src + i, lens[i][0],
                                        src + 2 * i + 1, lens[i][1]);
        CU_ASSERT_EQUAL(w, evf_fcgi_pair_size(lens[i][0], lens[i][1]));
        off += w;
    }
    CU_ASSERT_EQUAL_FATAL(off, total);

    got_t g = { 0 };
    CU_ASSERT_EQUAL(decode(buf, total, &g), 0);
    CU_ASSERT_EQUAL(g.n, np);
    CU_ASSERT_FALSE(g.outside);
    for (size_t i = 0; i < np && i < g.n; i++) {
        pair_t want = { src + i, lens[i][0], src + 2 * i + 1, lens[i][1] };
        CU_ASSERT_TRUE(pair_eq(&g.p[i], &want));
    }
    done(&g);
    free(buf);
    free(src);
}

/* ---- the incremental scanner -------------------------------------------- */

/*
 * Feed s->b to the scanner in pieces ending at cuts[0..ncuts) (increasing;
 * the stream's end is added), each arrival an exact-size heap copy of all
 * bytes so far whose part behind the scanner is overwritten.  Checks every
 * promise; returns true when all held.
 */
static bool
feed(const stream_t *s, const size_t *cuts, size_t ncuts, size_t limit)
{
    evf_fcgi_scan_t sc;
    memset(&sc, 0, sizeof(sc));
    size_t idx = 0;
    bool ok = true;

    for (size_t c = 0; c <= ncuts && ok; c++) {
        size_t k = c < ncuts ? cuts[c] : s->n;
        uint8_t *buf = malloc(k ? k : 1);
        if (!buf)
            abort();
        memcpy(buf, s->b, k);
        memset(buf, 0xaa, sc.pos);
        int rc;
        evf_fcgi_pair_t p;
        while ((rc = evf_fcgi_params_next(&sc, buf, k, limit, &p)) == 1) {
            if (idx >= s->npairs) {
                ok = false;
                break;
            }
            const pair_t *w = &s->want[idx];
            pair_t got = { p.name, p.nlen, p.value, p.vlen };
            /* Same bytes at the same offsets, ending where it ends. */
            ok = pair_eq(&got, w) &&
                 p.name - buf == w->name - s->b &&
                 p.value - buf == w->value - s->b &&
                 s->ends[idx] <= k && sc.pos == s->ends[idx];
            idx++;
            if (!ok)
                break;
        }
        /* Nothing complete is left behind. */
        if (ok && rc == 0)
            ok = idx == s->npairs ? sc.pos == k : s->ends[idx] > k;
        if (ok && rc < 0)
            ok = false;
        free(buf);
    }
    ok = ok && idx == s->npairs && sc.pos == s->n;
    if (!ok) {
        fprintf(stderr, "\n    pieces ending at");
        for (size_t c = 0; c < ncuts; c++)
            fprintf(stderr, " %zu", cuts[c]);
        fprintf(stderr, " (of %zu): %zu pairs, pos %zu\n", s->n, idx,
                sc.pos);
    }
    return ok;
}

static void
test_scan_splits(void)
{
    stream_t s;
    size_t bad = 0, runs = 0;

    build(&s, 300);
    /* Whole, and every split into two. */
    for (size_t k = 0; k <= s.n; k++, runs++)
        bad += !feed(&s, &k, 1, s.n);
    /* One byte at a time. */
    size_t *all = malloc(s.n * sizeof(*all));
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    for (size_t k = 0; k < s.n; k++)
        all[k] = k + 1;
    bad += !feed(&s, all, s.n, s.n);
    runs++;
    free(all);
    /* A limit far above the stream changes nothing. */
    bad += !feed(&s, NULL, 0, SIZE_MAX);
    runs++;
    size_t n300 = s.n;
    unbuild(&s);

    /* Every split into three, of a shorter stream. */
    build(&s, 0);
    for (size_t i = 0; i <= s.n; i++)
        for (size_t j = i; j <= s.n; j++, runs++) {
            size_t cuts[2] = { i, j };
            bad += !feed(&s, cuts, 2, s.n);
        }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(runs, n300 + 3 + (s.n + 1) * (s.n + 2) / 2);
    unbuild(&s);
}

/*
 * The limit: the fourth pair ("BIG", 70000 bytes) ends at ends[3].  With
 * the limit one byte short, the first three are reported and the fourth's
 * lengths alone are an error, before any of its bytes arrive.
 */
static void
test_scan_limit(void)
{
    stream_t s;
    build(&s, 70000);
    size_t head = s.ends[2] + 5;        /* through BIG's two lengths */
    evf_fcgi_scan_t sc = { 0 };
    evf_fcgi_pair_t p;

    uint8_t *buf = malloc(head);
    CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
    memcpy(buf, s.b, head);
    /* One length in: not yet known to be impossible. */
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, buf, s.ends[2] + 1,
                                             s.ends[3] - 1, &p), 1);
    CU_ASSERT_EQUAL(sc.pos, s.ends[2]);
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, buf, s.ends[2] + 1,
                                         s.ends[3] - 1, &p), 0);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, buf, head, s.ends[3] - 1,
                                             &p), EVF_FCGI_EPAIR);
        CU_ASSERT_EQUAL(sc.pos, s.ends[2]);
    }
    /* Exactly at the limit: wait for the bytes, then the pair. */
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, buf, head, s.ends[3], &p), 0);
    free(buf);
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, s.b, s.ends[3], s.ends[3],
                                         &p), 1);
    CU_ASSERT_EQUAL(p.vlen, 70000);
    CU_ASSERT_EQUAL(sc.pos, s.ends[3]);
    /* The next pair's end is past a limit the caller lowered. */
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, s.b, s.n, s.ends[3], &p),
                    EVF_FCGI_EPAIR);
    unbuild(&s);

    /* 0x7fffffff-byte claims with 8 bytes in: an error at once. */
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x00, 'a' };
    memset(&sc, 0, sizeof(sc));
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, huge, 4, 1u << 20, &p), 0);
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, huge, 5, 1u << 20, &p),
                    EVF_FCGI_EPAIR);
    static const uint8_t huge_v[] = { 0x01, 0xff, 0xff, 0xff, 0xff, 'a' };
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, huge_v, 5, 1u << 20, &p),
                    EVF_FCGI_EPAIR);
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, huge_v, 5, SIZE_MAX, &p), 0);
    CU_ASSERT_EQUAL(sc.pos, 0);
    /* Bytes that already went past the limit. */
    static const uint8_t two[] = { 0x01, 0x00, 'a', 0x01, 0x00, 'b' };
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, two, 6, 3, &p), 1);
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, two, 6, 3, &p),
                    EVF_FCGI_EPAIR);
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, two, 6, 2, &p),
                    EVF_FCGI_EPAIR);
    /* Empty: nothing, and a zero-length stream is whole. */
    memset(&sc, 0, sizeof(sc));
    CU_ASSERT_EQUAL(evf_fcgi_params_next(&sc, NULL, 0, 0, &p), 0);
    CU_ASSERT_EQUAL(sc.pos, 0);
}

static CU_TestInfo tests[] = {
    { "decode 1- and 4-byte lengths", test_decode },
    { "every truncation is EPAIR", test_truncations },
    { "lengths claiming 0x7fffffff", test_huge_claims },
    { "callback's stop value", test_callback_stops },
    { "pair_size", test_pair_size },
    { "encode byte-exact", test_encode_exact },
    { "encode/decode round trip", test_round_trip },
    { "scanner: every split", test_scan_splits },
    { "scanner: impossible lengths", test_scan_limit },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("fcgi_params", tests);
}
