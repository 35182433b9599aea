/*
 * fuzz_multipart: libFuzzer harness for the multipart/form-data parser.
 *
 * The input is a boundary line then a body: up to its first '\n' (at most
 * 70 bytes) the boundary, used when evf_mp_boundary accepts it in a
 * Content-Type, else "b"; the rest is the body.  The body is parsed whole,
 * one byte at a time (up to 4 KiB), and in pieces whose sizes a PRNG
 * seeded by the input chooses, each piece an exact-size heap copy (ASan
 * sees reads past it).  Every run must give the same events and the same
 * result; events must nest (data only inside a part, an end only after a
 * begin); a part's strings must be NUL-terminated and short enough to fit
 * in the header limit; content never exceeds the body's size.  A begin
 * callback refusing the third part must stop the parse with its code.
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays tests/fuzz/corpus-multipart without libFuzzer.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"

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

/* The events of one run: a running hash and counts, plus nesting state. */
typedef struct run {
    uint64_t hash;
    size_t content;
    unsigned parts, ends;
    bool in_part;
    int refuse_at;          /* begin number answered -7; 0: never */
} run_t;

static void
mix(run_t *r, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ b[i]) * 1099511628211ULL;
}

static void
mix_str(run_t *r, const char *s)
{
    if (!s) {
        mix(r, "\xff", 1);
        return;
    }
    size_t n = strlen(s);
    CHECK(n <= EVF_MP_HEADER_MAX);
    mix(r, s, n + 1);
}

static int
on_begin(void *ud, const evf_mp_part_t *p)
{
    run_t *r = ud;
    CHECK(!r->in_part);
    CHECK(p->name != NULL);
    r->parts++;
    if (r->refuse_at && (int)r->parts == r->refuse_at)
        return -7;
    r->in_part = true;
    mix(r, "B", 1);
    mix_str(r, p->name);
    mix_str(r, p->filename);
    mix_str(r, p->content_type);
    return 0;
}

static int
on_data(void *ud, const char *p, size_t n)
{
    run_t *r = ud;
    CHECK(r->in_part);
    CHECK(n > 0);
    r->content += n;
    /* Content pieces are hashed as one stream: splits do not show. */
    mix(r, p, n);
    return 0;
}

static int
on_end(void *ud)
{
    run_t *r = ud;
    CHECK(r->in_part);
    r->in_part = false;
    r->ends++;
    mix(r, "E", 1);
    return 0;
}

static const evf_mp_cbs_t cbs = { on_begin, on_data, on_end };

static uint32_t
next_rand(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* mode 0: whole; 1: byte by byte; 2: PRNG-sized pieces. */
static int
parse(const char *bnd, const uint8_t *body, size_t len, int mode,
      uint32_t seed, run_t *r, int refuse_at)
{
    static evf_mp_t mp;
    memset(r, 0, sizeof(*r));
    r->hash = 1469598103934665603ULL;
    r->refuse_at = refuse_at;
    evf_mp_init(&mp, bnd, &cbs, r);
    size_t at = 0;
    int rc = 0;
    while (at < len && rc == 0) {
        size_t n = len - at;
        if (mode == 1)
            n = 1;
        else if (mode == 2)
            n = 1 + next_rand(&seed) % (n < 97 ? n : 97);
        uint8_t *piece = malloc(n);
        if (!piece)
            abort();
        memcpy(piece, body + at, n);
        rc = evf_mp_feed(&mp, piece, n);
        free(piece);
        at += n;
    }
    if (rc == 0)
        rc = evf_mp_finish(&mp);
    /* An error always has a message; success has none. */
    CHECK((rc == 0) == (evf_mp_error(&mp)[0] == '\0') || rc == -7);
    CHECK(r->content <= len);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char bnd[EVF_MP_BOUNDARY_MAX + 1] = "b";
    const uint8_t *nl = memchr(data, '\n', size < 71 ? size : 71);
    const uint8_t *body = data;
    size_t len = size;
    if (nl) {
        char ct[128] = "multipart/form-data; boundary=";
        size_t o = strlen(ct), n = (size_t)(nl - data);
        memcpy(ct + o, data, n);
        ct[o + n] = '\0';
        if (!memchr(data, '\0', n) &&
            evf_mp_boundary(ct, bnd, sizeof(bnd)) < 0)
            strcpy(bnd, "b");
        body = nl + 1;
        len = size - n - 1;
    }
    uint32_t seed = 0;
    for (size_t i = 0; i < size && i < 16; i++)
        seed = seed * 31 + data[i];

    run_t whole, other;
    int rc = parse(bnd, body, len, 0, 0, &whole, 0);
    CHECK(rc == 0 || rc == EVF_MP_EMALFORMED || rc == EVF_MP_EHEADERS);
    if (rc == 0)
        CHECK(!whole.in_part && whole.parts == whole.ends);
    if (len <= 4096) {
        CHECK(parse(bnd, body, len, 1, 0, &other, 0) == rc);
        CHECK(other.hash == whole.hash && other.parts == whole.parts);
    }
    CHECK(parse(bnd, body, len, 2, seed, &other, 0) == rc);
    CHECK(other.hash == whole.hash && other.content == whole.content);
    if (whole.parts >= 3) {
        CHECK(parse(bnd, body, len, 2, seed, &other, 3) == -7);
        CHECK(other.parts == 3 && other.ends == 2);
    }
    return 0;
}
