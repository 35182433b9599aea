/*
 * fuzz_request: libFuzzer harness for the request intake and inputs.
 *
 * One request per input, driven through the request layer's owner seam
 * (request.h's evf_req_owner_ops) without a socket: this harness is the
 * owner.  The PARAMS stream goes to evf__req_params in pieces, the body to
 * evf__req_stdin, then the route of fuzz_app.c runs on a private libev
 * loop: PARAMS decoding, the method and path, query parsing, the typed
 * path and query parameters, the JSON body (.json_body), the 422 builder,
 * error answers, streams and awaits.
 *
 * The input:
 *
 *   byte 0   flags: 1 the PARAMS stream is raw bytes (else text lines),
 *            2 the owner reports congestion (stream writes wait for a
 *            drain), 4 the web server aborts the request after the first
 *            turn of the loop, 8 small limits (max_params 1024, max_body
 *            64: answers 431 and 413)
 *   byte 1   PARAMS piece size - 1 (0: one piece)
 *   byte 2   body piece size - 1 (0: one piece)
 *   then     text: "NAME=VALUE" lines up to an empty line, each encoded
 *            as a FastCGI pair; raw: a 2-byte big-endian length and that
 *            many bytes of PARAMS stream as they are
 *   the rest the body (STDIN)
 *
 * Checked: each piece is an exact-size heap copy (ASan bounds it); the
 * owner's finished hook is called exactly once, holds and unholds
 * balance, the output is valid FastCGI whose response passes
 * fuzz_check_response (head, Content-Length, valid JSON); afterwards no
 * request is in flight and no coroutine is live; LeakSanitizer checks
 * what the request allocated.
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays corpus-request/ without libFuzzer (make check).
 */
#include "config.h"

#include <ev.h>
#include <fastcgi.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "buf.h"
#include "coro.h"
#include "fcgi_params.h"
#include "fcgi_writer.h"
#include "fuzz_app.h"
#include "log.h"
#include "loop.h"
#include "request.h"
#include "settings.h"
#include "stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
    F_RAW = 1, F_CONGESTED = 2, F_ABORT = 4, F_SMALL = 8
};

static struct {
    struct ev_loop *loop;
    evf_buf_t out;
    unsigned flags;
    int holds;
    unsigned finished;
    evf_req *waiting;       /* a stream write waiting for a drain */
} o;

/* ---- the owner -------------------------------------------------------- */

static evf_buf_t *
h_out(void *owner)
{
    (void)owner;
    return &o.out;
}

static int
h_flush(void *owner)
{
    (void)owner;
    return 0;
}

static bool
h_congested(void *owner)
{
    (void)owner;
    return (o.flags & F_CONGESTED) && evf_buf_used(&o.out) > 16;
}

static void
h_wait_drain(void *owner, evf_req *r)
{
    (void)owner;
    FUZZ_CHECK(o.waiting == NULL || o.waiting == r);
    o.waiting = r;
}

static void
h_hold(void *owner)
{
    (void)owner;
    o.holds++;
}

static void
h_unhold(void *owner)
{
    (void)owner;
    o.holds--;
    FUZZ_CHECK(o.holds >= 0);
}

static bool
h_gone(void *owner)
{
    (void)owner;
    return false;
}

static void
h_finished(void *owner, evf_req *r, bool answered)
{
    (void)owner;
    o.finished++;
    FUZZ_CHECK(o.finished == 1);
    if (o.waiting == r)
        o.waiting = NULL;
    if (answered)
        FUZZ_CHECK(evf_fcgi_write_end_request(&o.out, evf__req_id(r), 0,
                                              FCGI_REQUEST_COMPLETE) == 0);
}

static const struct evf_router *
h_routes(void *owner)
{
    (void)owner;
    return evf_apps_router();
}

static const evf_req_owner_ops ops = {
    .out = h_out, .flush = h_flush, .congested = h_congested,
    .wait_drain = h_wait_drain, .hold = h_hold, .unhold = h_unhold,
    .gone = h_gone, .finished = h_finished, .routes = h_routes,
};

/* ---- driving ------------------------------------------------------------- */

static void
setup(void)
{
    if (o.loop)
        return;
    o.loop = ev_loop_new(EVFLAG_AUTO);
    FUZZ_CHECK(o.loop != NULL);
    evf__loop_set(o.loop);
    evf_log_set_level(getenv("FUZZ_VERBOSE") ? EVF_LOG_LVL_DEBUG : 0);
    FUZZ_CHECK(evf_app_register(&fuzz_app, "fuzz") == 0);
}

/* Hand the server's output to the checker, as a web server reads it. */
static void
drain_out(void)
{
    if (evf_buf_used(&o.out)) {
        fuzz_out_feed(o.out.data + o.out.off, evf_buf_used(&o.out));
        evf_buf_consume(&o.out, evf_buf_used(&o.out));
    }
    if (o.waiting) {
        evf_req *r = o.waiting;
        o.waiting = NULL;
        evf__req_drained(r);
    }
}

/* Feed p[0..n) to fn in pieces of at most piece bytes, exact copies. */
static int
feed(evf_req *r, int (*fn)(evf_req *, const uint8_t *, size_t),
     const uint8_t *p, size_t n, size_t piece)
{
    while (n) {
        size_t k = piece && piece < n ? piece : n;
        uint8_t *c = malloc(k);
        FUZZ_CHECK(c != NULL);
        memcpy(c, p, k);
        int rc = fn(r, c, k);
        free(c);
        if (rc < 0)
            return rc;
        p += k;
        n -= k;
    }
    return 0;
}

/* Encode the text lines of p[0..n) as pairs; the bytes used. */
static size_t
text_params(evf_buf_t *b, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        const uint8_t *nl = memchr(p + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (p + i)) : n - i;
        const uint8_t *line = p + i;
        i += len + (nl != NULL);
        if (len == 0)
            break;
        const uint8_t *eq = memchr(line, '=', len);
        size_t nl_ = eq ? (size_t)(eq - line) : len;
        size_t vl = eq ? len - nl_ - 1 : 0;
        uint8_t *pair = malloc(evf_fcgi_pair_size(nl_, vl));
        FUZZ_CHECK(pair != NULL);
        size_t pn = evf_fcgi_pair_encode(pair, (const char *)line, nl_,
                                         eq ? (const char *)eq + 1 : "", vl);
        FUZZ_CHECK(evf_buf_append(b, pair, pn) == 0);
        free(pair);
    }
    return i;
}

/*
 * The text lines p[0..n) ask for POST /json: exactly those two lines name
 * REQUEST_METHOD and REQUEST_URI (a name is cut at '=' and at a NUL byte,
 * as the intake stores it).
 */
static bool
is_json_post(const uint8_t *p, size_t n)
{
    unsigned method = 0, uri = 0, other = 0;
    size_t i = 0;
    while (i < n) {
        const uint8_t *line = p + i, *nl = memchr(line, '\n', n - i);
        size_t len = nl ? (size_t)(nl - line) : n - i;
        size_t nlen = 0;
        while (nlen < len && line[nlen] != '=' && line[nlen] != '\0')
            nlen++;
        i += len + 1;
        if (len == 0)
            break;
        bool is_m = nlen == 14 && memcmp(line, "REQUEST_METHOD", 14) == 0;
        bool is_u = nlen == 11 && memcmp(line, "REQUEST_URI", 11) == 0;
        if (is_m && len == 19 && memcmp(line, "REQUEST_METHOD=POST", 19) == 0)
            method++;
        else if (is_u && len == 17 &&
                 memcmp(line, "REQUEST_URI=/json", 17) == 0)
            uri++;
        else if (is_m || is_u)
            other++;
    }
    return method == 1 && uri == 1 && other == 0;
}

/* Whether the body is JSON's null, with whitespace around it. */
static bool
json_is_null(const uint8_t *p, size_t len)
{
    while (len && strchr(" \t\r\n", p[0]) && p[0])
        p++, len--;
    while (len && strchr(" \t\r\n", p[len - 1]) && p[len - 1])
        len--;
    return len == 4 && memcmp(p, "null", 4) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    evf_buf_t params = { 0 };
    size_t saved_params = evf_settings.max_params;
    size_t saved_body = evf_settings.max_body;
    evf_coro_stats_t st;

    if (size < 3)
        return 0;
    setup();
    o.flags = data[0];
    o.holds = 0;
    o.finished = 0;
    o.waiting = NULL;
    size_t ppiece = data[1], bpiece = data[2];
    data += 3;
    size -= 3;
    size_t used;
    if (o.flags & F_RAW) {
        size_t l = size >= 2 ? (size_t)data[0] << 8 | data[1] : 0;
        used = size >= 2 ? 2 : size;
        if (l > size - used)
            l = size - used;
        FUZZ_CHECK(evf_buf_append(&params, data + used, l) == 0);
        used += l;
    } else {
        used = text_params(&params, data, size);
    }
    if (o.flags & F_SMALL) {
        evf_settings.max_params = 1024;
        evf_settings.max_body = 64;
    }

    /*
     * A POST /json whose body is valid JSON other than null (FastAPI finds
     * no body there: 422 "missing") must reach the handler, which answers
     * it back (200); text mode, no limits, no abort.
     */
    bool json_ok = !(o.flags & (F_RAW | F_ABORT | F_SMALL)) &&
                   is_json_post(data, used) &&
                   fuzz_valid_json(data + used, size - used) &&
                   !json_is_null(data + used, size - used);

    evf_req *r = evf__req_new(&o, &ops, 1, FCGI_KEEP_CONN);
    FUZZ_CHECK(r != NULL);
    int rc = feed(r, evf__req_params, params.data, params.len, ppiece);
    if (rc == 0)
        rc = evf__req_params(r, NULL, 0);
    if (rc == 0)
        rc = feed(r, evf__req_stdin, data + used, size - used, bpiece);
    if (rc == 0)
        rc = evf__req_stdin(r, NULL, 0);    /* runs the route */
    FUZZ_CHECK(rc == 0 || rc == EVF_EPROTO);
    if (rc < 0) {
        /* The connection would close: the request goes unanswered. */
        FUZZ_CHECK(o.finished == 0);
        evf__req_abort(r, false);
    }
    evf_buf_free(&params);

    double t0 = evf__now();
    for (unsigned turn = 0; !o.finished; turn++) {
        drain_out();
        if (turn == 1 && (o.flags & F_ABORT) && !o.finished) {
            evf__req_abort(r, true);
            break;
        }
        ev_run(o.loop, EVRUN_ONCE);
        FUZZ_CHECK(evf__now() - t0 < 10.0);     /* a hang, not a flake */
    }
    drain_out();
    FUZZ_CHECK(o.finished == 1);
    if (json_ok)
        FUZZ_CHECK(fuzz_out_status() == 200);
    /* Anything still scheduled (a cancelled timer's last turn). */
    while (evf_stats.in_flight && evf__now() - t0 < 10.0)
        ev_run(o.loop, EVRUN_NOWAIT);
    drain_out();
    FUZZ_CHECK(evf_stats.in_flight == 0);
    FUZZ_CHECK(o.holds == 0);
    evf_coro_get_stats(&st);
    FUZZ_CHECK(st.live == 0);
    fuzz_out_finish();
    evf_buf_free(&o.out);
    evf_settings.max_params = saved_params;
    evf_settings.max_body = saved_body;
    return 0;
}
