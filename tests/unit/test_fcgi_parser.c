/*
 * test_fcgi_parser: suite "fcgi_parser".
 *
 * Covers the FastCGI record parser on hand-written byte streams: the
 * BEGIN_REQUEST fields, content with padding, empty records (stream ends),
 * ABORT_REQUEST, management records on id 0, multiplexed request ids, the
 * protocol errors, and a maximal record.  The central check feeds every
 * stream whole, split in two at every byte boundary, and one byte at a
 * time, and requires the same normalized event log from all three: a
 * resumable parser must not care where the socket cut its input.
 */
#include "config.h"

#include <fastcgi.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fcgi_parser.h"
#include "unit.h"

/* ---- normalized event log ----------------------------------------------- */

/*
 * One text line per BEGIN, ABORT or error; a record's content is logged
 * once, as the concatenation of its pieces between "F[" (first piece) and
 * "]L" (last piece).  Anything the parser promised and broke (a piece
 * without a first one, a wrong total, data outside the caller's buffer)
 * sets bad and logs a line starting with '!'.
 */
typedef struct elog {
    uint8_t *data;
    size_t len, cap;
    bool bad;
    bool open;              /* a record's content is being gathered */
    uint8_t type;
    uint16_t id, clen;
    size_t got;
} elog_t;

static void
lput(elog_t *l, const void *p, size_t n)
{
    if (l->len + n > l->cap) {
        size_t cap = l->cap ? l->cap : 256;
        while (cap < l->len + n)
            cap *= 2;
        uint8_t *d = realloc(l->data, cap);
        if (!d)
            abort();
        l->data = d;
        l->cap = cap;
    }
    if (n)
        memcpy(l->data + l->len, p, n);
    l->len += n;
}

static void lprintf(elog_t *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
lprintf(elog_t *l, const char *fmt, ...)
{
    char tmp[160];
    va_list ap;

    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        abort();
    lput(l, tmp, (size_t)n);
}

static void
lbad(elog_t *l, const char *what)
{
    l->bad = true;
    lprintf(l, "!%s\n", what);
}

static void
lfree(elog_t *l)
{
    free(l->data);
    memset(l, 0, sizeof(*l));
}

static bool
leq(const elog_t *a, const elog_t *b)
{
    return a->len == b->len && (a->len == 0 ||
                                memcmp(a->data, b->data, a->len) == 0);
}

/* Expected entries, as the collector below writes them. */
static void
exp_begin(elog_t *l, uint16_t id, uint16_t role, uint8_t flags)
{
    lprintf(l, "B t%u id%u role%u flags%u\n", FCGI_BEGIN_REQUEST, id, role,
            flags);
}

static void
exp_abort(elog_t *l, uint16_t id)
{
    lprintf(l, "A t%u id%u\n", FCGI_ABORT_REQUEST, id);
}

static void
exp_rec(elog_t *l, uint8_t type, uint16_t id, const void *data, size_t n)
{
    lprintf(l, "C t%u id%u cl%zu F[", type, id, n);
    lput(l, data, n);
    lprintf(l, "]L\n");
}

static void
exp_err(elog_t *l, int err)
{
    lprintf(l, "E %d\n", err);
}

/* Log one event; buf[0..len) is what the call that produced it was given. */
static void
on_event(elog_t *l, const evf_fcgi_event_t *ev, const uint8_t *buf,
         size_t len)
{
    switch (ev->kind) {
    case EVF_FCGI_EV_BEGIN:
        if (l->open)
            lbad(l, "BEGIN inside a record's content");
        exp_begin(l, ev->request_id, ev->role, ev->flags);
        break;
    case EVF_FCGI_EV_ABORT:
        if (l->open)
            lbad(l, "ABORT inside a record's content");
        exp_abort(l, ev->request_id);
        break;
    case EVF_FCGI_EV_CONTENT:
        if (ev->len && (ev->data < buf || ev->data > buf + len ||
                        ev->len > (size_t)(buf + len - ev->data)))
            lbad(l, "content outside the caller's buffer");
        if (ev->first) {
            if (l->open)
                lbad(l, "first piece while a record is open");
            l->open = true;
            l->type = ev->type;
            l->id = ev->request_id;
            l->clen = ev->content_length;
            l->got = 0;
            lprintf(l, "C t%u id%u cl%u F[", ev->type, ev->request_id,
                    ev->content_length);
        } else if (!l->open || l->type != ev->type ||
                   l->id != ev->request_id ||
                   l->clen != ev->content_length) {
            lbad(l, "piece without its first piece");
            return;
        }
        if (ev->len > (size_t)(l->clen - l->got)) {
            lbad(l, "more content than content_length");
            return;
        }
        lput(l, ev->data, ev->len);
        l->got += ev->len;
        if (ev->last) {
            if (l->got != l->clen)
                lbad(l, "last piece before content_length bytes");
            lprintf(l, "]L\n");
            l->open = false;
        } else if (l->got == l->clen) {
            lbad(l, "record complete but last not set");
        }
        break;
    default:
        lbad(l, "unknown event kind");
        break;
    }
}

/* End of input: a record left open is logged as such. */
static void
lfinish(elog_t *l)
{
    if (l->open)
        lprintf(l, "]open\n");
    l->open = false;
}

/*
 * Feed src[0..len) to p as one read, copied into an exact-size heap block
 * so that ASan sees any read past it.  Calls the parser until the piece is
 * used up, logging every event.  Returns 0, or the parser's error (logged).
 */
static int
feed(evf_fcgi_parser_t *p, const uint8_t *src, size_t len, elog_t *l)
{
    uint8_t *buf = malloc(len ? len : 1);
    size_t off = 0, calls = 0;
    int rc = 0;

    if (!buf)
        abort();
    if (len)
        memcpy(buf, src, len);
    do {
        evf_fcgi_event_t ev;
        memset(&ev, 0xa5, sizeof(ev));
        ssize_t n = evf_fcgi_parse(p, buf + off, len - off, &ev);
        if (n < 0) {
            exp_err(l, (int)n);
            rc = (int)n;
            break;
        }
        if ((size_t)n > len - off) {
            lbad(l, "consumed more than it was given");
            break;
        }
        if (ev.kind == EVF_FCGI_EV_NONE) {
            if ((size_t)n != len - off)
                lbad(l, "no event, yet input left unconsumed");
            break;
        }
        on_event(l, &ev, buf + off, len - off);
        off += (size_t)n;
        /* Events that consume nothing must not go on for ever. */
        if (++calls > 2 * len + 8) {
            lbad(l, "no progress");
            break;
        }
    } while (off < len);
    free(buf);
    return rc;
}

static int
run_whole(const uint8_t *s, size_t n, elog_t *l)
{
    evf_fcgi_parser_t p;

    memset(&p, 0, sizeof(p));
    int rc = feed(&p, s, n, l);
    lfinish(l);
    return rc;
}

static void
run_split(const uint8_t *s, size_t n, size_t k, elog_t *l)
{
    evf_fcgi_parser_t p;

    memset(&p, 0, sizeof(p));
    if (feed(&p, s, k, l) == 0)
        feed(&p, s + k, n - k, l);
    lfinish(l);
}

static void
run_bytes(const uint8_t *s, size_t n, elog_t *l)
{
    evf_fcgi_parser_t p;

    memset(&p, 0, sizeof(p));
    for (size_t i = 0; i < n; i++)
        if (feed(&p, s + i, 1, l) < 0)
            break;
    lfinish(l);
}

/* Split points worth trying: all of them, or a sample for huge streams. */
static bool
try_split(size_t k, size_t n)
{
    return n <= 4096 || k < 32 || n - k < 300 || k % 4099 == 0;
}

/*
 * THE KEY CHECK: s[0..n) whole, split in two at every byte boundary, and
 * one byte at a time all give the same log, with no broken promise; and
 * when want is given, that log is want.
 */
static void
check_stream(const uint8_t *s, size_t n, const elog_t *want)
{
    elog_t whole = { 0 };
    size_t split_bad = 0, first_bad = 0;

    run_whole(s, n, &whole);
    CU_ASSERT_FALSE(whole.bad);
    if (want) {
        bool same = leq(&whole, want);
        CU_ASSERT_TRUE(same);
        if (!same) {
            fprintf(stderr, "\n    log:\n%.*s    wanted:\n%.*s",
                    (int)whole.len, (const char *)whole.data,
                    (int)want->len, (const char *)want->data);
        }
    }
    for (size_t k = 0; k <= n; k++) {
        if (!try_split(k, n))
            continue;
        elog_t part = { 0 };
        run_split(s, n, k, &part);
        if (part.bad || !leq(&part, &whole)) {
            if (!split_bad++)
                first_bad = k;
        }
        lfree(&part);
    }
    CU_ASSERT_EQUAL(split_bad, 0);
    if (split_bad)
        fprintf(stderr, "\n    %zu split points differ, first at %zu\n",
                split_bad, first_bad);

    elog_t bytes = { 0 };
    run_bytes(s, n, &bytes);
    CU_ASSERT_FALSE(bytes.bad);
    CU_ASSERT_TRUE(leq(&bytes, &whole));
    lfree(&bytes);
    lfree(&whole);
}

/* ---- hand-written records ----------------------------------------------- */

/* BEGIN_REQUEST id 1: role RESPONDER, flags KEEP_CONN. */
static const uint8_t begin1[] = {
    1, 1, 0, 1, 0, 8, 0, 0,
    0, 1, 1, 0, 0, 0, 0, 0,
};
/* PARAMS id 1: PATH=/xy (9 bytes), 7 bytes of (non-zero) padding. */
static const uint8_t params1[] = {
    1, 4, 0, 1, 0, 9, 7, 0,
    4, 3, 'P', 'A', 'T', 'H', '/', 'x', 'y',
    0xee, 0xee, 0xee, 0xee, 0xee, 0xee, 0xee,
};
/* The empty PARAMS record that ends the stream. */
static const uint8_t params1_end[] = { 1, 4, 0, 1, 0, 0, 0, 0 };
/* STDIN id 1: "abc" + 5 padding, "de" unpadded, then the empty record. */
static const uint8_t stdin1a[] = {
    1, 5, 0, 1, 0, 3, 5, 0, 'a', 'b', 'c', 1, 2, 3, 4, 5,
};
static const uint8_t stdin1b[] = { 1, 5, 0, 1, 0, 2, 0, 0, 'd', 'e' };
static const uint8_t stdin1_end[] = { 1, 5, 0, 1, 0, 0, 0, 0 };
static const uint8_t abort1[] = { 1, 2, 0, 1, 0, 0, 0, 0 };
/* ABORT id 1 with 3 bytes of padding. */
static const uint8_t abort1_pad[] = { 1, 2, 0, 1, 0, 0, 3, 0, 9, 9, 9 };
/* GET_VALUES on id 0 asking for FCGI_MAX_CONNS: 16 bytes, no padding. */
static const uint8_t get_values[] = {
    1, 9, 0, 0, 0, 16, 0, 0,
    14, 0, 'F', 'C', 'G', 'I', '_', 'M', 'A', 'X', '_', 'C', 'O', 'N', 'N',
    'S',
};
/* An unknown management type (0x42) on id 0, 1 byte + 7 padding. */
static const uint8_t unknown_mgmt[] = {
    1, 0x42, 0, 0, 0, 1, 7, 0, 'z', 0, 0, 0, 0, 0, 0, 0,
};
/* BEGIN id 2: AUTHORIZER, no flags. */
static const uint8_t begin2[] = {
    1, 1, 0, 2, 0, 8, 0, 0,
    0, 2, 0, 0, 0, 0, 0, 0,
};
/* BEGIN id 300 (0x012c): role 0x0103 (both bytes matter), KEEP_CONN, with
 * 8 bytes of padding after the body. */
static const uint8_t begin300[] = {
    1, 1, 0x01, 0x2c, 0, 8, 8, 0,
    0x01, 0x03, 1, 0xff, 0xff, 0xff, 0xff, 0xff,
    7, 7, 7, 7, 7, 7, 7, 7,
};
static const uint8_t params2[] = {
    1, 4, 0, 2, 0, 4, 4, 0, 1, 1, 'K', 'V', 0, 0, 0, 0,
};
static const uint8_t params2_end[] = { 1, 4, 0, 2, 0, 0, 0, 0 };
static const uint8_t params300[] = {
    1, 4, 0x01, 0x2c, 0, 5, 3, 0, 1, 2, 'Q', 'r', 's', 0, 0, 0,
};
static const uint8_t params300_end[] = { 1, 4, 0x01, 0x2c, 0, 0, 0, 0 };
static const uint8_t stdin300[] = {
    1, 5, 0x01, 0x2c, 0, 6, 2, 0, 'h', 'e', 'l', 'l', 'o', '!', 0, 0,
};
static const uint8_t stdin300_end[] = { 1, 5, 0x01, 0x2c, 0, 0, 0, 0 };
static const uint8_t abort2[] = { 1, 2, 0, 2, 0, 0, 0, 0 };
/* DATA (FILTER role's stream) on id 2: just content to the parser. */
static const uint8_t data2[] = { 1, 8, 0, 2, 0, 1, 0, 0, 'D' };
/* An empty record can carry padding too. */
static const uint8_t data2_end[] = {
    1, 8, 0, 2, 0, 0, 3, 0, 0xaa, 0xaa, 0xaa,
};

/* The malformed ones. */
static const uint8_t bad_version2[] = {
    2, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0,
};
static const uint8_t bad_version0[] = { 0, 5, 0, 1, 0, 0, 0, 0 };
static const uint8_t bad_begin_len7[] = {
    1, 1, 0, 1, 0, 7, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0,
};
static const uint8_t bad_begin_len9[] = {
    1, 1, 0, 1, 0, 9, 7, 0, 0, 1, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0,
};
static const uint8_t bad_abort_len1[] = { 1, 2, 0, 1, 0, 1, 7, 0, 0 };
static const uint8_t bad_begin_id0[] = {
    1, 1, 0, 0, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0,
};
static const uint8_t bad_abort_id0[] = { 1, 2, 0, 0, 0, 0, 0, 0 };

/* A stream being put together from records. */
typedef struct stream {
    uint8_t b[1024];
    size_t n;
} stream_t;

static void
put(stream_t *s, const uint8_t *rec, size_t n)
{
    if (s->n + n > sizeof(s->b))
        abort();
    memcpy(s->b + s->n, rec, n);
    s->n += n;
}

#define PUT(s, rec) put((s), (rec), sizeof(rec))

/* The content of a record: after its header, content_length bytes. */
#define CONTENT(rec) ((rec) + 8)
#define CLEN(rec) ((size_t)((rec)[4] << 8 | (rec)[5]))
#define EXP_REC(l, rec) \
    exp_rec((l), (rec)[1], (uint16_t)((rec)[2] << 8 | (rec)[3]), \
            CONTENT(rec), CLEN(rec))

/* ---- tests -------------------------------------------------------------- */

static void
test_begin(void)
{
    evf_fcgi_parser_t p;
    evf_fcgi_event_t ev;

    memset(&p, 0, sizeof(p));
    ssize_t n = evf_fcgi_parse(&p, begin1, sizeof(begin1), &ev);
    CU_ASSERT_EQUAL(n, (ssize_t)sizeof(begin1));
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_BEGIN);
    CU_ASSERT_EQUAL(ev.type, FCGI_BEGIN_REQUEST);
    CU_ASSERT_EQUAL(ev.request_id, 1);
    CU_ASSERT_EQUAL(ev.role, FCGI_RESPONDER);
    CU_ASSERT_EQUAL(ev.flags, FCGI_KEEP_CONN);

    /* Role and id are big-endian 16-bit fields; padding is skipped. */
    memset(&p, 0, sizeof(p));
    n = evf_fcgi_parse(&p, begin300, sizeof(begin300), &ev);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_BEGIN);
    CU_ASSERT_EQUAL(ev.request_id, 300);
    CU_ASSERT_EQUAL(ev.role, 0x0103);
    CU_ASSERT_EQUAL(ev.flags, 1);
    /* The event comes as soon as the body is in; the padding follows. */
    CU_ASSERT_EQUAL(n, 16);
    n = evf_fcgi_parse(&p, begin300 + 16, 8, &ev);
    CU_ASSERT_EQUAL(n, 8);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_NONE);

    elog_t want = { 0 };
    exp_begin(&want, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    check_stream(begin1, sizeof(begin1), &want);
    lfree(&want);
}

static void
test_params_padding(void)
{
    evf_fcgi_parser_t p;
    evf_fcgi_event_t ev;

    memset(&p, 0, sizeof(p));
    ssize_t n = evf_fcgi_parse(&p, params1, sizeof(params1), &ev);
    CU_ASSERT_EQUAL(n, 8 + 9);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.type, FCGI_PARAMS);
    CU_ASSERT_EQUAL(ev.request_id, 1);
    CU_ASSERT_EQUAL(ev.len, 9);
    CU_ASSERT_EQUAL(ev.content_length, 9);
    CU_ASSERT_TRUE(ev.first);
    CU_ASSERT_TRUE(ev.last);
    CU_ASSERT_PTR_EQUAL(ev.data, params1 + 8);
    /* Padding is consumed without an event. */
    n = evf_fcgi_parse(&p, params1 + 17, sizeof(params1) - 17, &ev);
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_NONE);

    /* Split inside the content: two pieces, first then last. */
    memset(&p, 0, sizeof(p));
    n = evf_fcgi_parse(&p, params1, 12, &ev);
    CU_ASSERT_EQUAL(n, 12);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.len, 4);
    CU_ASSERT_TRUE(ev.first);
    CU_ASSERT_FALSE(ev.last);
    CU_ASSERT_EQUAL(ev.content_length, 9);
    n = evf_fcgi_parse(&p, params1 + 12, sizeof(params1) - 12, &ev);
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.len, 5);
    CU_ASSERT_FALSE(ev.first);
    CU_ASSERT_TRUE(ev.last);
    CU_ASSERT_EQUAL(memcmp(ev.data, "TH/xy", 5), 0);

    stream_t s = { .n = 0 };
    PUT(&s, begin1);
    PUT(&s, params1);
    PUT(&s, params1_end);
    elog_t want = { 0 };
    exp_begin(&want, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    EXP_REC(&want, params1);
    exp_rec(&want, FCGI_PARAMS, 1, "", 0);
    check_stream(s.b, s.n, &want);
    lfree(&want);
}

static void
test_empty_params(void)
{
    evf_fcgi_parser_t p;
    evf_fcgi_event_t ev;

    memset(&p, 0, sizeof(p));
    /* Seven header bytes: nothing yet. */
    ssize_t n = evf_fcgi_parse(&p, params1_end, 7, &ev);
    CU_ASSERT_EQUAL(n, 7);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_NONE);
    /* The eighth completes an empty record: reported at once. */
    n = evf_fcgi_parse(&p, params1_end + 7, 1, &ev);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.type, FCGI_PARAMS);
    CU_ASSERT_EQUAL(ev.request_id, 1);
    CU_ASSERT_EQUAL(ev.len, 0);
    CU_ASSERT_TRUE(ev.first);
    CU_ASSERT_TRUE(ev.last);
    CU_ASSERT_EQUAL(ev.content_length, 0);

    /* Two empty records in one read: two events. */
    stream_t s = { .n = 0 };
    PUT(&s, params1_end);
    PUT(&s, stdin1_end);
    memset(&p, 0, sizeof(p));
    n = evf_fcgi_parse(&p, s.b, s.n, &ev);
    CU_ASSERT_EQUAL(n, 8);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.type, FCGI_PARAMS);
    n = evf_fcgi_parse(&p, s.b + 8, s.n - 8, &ev);
    CU_ASSERT_EQUAL(n, 8);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.type, FCGI_STDIN);
    CU_ASSERT_EQUAL(ev.len, 0);
    CU_ASSERT_TRUE(ev.first && ev.last);

    elog_t want = { 0 };
    exp_rec(&want, FCGI_PARAMS, 1, "", 0);
    exp_rec(&want, FCGI_STDIN, 1, "", 0);
    check_stream(s.b, s.n, &want);
    lfree(&want);
}

static void
test_stdin(void)
{
    stream_t s = { .n = 0 };
    PUT(&s, begin1);
    PUT(&s, params1);
    PUT(&s, params1_end);
    PUT(&s, stdin1a);
    PUT(&s, stdin1b);
    PUT(&s, stdin1_end);

    elog_t want = { 0 };
    exp_begin(&want, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    EXP_REC(&want, params1);
    exp_rec(&want, FCGI_PARAMS, 1, "", 0);
    exp_rec(&want, FCGI_STDIN, 1, "abc", 3);
    exp_rec(&want, FCGI_STDIN, 1, "de", 2);
    exp_rec(&want, FCGI_STDIN, 1, "", 0);
    check_stream(s.b, s.n, &want);
    lfree(&want);
}

static void
test_abort(void)
{
    evf_fcgi_parser_t p;
    evf_fcgi_event_t ev;

    memset(&p, 0, sizeof(p));
    ssize_t n = evf_fcgi_parse(&p, abort1, sizeof(abort1), &ev);
    CU_ASSERT_EQUAL(n, 8);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_ABORT);
    CU_ASSERT_EQUAL(ev.type, FCGI_ABORT_REQUEST);
    CU_ASSERT_EQUAL(ev.request_id, 1);

    stream_t s = { .n = 0 };
    PUT(&s, begin1);
    PUT(&s, params1);
    PUT(&s, abort1_pad);
    PUT(&s, stdin1b);
    PUT(&s, abort1);
    elog_t want = { 0 };
    exp_begin(&want, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    EXP_REC(&want, params1);
    exp_abort(&want, 1);
    exp_rec(&want, FCGI_STDIN, 1, "de", 2);
    exp_abort(&want, 1);
    check_stream(s.b, s.n, &want);
    lfree(&want);
}

static void
test_management(void)
{
    evf_fcgi_parser_t p;
    evf_fcgi_event_t ev;

    memset(&p, 0, sizeof(p));
    ssize_t n = evf_fcgi_parse(&p, get_values, sizeof(get_values), &ev);
    CU_ASSERT_EQUAL(n, (ssize_t)sizeof(get_values));
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.type, FCGI_GET_VALUES);
    CU_ASSERT_EQUAL(ev.request_id, FCGI_NULL_REQUEST_ID);
    CU_ASSERT_EQUAL(ev.len, 16);
    CU_ASSERT_TRUE(ev.first && ev.last);
    CU_ASSERT_EQUAL(memcmp(ev.data + 2, "FCGI_MAX_CONNS", 14), 0);

    stream_t s = { .n = 0 };
    PUT(&s, get_values);
    PUT(&s, unknown_mgmt);
    PUT(&s, get_values);
    elog_t want = { 0 };
    EXP_REC(&want, get_values);
    exp_rec(&want, 0x42, 0, "z", 1);
    EXP_REC(&want, get_values);
    check_stream(s.b, s.n, &want);
    lfree(&want);
}

static void
test_interleaved(void)
{
    stream_t s = { .n = 0 };
    PUT(&s, begin1);
    PUT(&s, begin2);
    PUT(&s, params1);
    PUT(&s, begin300);
    PUT(&s, params300);
    PUT(&s, params2);
    PUT(&s, get_values);
    PUT(&s, params300_end);
    PUT(&s, params1_end);
    PUT(&s, stdin300);
    PUT(&s, data2);
    PUT(&s, data2_end);
    PUT(&s, params2_end);
    PUT(&s, stdin1a);
    PUT(&s, abort2);
    PUT(&s, stdin300_end);
    PUT(&s, stdin1_end);

    elog_t want = { 0 };
    exp_begin(&want, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    exp_begin(&want, 2, FCGI_AUTHORIZER, 0);
    EXP_REC(&want, params1);
    exp_begin(&want, 300, 0x0103, 1);
    exp_rec(&want, FCGI_PARAMS, 300, "\1\2Qrs", 5);
    exp_rec(&want, FCGI_PARAMS, 2, "\1\1KV", 4);
    EXP_REC(&want, get_values);
    exp_rec(&want, FCGI_PARAMS, 300, "", 0);
    exp_rec(&want, FCGI_PARAMS, 1, "", 0);
    exp_rec(&want, FCGI_STDIN, 300, "hello!", 6);
    exp_rec(&want, FCGI_DATA, 2, "D", 1);
    exp_rec(&want, FCGI_DATA, 2, "", 0);
    exp_rec(&want, FCGI_PARAMS, 2, "", 0);
    exp_rec(&want, FCGI_STDIN, 1, "abc", 3);
    exp_abort(&want, 2);
    exp_rec(&want, FCGI_STDIN, 300, "", 0);
    exp_rec(&want, FCGI_STDIN, 1, "", 0);
    check_stream(s.b, s.n, &want);
    lfree(&want);
}

/* A stream cut short: the open record is reported as far as it got, the
 * same way however it was split. */
static void
test_truncated(void)
{
    stream_t s = { .n = 0 };
    PUT(&s, begin1);
    PUT(&s, stdin300);
    s.n -= 4;       /* "hell" of "hello!" arrived, the rest did not */

    elog_t want = { 0 };
    exp_begin(&want, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    lprintf(&want, "C t5 id300 cl6 F[hell]open\n");
    check_stream(s.b, s.n, &want);
    lfree(&want);

    /* Every prefix of a valid stream parses without error. */
    stream_t t = { .n = 0 };
    PUT(&t, begin300);
    PUT(&t, params300);
    PUT(&t, abort1_pad);
    PUT(&t, get_values);
    for (size_t k = 0; k <= t.n; k++) {
        elog_t l = { 0 };
        CU_ASSERT_EQUAL(run_whole(t.b, k, &l), 0);
        CU_ASSERT_FALSE(l.bad);
        lfree(&l);
    }
}

/* Input used up mid-header: the event is NONE and everything is taken. */
static void
test_none_when_used_up(void)
{
    evf_fcgi_parser_t p;
    evf_fcgi_event_t ev;

    memset(&p, 0, sizeof(p));
    ssize_t n = evf_fcgi_parse(&p, begin1, 0, &ev);
    CU_ASSERT_EQUAL(n, 0);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_NONE);
    n = evf_fcgi_parse(&p, begin1, 5, &ev);
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_NONE);
    n = evf_fcgi_parse(&p, begin1 + 5, 6, &ev);       /* mid-body */
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_NONE);
    n = evf_fcgi_parse(&p, begin1 + 11, 5, &ev);
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_BEGIN);
    CU_ASSERT_EQUAL(ev.request_id, 1);
    CU_ASSERT_EQUAL(ev.role, FCGI_RESPONDER);
    CU_ASSERT_EQUAL(ev.flags, FCGI_KEEP_CONN);
}

static void
test_zero_filled(void)
{
    evf_fcgi_parser_t *p = calloc(1, sizeof(*p));
    evf_fcgi_event_t ev;

    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    ssize_t n = evf_fcgi_parse(p, stdin1b, sizeof(stdin1b), &ev);
    CU_ASSERT_EQUAL(n, (ssize_t)sizeof(stdin1b));
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.type, FCGI_STDIN);
    CU_ASSERT_EQUAL(ev.len, 2);
    CU_ASSERT_TRUE(ev.first && ev.last);
    n = evf_fcgi_parse(p, begin1, sizeof(begin1), &ev);
    CU_ASSERT_EQUAL(n, (ssize_t)sizeof(begin1));
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_BEGIN);
    free(p);
}

/* One malformed record after a valid one: the valid one's events, then
 * the error, from the header alone, however the bytes arrive. */
static void
check_error(const uint8_t *bad, size_t n, int err)
{
    stream_t s = { .n = 0 };
    PUT(&s, begin1);
    put(&s, bad, n);
    elog_t want = { 0 };
    exp_begin(&want, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    exp_err(&want, err);
    check_stream(s.b, s.n, &want);
    lfree(&want);

    evf_fcgi_parser_t p;
    evf_fcgi_event_t ev;
    memset(&p, 0, sizeof(p));
    CU_ASSERT_EQUAL(evf_fcgi_parse(&p, bad, 7, &ev), 7);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_NONE);
    CU_ASSERT_EQUAL(evf_fcgi_parse(&p, bad + 7, 1, &ev), err);
}

static void
test_errors(void)
{
    check_error(bad_version2, sizeof(bad_version2), EVF_FCGI_EVERSION);
    check_error(bad_version0, sizeof(bad_version0), EVF_FCGI_EVERSION);
    check_error(bad_begin_len7, sizeof(bad_begin_len7), EVF_FCGI_ELENGTH);
    check_error(bad_begin_len9, sizeof(bad_begin_len9), EVF_FCGI_ELENGTH);
    check_error(bad_abort_len1, sizeof(bad_abort_len1), EVF_FCGI_ELENGTH);
    check_error(bad_begin_id0, sizeof(bad_begin_id0), EVF_FCGI_EREQID);
    check_error(bad_abort_id0, sizeof(bad_abort_id0), EVF_FCGI_EREQID);
}

/* The largest record: 65535 content bytes and 255 padding bytes. */
static void
test_max_record(void)
{
    size_t clen = 65535, n = 8 + clen + 255 + sizeof(stdin1_end);
    uint8_t *s = malloc(n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    static const uint8_t hdr[8] = { 1, 5, 0, 7, 0xff, 0xff, 0xff, 0 };
    static const uint8_t end7[8] = { 1, 5, 0, 7, 0, 0, 0, 0 };
    memcpy(s, hdr, 8);
    for (size_t i = 0; i < clen; i++)
        s[8 + i] = (uint8_t)(i * 31 + 7);
    memset(s + 8 + clen, 0xee, 255);
    memcpy(s + 8 + clen + 255, end7, 8);

    evf_fcgi_parser_t p;
    evf_fcgi_event_t ev;
    memset(&p, 0, sizeof(p));
    ssize_t r = evf_fcgi_parse(&p, s, n, &ev);
    CU_ASSERT_EQUAL(r, (ssize_t)(8 + clen));
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.request_id, 7);
    CU_ASSERT_EQUAL(ev.len, clen);
    CU_ASSERT_EQUAL(ev.content_length, 65535);
    CU_ASSERT_TRUE(ev.first && ev.last);
    CU_ASSERT_PTR_EQUAL(ev.data, s + 8);
    /* Then the padding goes and the next record's end comes. */
    r = evf_fcgi_parse(&p, s + 8 + clen, n - 8 - clen, &ev);
    CU_ASSERT_EQUAL(r, 255 + 8);
    CU_ASSERT_EQUAL(ev.kind, EVF_FCGI_EV_CONTENT);
    CU_ASSERT_EQUAL(ev.len, 0);
    CU_ASSERT_EQUAL(ev.content_length, 0);

    elog_t want = { 0 };
    exp_rec(&want, FCGI_STDIN, 7, s + 8, clen);
    exp_rec(&want, FCGI_STDIN, 7, "", 0);
    check_stream(s, n, &want);
    lfree(&want);
    free(s);
}

static void
test_strerror(void)
{
    static const int errs[] = {
        EVF_FCGI_EVERSION, EVF_FCGI_ELENGTH, EVF_FCGI_EREQID,
    };
    for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
        const char *m = evf_fcgi_strerror(errs[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(m);
        CU_ASSERT(m[0] != '\0');
        for (size_t j = 0; j < i; j++)
            CU_ASSERT_STRING_NOT_EQUAL(m, evf_fcgi_strerror(errs[j]));
    }
    const char *m = evf_fcgi_strerror(-1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    CU_ASSERT(m[0] != '\0');
}

static CU_TestInfo tests[] = {
    { "BEGIN_REQUEST fields", test_begin },
    { "PARAMS content and padding", test_params_padding },
    { "empty record ends a stream", test_empty_params },
    { "STDIN chunks", test_stdin },
    { "ABORT_REQUEST", test_abort },
    { "management records on id 0", test_management },
    { "interleaved ids 1, 2, 300", test_interleaved },
    { "truncated streams", test_truncated },
    { "NONE when input is used up", test_none_when_used_up },
    { "zero-filled parser", test_zero_filled },
    { "protocol errors", test_errors },
    { "65535-byte record + 255 padding", test_max_record },
    { "strerror", test_strerror },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("fcgi_parser", tests);
}
