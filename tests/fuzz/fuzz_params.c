/*
 * fuzz_params: libFuzzer harness for the incremental PARAMS scanner.
 *
 * The input is a name-value pair stream.  A small reference decoder
 * written here says which pairs it holds, where each ends, and whether
 * (and where) it is malformed.  Then evf_fcgi_params_next must agree with
 * it, fed:
 *
 *  1. the whole stream, with the stream's length as the limit;
 *  2. in pieces whose sizes come from the input's last bytes, each arrival
 *     an exact-size heap copy of everything so far (so ASan sees a read
 *     past what arrived) whose part behind the scanner is overwritten;
 *  3. the same pieces under a lower limit (also taken from the input): an
 *     error exactly when the reference finds a pair ending past it, and
 *     only once that pair's lengths are in.
 *
 * Every pair must be reported once, in order, with the reference's bytes,
 * as soon as its last byte is in and never earlier.  Alongside, the pairs
 * are stored in place the way request.c's intake does (name and value
 * NUL-terminated, cut at a NUL byte, moved towards the start of the
 * buffer): the write position must never pass the scanner's.  Finally
 * evf_fcgi_params_decode must give the same pairs and result.
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays tests/fuzz/corpus-params without libFuzzer.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_params.h"

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

#define MAX_REF 4096

/* What the reference decoder found. */
typedef struct ref {
    size_t n;                   /* pairs */
    size_t name[MAX_REF], nlen[MAX_REF], value[MAX_REF], vlen[MAX_REF];
    size_t hdr_end[MAX_REF];    /* offset after the pair's two lengths */
    size_t end[MAX_REF];        /* offset after the pair */
    bool whole;                 /* the stream ends on a pair boundary */
    size_t bad_hdr_end;         /* !whole and complete lengths: after them */
    size_t bad_claim;           /* ... and where the pair would end */
    bool bad_has_hdr;
} ref_t;

/* One length, the simple way; false when its bytes are not all there. */
static bool
ref_len(const uint8_t *p, size_t n, size_t *pos, uint64_t *out)
{
    if (*pos >= n)
        return false;
    if (p[*pos] < 0x80) {
        *out = p[(*pos)++];
        return true;
    }
    if (n - *pos < 4)
        return false;
    *out = ((uint64_t)(p[*pos] & 0x7f) << 24) | ((uint64_t)p[*pos + 1] << 16)
           | ((uint64_t)p[*pos + 2] << 8) | p[*pos + 3];
    *pos += 4;
    return true;
}

static void
ref_decode(const uint8_t *p, size_t n, ref_t *r)
{
    size_t pos = 0;
    memset(r, 0, sizeof(*r));
    while (pos < n && r->n < MAX_REF) {
        uint64_t nl, vl;
        if (!ref_len(p, n, &pos, &nl) || !ref_len(p, n, &pos, &vl))
            return;
        if ((uint64_t)pos + nl + vl > n) {
            r->bad_has_hdr = true;
            r->bad_hdr_end = pos;
            r->bad_claim = (size_t)((uint64_t)pos + nl + vl);
            return;
        }
        size_t i = r->n++;
        r->name[i] = pos;
        r->nlen[i] = (size_t)nl;
        r->value[i] = pos + (size_t)nl;
        r->vlen[i] = (size_t)vl;
        r->hdr_end[i] = pos;
        r->end[i] = pos + (size_t)(nl + vl);
        pos = r->end[i];
    }
    r->whole = pos == n;
}

/* A copy of p[0..n) in a block of exactly n bytes. */
static uint8_t *
copy(const uint8_t *p, size_t n)
{
    uint8_t *b = malloc(n ? n : 1);
    if (!b)
        abort();
    if (n)
        memcpy(b, p, n);
    return b;
}

/* Store p[0..len) at dst up to its first NUL, terminated; the end. */
static uint8_t *
store(uint8_t *dst, const uint8_t *p, size_t len)
{
    const uint8_t *nul = memchr(p, 0, len);
    if (nul)
        len = (size_t)(nul - p);
    memmove(dst, p, len);
    dst[len] = 0;
    return dst + len + 1;
}

/*
 * Feed data[0..size) in pieces of the given sizes (cycled), under limit.
 * Checks against the reference; returns the scanner's last result.
 */
static int
feed(const uint8_t *data, size_t size, const ref_t *r, const uint8_t *sizes,
     size_t nsizes, size_t limit)
{
    evf_fcgi_scan_t sc;
    memset(&sc, 0, sizeof(sc));
    size_t got = 0, k = 0, piece = 0;
    uint8_t *strings = NULL;    /* the stored strings, carried over */
    size_t wr = 0;              /* their end: the write position */
    int rc = 0;

    for (;;) {
        /* The next arrival: everything so far, in a new exact block. */
        size_t step = nsizes ? sizes[piece++ % nsizes] : size;
        if (step == 0)
            step = 1;
        k = step > size - k ? size : k + step;
        uint8_t *buf = copy(data, k);
        memset(buf, 0xaa, sc.pos);
        if (wr)
            memcpy(buf, strings, wr);
        free(strings);
        strings = NULL;

        evf_fcgi_pair_t p;
        while ((rc = evf_fcgi_params_next(&sc, buf, k, limit, &p)) == 1) {
            CHECK(got < r->n);
            CHECK(p.name == buf + r->name[got]);
            CHECK(p.nlen == r->nlen[got]);
            CHECK(p.value == buf + r->value[got]);
            CHECK(p.vlen == r->vlen[got]);
            CHECK(sc.pos == r->end[got] && sc.pos <= k);
            CHECK(r->end[got] <= limit);
            CHECK(memcmp(p.name, data + r->name[got], p.nlen) == 0);
            CHECK(memcmp(p.value, data + r->value[got], p.vlen) == 0);
            /* request.c's in-place storage stays behind the scanner. */
            uint8_t *end = store(buf + wr, p.name, p.nlen);
            end = store(end, p.value, p.vlen);
            wr = (size_t)(end - buf);
            CHECK(wr <= sc.pos);
            got++;
        }
        if (rc == 0) {
            /* Waiting: the next pair has not all arrived, and an
             * impossible one has not shown its lengths yet. */
            if (got < r->n)
                CHECK(r->end[got] > k);
            else if (r->bad_has_hdr && r->bad_claim > limit)
                CHECK(r->bad_hdr_end > k);
        } else {
            CHECK(rc == EVF_FCGI_EPAIR);
            /* Only for a pair ending past the limit, lengths in. */
            size_t claim = got < r->n ? r->end[got] : r->bad_claim;
            size_t hdr = got < r->n ? r->hdr_end[got] : r->bad_hdr_end;
            CHECK(got < r->n || r->bad_has_hdr);
            CHECK(claim > limit && hdr <= k);
            CHECK(sc.pos == (got ? r->end[got - 1] : 0));
            /* It stays an error. */
            CHECK(evf_fcgi_params_next(&sc, buf, k, limit, &p) == rc);
        }
        strings = wr ? copy(buf, wr) : NULL;
        free(buf);
        if (rc < 0 || k == size)
            break;
    }
    free(strings);
    if (rc == 0 && r->n < MAX_REF) {
        /* All arrived: every pair seen; whole iff the scanner is at the
         * end. */
        CHECK(got == r->n);
        CHECK((sc.pos == size) == r->whole);
    }
    return rc;
}

typedef struct seen {
    const ref_t *r;
    const uint8_t *buf;
    size_t n;
} seen_t;

static int
on_pair(void *ud, const uint8_t *name, size_t nlen, const uint8_t *value,
        size_t vlen)
{
    seen_t *s = ud;
    CHECK(s->n < s->r->n);
    CHECK(name == s->buf + s->r->name[s->n] && nlen == s->r->nlen[s->n]);
    CHECK(value == s->buf + s->r->value[s->n] && vlen == s->r->vlen[s->n]);
    s->n++;
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ref_t r;
    static const uint8_t none[1];

    if (!data)
        data = none;
    ref_decode(data, size, &r);
    if (r.n == MAX_REF)
        return 0;       /* too many pairs for the reference's table */

    /* 1. Whole; 2. in pieces sized by the last 4 bytes (0 means 1). */
    feed(data, size, &r, NULL, 0, size);
    size_t ns = size < 4 ? size : 4;
    feed(data, size, &r, data + size - ns, ns, size);
    /* One byte at a time for small inputs. */
    static const uint8_t one[1] = { 1 };
    if (size <= 256)
        feed(data, size, &r, one, 1, size);
    /* 3. Under a lower limit taken from the first two bytes. */
    if (size >= 2) {
        size_t limit = (size_t)(data[0] << 8 | data[1]) % (size + 1);
        feed(data, size, &r, data + size - ns, ns, limit);
    }

    /* evf_fcgi_params_decode agrees. */
    uint8_t *buf = copy(data, size);
    seen_t s = { .r = &r, .buf = buf };
    int rc = evf_fcgi_params_decode(buf, size, on_pair, &s);
    CHECK(s.n == r.n);
    CHECK(rc == (r.whole ? 0 : EVF_FCGI_EPAIR));
    free(buf);
    return 0;
}
