/*
 * test_intake: the request's PARAMS intake, end to end (suite "intake").
 *
 * A real connection (fcgi_peer.h) receives a PARAMS stream cut into
 * records every possible way, and a handler echoes what it sees (CGI
 * params through evf_param, the decoded path, a query value).  Covered:
 * the stream split into two records at every byte, and one byte per
 * record, give the same params (1- and 4-byte lengths, an empty value, an
 * 800-byte value, a 200-byte name; the stream, over 1 KiB, outgrows the
 * request's own PARAMS buffer at every cut); a NUL byte inside a name or
 * value (in its first bytes, a whole word or the last word) cuts it
 * there, as C strings do; many pairs in one record or two; a pair
 * claiming to end past max_params is answered 431 (its stream dropped,
 * the connection kept, whatever the record boundaries), while a pair
 * ending exactly at the limit is served; a stream that ends inside a pair
 * closes the connection; a stream over the limit is answered 431.
 */
#include "config.h"

#include <ev.h>
#include <fastcgi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "fcgi_peer.h"
#include "log.h"
#include "loop.h"
#include "settings.h"
#include "unit.h"

/* A name-value length's encoding at p; returns its size. */
static size_t
put_len(uint8_t *p, size_t n)
{
    return (size_t)(fw_nv_putlen(p, n) - p);
}

static char long_value[801], long_name[201];

/* The params the handler reports, in its order. */
static const char *const *
names(void)
{
    static const char *n[13];
    n[0] = "REQUEST_URI";
    n[1] = "QUERY_STRING";
    n[2] = "EMPTY";
    n[3] = "LONG";
    n[4] = long_name;
    n[5] = "NULV";
    n[6] = "Z";
    n[7] = "NUL10";
    n[8] = "NUL12";
    n[9] = "W9";
    n[10] = "LAST";
    n[11] = "MISSING";
    n[12] = NULL;
    return n;
}

/* GET /echo/...: "name=value" per line, "name!" when absent. */
static void
h_echo(evf_req *r)
{
    static char out[4096];
    size_t o = 0;
    for (const char *const *n = names(); *n; n++) {
        const char *v = evf_param(r, *n);
        o += (size_t)snprintf(out + o, sizeof(out) - o, v ? "%s=%s\n"
                              : "%s!\n", *n, v ? v : "");
    }
    const char *x = evf_query_str(r, "x");
    snprintf(out + o, sizeof(out) - o, "path=%s\nx=%s\n", evf_path(r),
             x ? x : "!");
    evf_text(r, 200, out);
}

/* GET /many/...: some of test_many_pairs' params, and the path. */
static int many_last;

static void
h_many(evf_req *r)
{
    char pn[16], out[256];
    snprintf(pn, sizeof(pn), "P%d", many_last);
    const char *v[5] = { evf_param(r, "P0"), evf_param(r, "P5"),
                         evf_param(r, "P9"), evf_param(r, pn),
                         evf_param(r, "LAST") };
    snprintf(out, sizeof(out), "P0=%s P5=%s P9=%s Pn=%s LAST=%s path=%s",
             v[0] ? v[0] : "!", v[1] ? v[1] : "!", v[2] ? v[2] : "!",
             v[3] ? v[3] : "!", v[4] ? v[4] : "!", evf_path(r));
    evf_text(r, 200, out);
}

static const evf_route routes[] = {
    EVF_GET("/echo/{rest:path}", h_echo),
    EVF_GET("/many/{rest:path}", h_many),
    EVF_END
};

static const evf_app app = {
    .abi = EVF_ABI_VERSION,
    .name = "intake",
    .routes = routes,
};

/* ---- the stream --------------------------------------------------------- */

static uint8_t stream[2048];
static size_t stream_len;

static size_t
pair_raw(uint8_t *p, const void *name, size_t nl, const void *value,
         size_t vl)
{
    size_t o = put_len(p, nl);
    o += put_len(p + o, vl);
    memcpy(p + o, name, nl);
    memcpy(p + o + nl, value, vl);
    return o + nl + vl;
}

#define PAIR(n, v) pair_raw(stream + stream_len, (n), sizeof(n) - 1, (v), \
                            sizeof(v) - 1)

static void
build_stream(void)
{
    memset(long_value, 'L', 800);
    long_value[800] = '\0';
    for (size_t i = 0; i < 200; i++)
        long_name[i] = (char)('a' + i % 26);
    long_name[200] = '\0';
    stream_len = 0;
    stream_len += PAIR("REQUEST_METHOD", "GET");
    stream_len += PAIR("REQUEST_URI", "/echo/a%20b?x=1+2&y");
    stream_len += PAIR("QUERY_STRING", "x=1+2&y");
    stream_len += PAIR("EMPTY", "");
    stream_len += pair_raw(stream + stream_len, "LONG", 4, long_value, 800);
    stream_len += pair_raw(stream + stream_len, long_name, 200, "v", 1);
    stream_len += PAIR("NULV", "ab\0cd");
    stream_len += PAIR("Z\0Q", "z");
    /* NUL bytes in a full word and in the last, overlapping one. */
    stream_len += PAIR("NUL10", "0123456789\0abcdef");
    stream_len += PAIR("NUL12", "0123456789ab\0");
    stream_len += PAIR("W9", "012345678");
    stream_len += PAIR("LAST", "end");
}

static char want[4096];

static void
build_want(void)
{
    snprintf(want, sizeof(want),
             "REQUEST_URI=/echo/a%%20b?x=1+2&y\nQUERY_STRING=x=1+2&y\n"
             "EMPTY=\nLONG=%s\n%s=v\nNULV=ab\nZ=z\nNUL10=0123456789\n"
             "NUL12=0123456789ab\nW9=012345678\nLAST=end\nMISSING!\n"
             "path=/echo/a b\nx=1 2\n", long_value, long_name);
}

static void
begin(uint16_t id)
{
    uint8_t b[8] = { 0, FCGI_RESPONDER, FCGI_KEEP_CONN, 0, 0, 0, 0, 0 };
    put_record(FCGI_BEGIN_REQUEST, id, b, sizeof(b));
}

static void
end_request(uint16_t id)
{
    put_record(FCGI_PARAMS, id, NULL, 0);
    put_record(FCGI_STDIN, id, NULL, 0);
    client_flush();
}

/* ---- tests -------------------------------------------------------------- */

/* One request per split point on one connection, a few at a time. */
static void
test_every_split(void)
{
    size_t bad = 0, n = 0;

    open_conn();
    for (size_t k = 0; k <= stream_len; k++) {
        uint16_t id = (uint16_t)(1 + k % 8);
        rsp_clear(id);
        begin(id);
        if (k)
            put_record(FCGI_PARAMS, id, stream, k);
        if (k < stream_len)
            put_record(FCGI_PARAMS, id, stream + k, stream_len - k);
        end_request(id);
        CU_ASSERT_TRUE_FATAL(ended(id, 5.0));
        n++;
        if (status_of(id) != 200 || !body_is(id, want)) {
            bad++;
            fprintf(stderr, "\n    split at %zu of %zu\n", k, stream_len);
        }
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(n, stream_len + 1);

    /* One byte per record. */
    rsp_clear(9);
    begin(9);
    for (size_t i = 0; i < stream_len; i++)
        put_record(FCGI_PARAMS, 9, stream + i, 1);
    end_request(9);
    CU_ASSERT_TRUE_FATAL(ended(9, 5.0));
    CU_ASSERT_EQUAL(status_of(9), 200);
    CU_ASSERT_TRUE(body_is(9, want));
    finish_conn();
}

/*
 * Many pairs (around and past the 48 the intake tables at once; nginx
 * sends ~18), in one record or in two cut between pairs: every one is
 * found, and the first of a repeated name wins.
 */
static void
test_many_pairs(void)
{
    static const int counts[] = { 47, 48, 49, 100 };
    static uint8_t p[4096];
    char want_many[256];

    open_conn();
    for (size_t c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
        int np = counts[c];
        size_t n = 0, first = 0;
        n += pair_raw(p + n, "REQUEST_METHOD", 14, "GET", 3);
        for (int i = 0; i < np - 4; i++) {
            char name[16], value[16];
            int nl = snprintf(name, sizeof(name), "P%d", i);
            int vl = snprintf(value, sizeof(value), "v%d", i * 7);
            n += pair_raw(p + n, name, (size_t)nl, value, (size_t)vl);
            if (i == 9)
                first = n;
        }
        n += pair_raw(p + n, "P5", 2, "again", 5);
        n += pair_raw(p + n, "LAST", 4, "end", 3);
        n += pair_raw(p + n, "REQUEST_URI", 11, "/many/x%41", 10);
        snprintf(want_many, sizeof(want_many),
                 "P0=v0 P5=v35 P9=v63 Pn=v%d LAST=end path=/many/xA",
                 (np - 5) * 7);
        for (int cut = 0; cut < 2; cut++) {
            uint16_t id = (uint16_t)(1 + cut);
            rsp_clear(id);
            begin(id);
            many_last = np - 5;
            if (cut) {
                put_record(FCGI_PARAMS, id, p, first);
                put_record(FCGI_PARAMS, id, p + first, n - first);
            } else {
                put_record(FCGI_PARAMS, id, p, n);
            }
            end_request(id);
            CU_ASSERT_TRUE_FATAL(ended(id, 5.0));
            CU_ASSERT_EQUAL(status_of(id), 200);
            if (!body_is(id, want_many)) {
                CU_FAIL("many pairs");
                fprintf(stderr, "\n    %d pairs, cut %d\n", np, cut);
            }
        }
    }
    finish_conn();
}

/*
 * A pair whose lengths claim it ends past max_params: that request is
 * answered 431 as soon as the stream ends, whatever the record boundaries;
 * the connection stays.  One that ends exactly at the limit is served.
 */
static void
test_impossible_length(void)
{
    size_t saved = evf_settings.max_params;
    evf_settings.max_params = 2048;
    uint8_t p[2048];

    /* stream + a pair "PAD" filling up to the limit exactly. */
    size_t pad = 2048 - stream_len - 3 - 1 - 4;
    memcpy(p, stream, stream_len);
    size_t n = stream_len;
    p[n++] = 3;
    n += put_len(p + n, pad);
    memcpy(p + n, "PAD", 3);
    n += 3;
    memset(p + n, 'p', pad);
    n += pad;
    CU_ASSERT_EQUAL_FATAL(n, 2048);

    open_conn();
    begin(1);
    put_record(FCGI_PARAMS, 1, p, n);
    end_request(1);
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 200);
    CU_ASSERT_TRUE(body_is(1, want));

    /*
     * One byte more claimed, in records none of which crosses the limit
     * (nor do they all together): that request is answered 431, the rest
     * of its stream dropped, and the connection serves the next one.
     */
    rsp_clear(2);
    begin(2);
    uint8_t h[8];
    size_t hn = put_len(h, 4);
    hn += put_len(h + hn, 2048 - stream_len - 4 - 4 + 1);
    put_record(FCGI_PARAMS, 2, stream, stream_len);
    put_record(FCGI_PARAMS, 2, h, hn);
    put_record(FCGI_PARAMS, 2, "PAD", 3);
    put_record(FCGI_PARAMS, 2, "pppppppp", 8);
    end_request(2);
    CU_ASSERT_TRUE(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 431);
    CU_ASSERT_TRUE(body_is(2, "{\"detail\":"
                              "\"Request Header Fields Too Large\"}"));
    rsp_clear(3);
    begin(3);
    put_record(FCGI_PARAMS, 3, stream, stream_len);
    end_request(3);
    CU_ASSERT_TRUE(ended(3, 5.0));
    CU_ASSERT_EQUAL(status_of(3), 200);
    CU_ASSERT_FALSE(cl.eof);
    finish_conn();

    /* A 0x7fffffff-byte name is a valid FastCGI length: 431 too. */
    open_conn();
    begin(1);
    static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 0x00 };
    put_record(FCGI_PARAMS, 1, huge, sizeof(huge));
    end_request(1);
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 431);
    CU_ASSERT_FALSE(cl.eof);
    finish_conn();
    evf_settings.max_params = saved;
}

/* The stream ends inside a pair (or inside its lengths). */
static void
test_truncated(void)
{
    static const uint8_t cut_value[] = { 0x01, 0x05, 'A', 'x', 'y' };
    static const uint8_t cut_len[] = { 0x01, 0x80, 0x00 };
    const uint8_t *cuts[] = { cut_value, cut_len };
    size_t lens[] = { sizeof(cut_value), sizeof(cut_len) };

    for (size_t i = 0; i < 2; i++) {
        open_conn();
        begin(1);
        put_record(FCGI_PARAMS, 1, stream, stream_len);
        put_record(FCGI_PARAMS, 1, cuts[i], lens[i]);
        end_request(1);
        CU_ASSERT_TRUE(run_until(got_eof, NULL, 5.0));
        CU_ASSERT_EQUAL(status_of(1), -1);
        finish_conn();
    }
}

/* One byte over max_params: the rest is read and dropped, the answer is
 * 431. */
static void
test_over_limit(void)
{
    size_t saved = evf_settings.max_params;
    evf_settings.max_params = stream_len - 1;

    open_conn();
    begin(1);
    put_record(FCGI_PARAMS, 1, stream, stream_len);
    end_request(1);
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT_EQUAL(status_of(1), 431);
    /* The connection stays usable. */
    evf_settings.max_params = saved;
    begin(2);
    put_record(FCGI_PARAMS, 2, stream, stream_len);
    end_request(2);
    CU_ASSERT_TRUE(ended(2, 5.0));
    CU_ASSERT_EQUAL(status_of(2), 200);
    CU_ASSERT_FALSE(cl.eof);
    finish_conn();
}

/* ---- suite -------------------------------------------------------------- */

static int
init(void)
{
    if (peer_init() < 0)
        return -1;
    evf_log_set_level(EVF_LOG_LVL_ERROR);
    evf_settings.max_reqs_per_conn = 64;
    build_stream();
    build_want();
    return evf_app_register(&app, "intake") < 0 ? -1 : 0;
}

static int
cleanup(void)
{
    disconnect();
    evf_conn_close_all();
    evf_apps_free();
    evf_coro_pool_destroy();
    peer_free();
    return 0;
}

static CU_TestInfo tests[] = {
    { "every split of the PARAMS stream", test_every_split },
    { "pair claiming past the limit: 431, kept", test_impossible_length },
    { "many pairs, one record or two", test_many_pairs },
    { "stream ending inside a pair", test_truncated },
    { "over max_params: 431", test_over_limit },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_main("intake", init, cleanup, tests);
}
