/*
 * test_fcgi_writer: suite "fcgi_writer".
 *
 * Covers the records the responder writes, compared byte for byte with
 * hand-written expectations: the header, stream records (the empty
 * terminator, padding to 8 bytes, the 65535-byte split), write_stream2
 * against write_stream of the concatenation, END_REQUEST, UNKNOWN_TYPE and
 * GET_VALUES_RESULT.  Then every allocation of every writer is failed in
 * turn: each must return -ENOMEM and leave the buffer as it was, usable
 * and leak-free.
 */
#include "config.h"

#include <errno.h>
#include <fastcgi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fcgi_writer.h"
#include "oom.h"
#include "unit.h"

/* A deterministic payload of n bytes (caller frees). */
static uint8_t *
payload(size_t n, unsigned seed)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p)
        abort();
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 7 + seed);
    return p;
}

static const uint8_t *
bytes(const evf_buf_t *b)
{
    return b->data + b->off;
}

/* Check one stream record at *at in b: header fields, content equal to
 * want[0..n), zero padding to a multiple of 8.  Advances *at. */
static void
check_record(const evf_buf_t *b, size_t *at, uint8_t type, uint16_t id,
             const uint8_t *want, size_t n)
{
    const uint8_t *r = bytes(b) + *at;
    uint8_t pad = (uint8_t)((8 - n % 8) % 8);
    uint8_t hdr[8] = {
        1, type, (uint8_t)(id >> 8), (uint8_t)id, (uint8_t)(n >> 8),
        (uint8_t)n, pad, 0,
    };
    static const uint8_t zeros[8];

    CU_ASSERT_FATAL(*at + 8 + n + pad <= evf_buf_used(b));
    CU_ASSERT_TRUE(unit_mem_eq(r, 8, hdr, 8));
    CU_ASSERT_EQUAL(memcmp(r + 8, want, n), 0);
    CU_ASSERT_TRUE(unit_mem_eq(r + 8 + n, pad, zeros, pad));
    *at += 8 + n + pad;
}

static void
test_header(void)
{
    uint8_t out[8];
    static const uint8_t want[] = { 1, 6, 0x12, 0x34, 0xab, 0xcd, 5, 0 };
    evf_fcgi_header(out, FCGI_STDOUT, 0x1234, 0xabcd, 5);
    CU_ASSERT_TRUE(unit_mem_eq(out, 8, want, 8));

    static const uint8_t want2[] = { 1, 11, 0, 0, 0xff, 0xff, 0xff, 0 };
    memset(out, 0x55, sizeof(out));     /* the reserved byte is cleared */
    evf_fcgi_header(out, FCGI_UNKNOWN_TYPE, 0, 0xffff, 0xff);
    CU_ASSERT_TRUE(unit_mem_eq(out, 8, want2, 8));
}

static void
test_stream_empty(void)
{
    evf_buf_t b = { 0 };
    static const uint8_t want[] = { 1, 6, 0, 1, 0, 0, 0, 0 };

    CU_ASSERT_EQUAL(evf_fcgi_write_stream(&b, FCGI_STDOUT, 1, NULL, 0), 0);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), evf_buf_used(&b), want, 8));
    evf_buf_free(&b);
}

static void
test_stream_small(void)
{
    evf_buf_t b = { 0 };
    static const uint8_t want[] = {
        1, 7, 0x01, 0x2c, 0, 5, 3, 0, 'h', 'e', 'l', 'l', 'o', 0, 0, 0,
    };

    CU_ASSERT_EQUAL(evf_fcgi_write_stream(&b, FCGI_STDERR, 300, "hello", 5),
                    0);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), evf_buf_used(&b), want,
                               sizeof(want)));

    /* Appends after what is there, and after a consumed prefix. */
    static const uint8_t want8[] = {
        1, 6, 0, 2, 0, 8, 0, 0, '1', '2', '3', '4', '5', '6', '7', '8',
    };
    evf_buf_consume(&b, 8);
    CU_ASSERT_EQUAL(evf_fcgi_write_stream(&b, FCGI_STDOUT, 2, "12345678", 8),
                    0);
    CU_ASSERT_EQUAL(evf_buf_used(&b), 8 + 16);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), 8, want + 8, 8));
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b) + 8, 16, want8, 16));
    evf_buf_free(&b);
}

static void
test_stream_max(void)
{
    evf_buf_t b = { 0 };
    uint8_t *p = payload(65536, 3);
    size_t at = 0;

    /* 65535 bytes: one record, one byte of padding. */
    CU_ASSERT_EQUAL(evf_fcgi_write_stream(&b, FCGI_STDOUT, 1, p, 65535), 0);
    CU_ASSERT_EQUAL(evf_buf_used(&b), 8 + 65535 + 1);
    static const uint8_t h1[] = { 1, 6, 0, 1, 0xff, 0xff, 1, 0 };
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), 8, h1, 8));
    check_record(&b, &at, FCGI_STDOUT, 1, p, 65535);
    CU_ASSERT_EQUAL(at, evf_buf_used(&b));
    evf_buf_free(&b);

    /* 65536 bytes: records of 65535 and 1, each padded. */
    at = 0;
    CU_ASSERT_EQUAL(evf_fcgi_write_stream(&b, FCGI_STDOUT, 1, p, 65536), 0);
    CU_ASSERT_EQUAL(evf_buf_used(&b), (8 + 65535 + 1) + (8 + 1 + 7));
    check_record(&b, &at, FCGI_STDOUT, 1, p, 65535);
    static const uint8_t h2[] = { 1, 6, 0, 1, 0, 1, 7, 0 };
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b) + at, 8, h2, 8));
    check_record(&b, &at, FCGI_STDOUT, 1, p + 65535, 1);
    CU_ASSERT_EQUAL(at, evf_buf_used(&b));
    evf_buf_free(&b);
    free(p);
}

/* write_stream2(head, body) == write_stream(head + body), byte for byte. */
static void
check_stream2(size_t hlen, size_t blen)
{
    uint8_t *all = payload(hlen + blen, (unsigned)(hlen * 3 + blen));
    evf_buf_t one = { 0 }, two = { 0 };

    CU_ASSERT_EQUAL(evf_fcgi_write_stream(&one, FCGI_STDOUT, 9, all,
                                          hlen + blen), 0);
    CU_ASSERT_EQUAL(evf_fcgi_write_stream2(&two, FCGI_STDOUT, 9,
                                           hlen ? all : NULL, hlen,
                                           blen ? all + hlen : NULL, blen),
                    0);
    bool same = unit_mem_eq(bytes(&two), evf_buf_used(&two), bytes(&one),
                            evf_buf_used(&one));
    CU_ASSERT_TRUE(same);
    if (!same)
        fprintf(stderr, "    (head %zu, body %zu)\n", hlen, blen);

    /* And the records carry the concatenation, in 65535-byte pieces. */
    size_t at = 0, left = hlen + blen, off = 0;
    do {
        size_t n = left < 65535 ? left : 65535;
        check_record(&two, &at, FCGI_STDOUT, 9, all + off, n);
        off += n;
        left -= n;
    } while (left);
    CU_ASSERT_EQUAL(at, evf_buf_used(&two));

    evf_buf_free(&one);
    evf_buf_free(&two);
    free(all);
}

static void
test_stream2(void)
{
    static const size_t cases[][2] = {
        { 0, 0 }, { 3, 0 }, { 0, 3 }, { 10, 20 }, { 1, 65534 },
        { 65534, 1 }, { 65535, 0 }, { 0, 65535 }, { 65535, 1 },
        { 1, 65535 }, { 65534, 2 }, { 70000, 70000 }, { 5, 131070 },
        { 131071, 3 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        check_stream2(cases[i][0], cases[i][1]);

    /* A small response is one record. */
    evf_buf_t b = { 0 };
    static const uint8_t want[] = {
        1, 6, 0, 4, 0, 12, 4, 0,
        'S', 't', 'a', 't', 'u', 's', ':', ' ', 'o', 'k', '\r', '\n',
        0, 0, 0, 0,
    };
    CU_ASSERT_EQUAL(evf_fcgi_write_stream2(&b, FCGI_STDOUT, 4, "Status: ", 8,
                                           "ok\r\n", 4), 0);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), evf_buf_used(&b), want,
                               sizeof(want)));
    evf_buf_free(&b);
}

static void
test_end_request(void)
{
    evf_buf_t b = { 0 };
    static const uint8_t want[] = {
        1, 3, 0x01, 0x2c, 0, 8, 0, 0,
        0x01, 0x02, 0x03, 0x04, FCGI_OVERLOADED, 0, 0, 0,
    };
    CU_ASSERT_EQUAL(evf_fcgi_write_end_request(&b, 300, 0x01020304,
                                               FCGI_OVERLOADED), 0);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), evf_buf_used(&b), want,
                               sizeof(want)));
    evf_buf_free(&b);
}

static void
test_unknown_type(void)
{
    evf_buf_t b = { 0 };
    static const uint8_t want[] = {
        1, 11, 0, 0, 0, 8, 0, 0, 0x42, 0, 0, 0, 0, 0, 0, 0,
    };
    CU_ASSERT_EQUAL(evf_fcgi_write_unknown_type(&b, 0x42), 0);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), evf_buf_used(&b), want,
                               sizeof(want)));
    evf_buf_free(&b);
}

static void
test_values_result(void)
{
    evf_buf_t b = { 0 };
    /* FCGI_MPXS_CONNS=1: 2 + 15 + 1 = 18 bytes, 6 of padding. */
    static const uint8_t pairs[] = {
        0x0f, 0x01, 'F', 'C', 'G', 'I', '_', 'M', 'P', 'X', 'S', '_', 'C',
        'O', 'N', 'N', 'S', '1',
    };
    static const uint8_t want[] = {
        1, 10, 0, 0, 0, 18, 6, 0,
        0x0f, 0x01, 'F', 'C', 'G', 'I', '_', 'M', 'P', 'X', 'S', '_', 'C',
        'O', 'N', 'N', 'S', '1',
        0, 0, 0, 0, 0, 0,
    };
    CU_ASSERT_EQUAL(evf_fcgi_write_values_result(&b, pairs, sizeof(pairs)),
                    0);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), evf_buf_used(&b), want,
                               sizeof(want)));
    evf_buf_free(&b);

    /* 16 bytes: no padding; nothing asked: an empty record. */
    static const uint8_t want16[] = { 1, 10, 0, 0, 0, 16, 0, 0 };
    CU_ASSERT_EQUAL(evf_fcgi_write_values_result(&b, pairs, 16), 0);
    CU_ASSERT_EQUAL(evf_buf_used(&b), 24);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), 8, want16, 8));
    CU_ASSERT_EQUAL(memcmp(bytes(&b) + 8, pairs, 16), 0);
    evf_buf_free(&b);
    static const uint8_t want0[] = { 1, 10, 0, 0, 0, 0, 0, 0 };
    CU_ASSERT_EQUAL(evf_fcgi_write_values_result(&b, pairs, 0), 0);
    CU_ASSERT_TRUE(unit_mem_eq(bytes(&b), evf_buf_used(&b), want0, 8));
    evf_buf_free(&b);
}

/* ---- out of memory ------------------------------------------------------ */

enum { W_STREAM0, W_STREAM5, W_STREAM_BIG, W_STREAM2, W_END, W_UNKNOWN,
       W_VALUES, W_COUNT };

static int
write_one(evf_buf_t *b, int which, const uint8_t *big)
{
    switch (which) {
    case W_STREAM0:
        return evf_fcgi_write_stream(b, FCGI_STDOUT, 1, NULL, 0);
    case W_STREAM5:
        return evf_fcgi_write_stream(b, FCGI_STDOUT, 1, "hello", 5);
    case W_STREAM_BIG:
        return evf_fcgi_write_stream(b, FCGI_STDOUT, 1, big, 200000);
    case W_STREAM2:
        return evf_fcgi_write_stream2(b, FCGI_STDOUT, 1, big, 70000,
                                      big + 70000, 70000);
    case W_END:
        return evf_fcgi_write_end_request(b, 1, 0, FCGI_REQUEST_COMPLETE);
    case W_UNKNOWN:
        return evf_fcgi_write_unknown_type(b, 0x42);
    default:
        return evf_fcgi_write_values_result(b, big, 18);
    }
}

/*
 * For each writer and each fill level of a 256-byte buffer (full, so that
 * the write must grow it, or with a little room, so that part of a record
 * would fit), fail the 1st, 2nd, ... allocation until the write goes
 * through.  Every failure must be -ENOMEM with the buffer untouched:
 * nothing half written.  The success must equal the same write with a
 * working allocator.
 */
static void
test_oom(void)
{
    static const size_t fills[] = { 256, 255, 250, 248, 241, 240 };
    uint8_t *big = payload(200000, 11);
    uint8_t prefill[256];

    for (size_t i = 0; i < sizeof(prefill); i++)
        prefill[i] = (uint8_t)(255 - i);
    for (int which = 0; which < W_COUNT; which++) {
        evf_buf_t ref = { 0 };
        CU_ASSERT_EQUAL(write_one(&ref, which, big), 0);

        for (size_t f = 0; f < sizeof(fills) / sizeof(fills[0]); f++) {
            size_t fill = fills[f], failures = 0;
            bool ok = false;
            for (size_t n = 1; n < 100 && !ok; n++) {
                evf_buf_t b = { 0 };
                CU_ASSERT_EQUAL_FATAL(evf_buf_reserve(&b, 256), 0);
                CU_ASSERT_EQUAL_FATAL(evf_buf_append(&b, prefill, fill), 0);
                size_t cap = b.cap;
                CU_ASSERT_EQUAL(cap, 256);

                oom_fail_at(n);
                int rc = write_one(&b, which, big);
                oom_off();

                if (rc == 0) {
                    ok = true;
                } else {
                    failures++;
                    CU_ASSERT_EQUAL(rc, -ENOMEM);
                    /* Untouched: the same bytes, nothing half written. */
                    CU_ASSERT_EQUAL(b.off, 0);
                    CU_ASSERT_EQUAL(b.len, fill);
                    CU_ASSERT_EQUAL(b.cap, cap);
                    CU_ASSERT_TRUE(unit_mem_eq(b.data, b.len, prefill,
                                               fill));
                    /* And usable. */
                    CU_ASSERT_EQUAL(write_one(&b, which, big), 0);
                }
                CU_ASSERT_TRUE(unit_mem_eq(b.data, fill, prefill, fill));
                CU_ASSERT_TRUE(unit_mem_eq(b.data + fill, b.len - fill,
                                           bytes(&ref),
                                           evf_buf_used(&ref)));
                evf_buf_free(&b);
            }
            CU_ASSERT_TRUE(ok);
            /* A full buffer must grow: at least one failure was seen. */
            if (fill == 256)
                CU_ASSERT(failures >= 1);
        }
        evf_buf_free(&ref);
    }
    free(big);
}

static CU_TestInfo tests[] = {
    { "header bytes", test_header },
    { "empty stream record", test_stream_empty },
    { "5 bytes: padded to 8", test_stream_small },
    { "65535 and 65536 bytes", test_stream_max },
    { "write_stream2 = write_stream of the concatenation", test_stream2 },
    { "END_REQUEST", test_end_request },
    { "UNKNOWN_TYPE", test_unknown_type },
    { "GET_VALUES_RESULT", test_values_result },
    { "out of memory at every allocation", test_oom },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("fcgi_writer", tests);
}
