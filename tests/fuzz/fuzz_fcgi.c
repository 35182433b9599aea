/*
 * fuzz_fcgi: libFuzzer harness for the FastCGI input path.
 *
 * One input is used four ways:
 *
 *  1. As bytes from a peer: evf_fcgi_parse runs over it whole, split in two
 *     at a point the first byte chooses, and (small inputs) one byte at a
 *     time.  Every piece sits in an exact-size heap block, so a read past
 *     what the parser was given is an ASan error.  The runs must agree: a
 *     rolling hash of the events (content bytes included, pieces joined per
 *     record) and the final error are compared.  Each run also checks the
 *     parser's promises: consumed <= len, NONE only when all was consumed,
 *     content inside the caller's buffer, first/last/content_length
 *     consistent, errors among the documented ones, and no call after an
 *     error.
 *  2. The PARAMS stream of each request id is gathered (bounded) and, at
 *     its empty end record, decoded with evf_fcgi_params_decode from an
 *     exact-size copy; GET_VALUES records are decoded the same way.  The
 *     result is compared with a small reference decoder written here.
 *  3. As a request path: evf_router_match on a fixed router built once (the
 *     only state kept between inputs), raw and percent-decoded, with the
 *     captures run through the typed conversions.
 *  4. As response content: evf_fcgi_write_stream/_stream2 output, parsed
 *     back, must give the same bytes in records of at most 65535 bytes.
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays the corpus without libFuzzer (make check).
 */
#include "config.h"

#include <fastcgi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "convert.h"
#include "fcgi_params.h"
#include "fcgi_parser.h"
#include "fcgi_writer.h"
#include "router.h"
#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise: report and abort (libFuzzer saves the input). */
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

/* An exact-size heap copy of p[0..n), so that ASan bounds it. */
static uint8_t *
copy(const uint8_t *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    if (!c)
        abort();
    if (n)
        memcpy(c, p, n);
    else
        c[0] = 0;
    return c;
}

/* ---- rolling hash (FNV-1a, 64 bits) ------------------------------------- */

static void
h_bytes(uint64_t *h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001b3ULL;
    }
}

static void
h_u32(uint64_t *h, uint32_t v)
{
    uint8_t b[4] = {
        (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
        (uint8_t)v,
    };
    h_bytes(h, b, 4);
}

/* ---- params: reference decoder and gathering ---------------------------- */

#define PARAMS_MAX (1u << 20)   /* per stream, as a connection would bound */
#define MAX_STREAMS 8           /* request ids followed at once */
#define PAIRS_STOP 5000         /* the callback stops the decode here */

/* The pairs of buf[0..len) as the reference reads them; returns 0 or
 * EVF_FCGI_EPAIR, and the hash and count of the pairs before that. */
static int
ref_decode(const uint8_t *buf, size_t len, uint64_t *h, size_t *npairs)
{
    size_t pos = 0;

    *npairs = 0;
    while (pos < len) {
        size_t l[2];
        for (int k = 0; k < 2; k++) {
            if (pos >= len)
                return EVF_FCGI_EPAIR;
            if (buf[pos] & 0x80) {
                if (len - pos < 4)
                    return EVF_FCGI_EPAIR;
                l[k] = (size_t)(buf[pos] & 0x7f) << 24 |
                       (size_t)buf[pos + 1] << 16 |
                       (size_t)buf[pos + 2] << 8 | buf[pos + 3];
                pos += 4;
            } else {
                l[k] = buf[pos++];
            }
        }
        if (l[0] > len - pos || l[1] > len - pos - l[0])
            return EVF_FCGI_EPAIR;
        if (*npairs == PAIRS_STOP - 1) {
            ++*npairs;
            h_u32(h, (uint32_t)(pos));
            return 1;
        }
        ++*npairs;
        h_u32(h, (uint32_t)pos);
        h_u32(h, (uint32_t)l[0]);
        h_u32(h, (uint32_t)l[1]);
        pos += l[0] + l[1];
    }
    return 0;
}

typedef struct pairs_seen {
    const uint8_t *buf;
    size_t len;
    uint64_t h;
    size_t n;
} pairs_seen_t;

static int
on_pair(void *ud, const uint8_t *name, size_t nlen, const uint8_t *value,
        size_t vlen)
{
    pairs_seen_t *s = ud;

    /* Name and value lie in the buffer, value right after name. */
    CHECK(name >= s->buf && name <= s->buf + s->len);
    CHECK(nlen <= (size_t)(s->buf + s->len - name));
    CHECK(value == name + nlen);
    CHECK(vlen <= (size_t)(s->buf + s->len - value));
    /* Reading every byte lets ASan check the bounds too. */
    uint64_t sink = 0;
    h_bytes(&sink, name, nlen);
    h_bytes(&sink, value, vlen);
    if (++s->n == PAIRS_STOP) {
        h_u32(&s->h, (uint32_t)(name - s->buf));
        return 1;
    }
    h_u32(&s->h, (uint32_t)(name - s->buf));
    h_u32(&s->h, (uint32_t)nlen);
    h_u32(&s->h, (uint32_t)vlen);
    return 0;
}

/* Decode p[0..n) from an exact-size copy; compare with the reference. */
static void
check_pairs(const uint8_t *p, size_t n)
{
    uint8_t *buf = copy(p, n);
    pairs_seen_t s = { .buf = buf, .len = n, .h = 0xcbf29ce484222325ULL };
    uint64_t rh = 0xcbf29ce484222325ULL;
    size_t rn;

    int rc = evf_fcgi_params_decode(buf, n, on_pair, &s);
    int want = ref_decode(buf, n, &rh, &rn);
    CHECK(rc == want);
    CHECK(s.n == rn);
    CHECK(s.h == rh);
    free(buf);
}

/* A buffer's bytes; never NULL, even for an empty buffer. */
static const uint8_t *
bytes(const evf_buf_t *b)
{
    static const uint8_t none[1];
    return b->data ? b->data + b->off : none;
}

typedef struct pstream {
    bool used;
    uint16_t id;
    bool over;              /* went past PARAMS_MAX: dropped */
    evf_buf_t b;
} pstream_t;

typedef struct gather {
    pstream_t s[MAX_STREAMS];
    evf_buf_t rec;          /* the current GET_VALUES record's content */
} gather_t;

static pstream_t *
stream_for(gather_t *g, uint16_t id)
{
    pstream_t *free_one = NULL;
    for (size_t i = 0; i < MAX_STREAMS; i++) {
        if (g->s[i].used && g->s[i].id == id)
            return &g->s[i];
        if (!g->s[i].used && !free_one)
            free_one = &g->s[i];
    }
    if (free_one) {
        free_one->used = true;
        free_one->id = id;
        free_one->over = false;
    }
    return free_one;
}

static void
gather_content(gather_t *g, const evf_fcgi_event_t *ev)
{
    if (ev->type == FCGI_PARAMS) {
        pstream_t *s = stream_for(g, ev->request_id);
        if (!s)
            return;
        if (ev->content_length == 0) {
            /* The empty record ends the stream: decode it. */
            if (!s->over)
                check_pairs(bytes(&s->b), evf_buf_used(&s->b));
            evf_buf_free(&s->b);
            s->used = false;
            return;
        }
        if (s->over || evf_buf_used(&s->b) + ev->len > PARAMS_MAX) {
            s->over = true;
            evf_buf_free(&s->b);
            return;
        }
        if (evf_buf_append(&s->b, ev->data, ev->len) < 0)
            abort();
    } else if (ev->type == FCGI_GET_VALUES) {
        if (ev->first)
            g->rec.off = g->rec.len = 0;
        if (evf_buf_append(&g->rec, ev->data, ev->len) < 0)
            abort();
        if (ev->last)
            check_pairs(bytes(&g->rec), evf_buf_used(&g->rec));
    }
}

static void
gather_free(gather_t *g)
{
    for (size_t i = 0; i < MAX_STREAMS; i++)
        evf_buf_free(&g->s[i].b);
    evf_buf_free(&g->rec);
}

/* ---- parsing runs ------------------------------------------------------- */

typedef struct run {
    evf_fcgi_parser_t p;
    uint64_t h;             /* the normalized event sequence */
    int err;                /* 0, or the parser's error */
    size_t events;
    /* the record whose content is under way */
    bool open;
    uint8_t type;
    uint16_t id, clen;
    size_t got;
    gather_t *g;            /* gather PARAMS (one run only) */
} run_t;

static void
on_event(run_t *r, const evf_fcgi_event_t *ev, const uint8_t *buf,
         size_t len)
{
    r->events++;
    switch (ev->kind) {
    case EVF_FCGI_EV_BEGIN:
    case EVF_FCGI_EV_ABORT:
        CHECK(!r->open);
        CHECK(ev->request_id != 0);
        CHECK(ev->type == (ev->kind == EVF_FCGI_EV_BEGIN ?
                           FCGI_BEGIN_REQUEST : FCGI_ABORT_REQUEST));
        h_u32(&r->h, (uint32_t)ev->kind << 24 | ev->type);
        h_u32(&r->h, ev->request_id);
        if (ev->kind == EVF_FCGI_EV_BEGIN)
            h_u32(&r->h, (uint32_t)ev->role << 8 | ev->flags);
        break;
    case EVF_FCGI_EV_CONTENT:
        CHECK(ev->type != FCGI_BEGIN_REQUEST);
        CHECK(ev->type != FCGI_ABORT_REQUEST);
        CHECK(ev->len <= ev->content_length);
        if (ev->len) {
            CHECK(ev->data >= buf && ev->data <= buf + len);
            CHECK(ev->len <= (size_t)(buf + len - ev->data));
        }
        if (ev->first) {
            CHECK(!r->open);
            r->open = true;
            r->type = ev->type;
            r->id = ev->request_id;
            r->clen = ev->content_length;
            r->got = 0;
            h_u32(&r->h, (uint32_t)ev->kind << 24 | ev->type);
            h_u32(&r->h, ev->request_id);
            h_u32(&r->h, ev->content_length);
        } else {
            CHECK(r->open);
            CHECK(ev->type == r->type && ev->request_id == r->id);
            CHECK(ev->content_length == r->clen);
            CHECK(ev->len > 0);
        }
        CHECK(ev->len <= (size_t)(r->clen - r->got));
        h_bytes(&r->h, ev->data, ev->len);
        r->got += ev->len;
        if (r->g)
            gather_content(r->g, ev);
        if (ev->last) {
            CHECK(r->got == r->clen);
            h_u32(&r->h, 0x4c4c4c4c);
            r->open = false;
        } else {
            CHECK(r->got < r->clen);
        }
        break;
    default:
        CHECK(!"unknown event kind");
    }
}

/* Feed src[0..len) as one read.  false once the parser failed. */
static bool
feed(run_t *r, const uint8_t *src, size_t len)
{
    uint8_t *buf;
    size_t off = 0, calls = 0;

    CHECK(r->err == 0);     /* never called again after an error */
    buf = copy(src, len);
    do {
        evf_fcgi_event_t ev;
        memset(&ev, 0xa5, sizeof(ev));
        ssize_t n = evf_fcgi_parse(&r->p, buf + off, len - off, &ev);
        if (n < 0) {
            CHECK(n == EVF_FCGI_EVERSION || n == EVF_FCGI_ELENGTH ||
                  n == EVF_FCGI_EREQID);
            const char *m = evf_fcgi_strerror((int)n);
            CHECK(m && m[0]);
            r->err = (int)n;
            break;
        }
        CHECK((size_t)n <= len - off);
        if (ev.kind == EVF_FCGI_EV_NONE) {
            CHECK((size_t)n == len - off);
            break;
        }
        on_event(r, &ev, buf + off, len - off);
        off += (size_t)n;
        CHECK(++calls <= 2 * len + 8);      /* progress */
    } while (off < len);
    free(buf);
    return r->err == 0;
}

static void
run_end(run_t *r)
{
    /* A record cut short is part of the outcome too. */
    h_u32(&r->h, r->open ? (uint32_t)r->got : 0xffffffffu);
    h_u32(&r->h, (uint32_t)r->err);
}

static void
run_init(run_t *r, gather_t *g)
{
    memset(r, 0, sizeof(*r));
    r->h = 0xcbf29ce484222325ULL;
    r->g = g;
}

static void
fuzz_parser(const uint8_t *data, size_t size)
{
    run_t whole, split;
    gather_t g;

    memset(&g, 0, sizeof(g));
    run_init(&whole, &g);
    feed(&whole, data, size);
    run_end(&whole);
    gather_free(&g);

    size_t k = size ? (size_t)data[0] * size / 255 : 0;
    run_init(&split, NULL);
    if (feed(&split, data, k))
        feed(&split, data + k, size - k);
    run_end(&split);
    CHECK(split.err == whole.err);
    CHECK(split.h == whole.h);

    if (size <= 512) {
        run_t bytes;
        run_init(&bytes, NULL);
        for (size_t i = 0; i < size; i++)
            if (!feed(&bytes, data + i, 1))
                break;
        run_end(&bytes);
        CHECK(bytes.err == whole.err);
        CHECK(bytes.h == whole.h);
    }
}

/* ---- router ------------------------------------------------------------- */

#define PATH_MAX_FUZZ 512

static evf_router_t *router;

static void
router_build(void)
{
    static const char *const routes[][2] = {
        { "GET", "/" },
        { "GET", "/hello" },
        { "GET", "/items/{id:int}" },
        { "PUT", "/items/{id:int}" },
        { "GET", "/items/me" },
        { "GET", "/items/{id:int}/tags/{tag}" },
        { "GET", "/f/{x:float}" },
        { "GET", "/b/{flag:bool}" },
        { "GET", "/files/{p:path}" },
        { "POST", "/a/{x}/c" },
        { "GET", "/a/b/d" },
        { "GET", "/dir/" },
        { "GET", "/u/{a}/{b}/{c}/{d}" },
        { "GET", "/p/{x}/c/r" },
        { "GET", "/p/{rest:path}" },
    };
    char err[256];

    router = evf_router_new();
    if (!router)
        abort();
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++)
        if (evf_router_add(router, routes[i][0], routes[i][1],
                           (void *)routes[i][1], "fuzz", err,
                           sizeof(err)) < 0) {
            fprintf(stderr, "fuzz router: %s\n", err);
            abort();
        }
}

/*
 * A match must explain the path: the route's template (its data) with
 * each parameter replaced by its capture, in order and by name, gives the
 * path back.
 */
static void
check_rebuild(const char *tmpl, const evf_match_t *m, const char *path)
{
    char out[2 * PATH_MAX_FUZZ + 64];
    size_t o = 0, k = 0;

    for (const char *q = tmpl; *q;) {
        if (*q != '{') {
            CHECK(o + 1 < sizeof(out));
            out[o++] = *q++;
            continue;
        }
        const char *close = strchr(q, '}');
        size_t nl = strcspn(q + 1, ":}");
        CHECK(close && k < m->ncaps);
        const evf_capture_t *c = &m->caps[k++];
        CHECK(strlen(c->name) == nl && memcmp(c->name, q + 1, nl) == 0);
        CHECK(o + c->len < sizeof(out));
        memcpy(out + o, c->value, c->len);
        o += c->len;
        q = close + 1;
    }
    CHECK(k == m->ncaps);
    out[o] = '\0';
    CHECK(strcmp(out, path) == 0);
}

static void
match_path(const char *method, const char *path)
{
    evf_match_t m;
    size_t plen = strlen(path);

    evf_router_match(router, method, path, &m);
    CHECK(m.status == 0 || m.status == 404 || m.status == 405);
    CHECK(m.ncaps <= EVF_ROUTER_MAX_CAPS);
    if (m.status == 405)
        CHECK(m.allow[0] != '\0');
    if (m.status != 0) {
        CHECK(m.data == NULL);
        return;
    }
    CHECK(m.data != NULL);
    check_rebuild(m.data, &m, path);
    for (size_t i = 0; i < m.ncaps; i++) {
        const evf_capture_t *c = &m.caps[i];
        CHECK(c->name && c->name[0]);
        CHECK(c->value >= path && c->value <= path + plen);
        CHECK(c->len <= (size_t)(path + plen - c->value));
        CHECK(c->len > 0);
        CHECK(c->type == EVF_PATH || !memchr(c->value, '/', c->len));
        const char *msg = NULL;
        int64_t iv;
        double dv;
        bool bv;
        const char *e;
        switch (c->type) {
        case EVF_INT:
            e = evf_convert_int(c->value, c->len, &iv, &msg);
            CHECK(!e || (msg && msg[0]));
            break;
        case EVF_FLOAT:
            e = evf_convert_float(c->value, c->len, &dv, &msg);
            CHECK(!e || (msg && msg[0]));
            break;
        case EVF_BOOL:
            e = evf_convert_bool(c->value, c->len, &bv, &msg);
            CHECK(!e || (msg && msg[0]));
            break;
        default:
            break;
        }
    }
}

static void
fuzz_router(const uint8_t *data, size_t size)
{
    char raw[PATH_MAX_FUZZ + 2], dec[PATH_MAX_FUZZ + 2];

    if (!router)
        router_build();
    /* The input as a NUL-terminated path, capped; and with a '/' put in
     * front, so that most inputs reach the trie. */
    size_t n = size < PATH_MAX_FUZZ ? size : PATH_MAX_FUZZ;
    raw[0] = '/';
    memcpy(raw + 1, data, n);
    raw[n + 1] = '\0';
    match_path("GET", raw + 1);
    match_path("GET", raw);
    match_path("PUT", raw);

    size_t rlen = strlen(raw);
    char *src = (char *)copy((const uint8_t *)raw, rlen);
    size_t dlen = evf_pct_decode(dec, src, rlen, size && (data[0] & 1));
    CHECK(dlen <= rlen);
    CHECK(dec[dlen] == '\0');
    free(src);
    match_path("GET", dec);
}

/* ---- writer round trip -------------------------------------------------- */

#define WRITE_MAX (200u * 1024)

/* Parse b's records back: all type STDOUT on id, content equal to want
 * (when len > 0, in full records of 65535 but the last), padded to 8. */
static void
check_written(const evf_buf_t *b, uint16_t id, const uint8_t *want,
              size_t len)
{
    evf_fcgi_parser_t p;
    const uint8_t *s = b->data + b->off;
    size_t n = evf_buf_used(b), off = 0, got = 0, records = 0;
    bool ended = false;

    memset(&p, 0, sizeof(p));
    CHECK(n % 8 == 0);
    while (off < n) {
        evf_fcgi_event_t ev;
        ssize_t r = evf_fcgi_parse(&p, s + off, n - off, &ev);
        CHECK(r >= 0);
        off += (size_t)r;
        if (ev.kind == EVF_FCGI_EV_NONE)
            break;
        CHECK(ev.kind == EVF_FCGI_EV_CONTENT);
        CHECK(ev.type == FCGI_STDOUT && ev.request_id == id);
        CHECK(ev.first && ev.last);     /* one read: whole records */
        CHECK(!ended);
        if (ev.content_length == 0) {
            ended = true;
            continue;
        }
        records++;
        CHECK(ev.len <= len - got);
        CHECK(memcmp(ev.data, want + got, ev.len) == 0);
        got += ev.len;
        CHECK(ev.len == 65535 || got == len);
    }
    CHECK(off == n);
    CHECK(got == len);
    CHECK(len ? !ended && records == (len + 65534) / 65535 : ended);
}

static void
fuzz_writer(const uint8_t *data, size_t size)
{
    size_t n = size < WRITE_MAX ? size : WRITE_MAX;
    uint16_t id = size >= 2 ? (uint16_t)(data[0] << 8 | data[1]) : 1;
    evf_buf_t one = { 0 }, two = { 0 };

    if (evf_fcgi_write_stream(&one, FCGI_STDOUT, id, data, n) < 0)
        abort();
    check_written(&one, id, data, n);

    size_t k = size ? (size_t)data[size - 1] * n / 255 : 0;
    if (evf_fcgi_write_stream2(&two, FCGI_STDOUT, id, data, k, data + k,
                               n - k) < 0)
        abort();
    CHECK(evf_buf_used(&one) == evf_buf_used(&two));
    CHECK(memcmp(one.data + one.off, two.data + two.off,
                 evf_buf_used(&one)) == 0);
    evf_buf_free(&one);
    evf_buf_free(&two);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t empty[1];

    if (!data)
        data = empty;
    fuzz_parser(data, size);
    fuzz_router(data, size);
    fuzz_writer(data, size);
    return 0;
}
