/*
 * middleware: running an app's middleware chain (see middleware.h).
 *
 * DESIGN.  Middleware is two hooks rather than a wrapper around a call:
 * the request layer answers from many places (the router's 404 and 405,
 * the 422 after the dependencies, raised errors from the loop or a pool
 * thread, the 500 of a handler that gave no answer, the 504 of a deadline,
 * a stream's head), and all of them write the head through one function
 * (response.c's answer), which calls evf__mw_after first.  So an after hook
 * sees every answer exactly once, while the head can still take headers,
 * and nothing is buffered.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "middleware.h"
#include "request_int.h"
#include "tls.h"

static const evf_mw_chain_t *fallback;

void
evf__mw_set_fallback(const evf_mw_chain_t *chain)
{
    fallback = chain;
}

const evf_mw_chain_t *
evf__mw_fallback(void)
{
    return fallback;
}

/* Add the policy's headers (one the answer refuses is left out). */
static void
add_headers(evf_req *r, const evf_cors_res_t *res)
{
    for (size_t i = 0; i < res->n; i++)
        evf_add_header(r, res->h[i].name, res->h[i].value);
}

bool
evf__mw_before(evf_req *r, const evf_mw_chain_t *c)
{
    r->mw = c;
    if (c->n) {
        r->mw_state = evf_alloc(r, c->n * sizeof(*r->mw_state));
        if (!r->mw_state) {
            evf__req_answer_error(r, 503, "Service Unavailable", NULL);
            return true;
        }
        memset(r->mw_state, 0, c->n * sizeof(*r->mw_state));
    }
    for (size_t i = 0; i < c->n; i++) {
        r->mw_entered = (unsigned)i + 1;
        if (c->mw[i]->before)
            c->mw[i]->before(r, &r->mw_state[i]);
        if (r->answered)
            return true;
    }
    if (!c->cors)
        return false;
    const char *origin = evf_header(r, "Origin");
    if (!origin)
        return false;
    const char *acrm = evf_header(r, "Access-Control-Request-Method");
    if (evf__cors_is_preflight(r->method, origin, acrm)) {
        evf_cors_res_t res;
        evf__cors_preflight(c->cors, origin, acrm,
                            evf_header(r, "Access-Control-Request-Headers"),
                            &res);
        add_headers(r, &res);
        evf_text(r, res.status, res.body);
        return true;
    }
    r->mw_origin = origin;
    return false;
}

void
evf__mw_after(evf_req *r, int status)
{
    const evf_mw_chain_t *c = r->mw;
    if (r->mw_after_done)
        return;
    r->mw_after_done = true;
    if (r->mw_origin) {
        evf_cors_res_t res;
        evf__cors_simple(c->cors, r->mw_origin,
                         evf_header(r, "Cookie") != NULL, &res);
        add_headers(r, &res);
    }
    for (size_t i = r->mw_entered; i-- > 0;)
        if (c->mw[i]->after)
            c->mw[i]->after(r, status, r->mw_state[i]);
}

/* ---- the request-id middleware ------------------------------------------ */

static EVF_TLS uint64_t rng[2];

/*
 * 128 random bits into out: two steps of xorshift128+, seeded once per
 * thread from the kernel.  The state is reached once for both (a thread
 * local of a shared library costs a call each time).
 */
static void
random128(uint64_t out[2])
{
    uint64_t *s = rng;
    if (!s[0] && !s[1]) {
        if (getrandom(s, 2 * sizeof(*s), GRND_NONBLOCK) !=
            (ssize_t)(2 * sizeof(*s))) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            s[0] = (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
            s[1] = (uint64_t)ts.tv_sec * 0x9e3779b97f4a7c15ULL;
        }
        s[1] |= 1;
    }
    uint64_t s0 = s[0], s1 = s[1];
    for (int i = 0; i < 2; i++) {
        uint64_t x = s0, y = s1;
        s0 = y;
        x ^= x << 23;
        s1 = x ^ y ^ (x >> 17) ^ (y >> 26);
        out[i] = s1 + y;
    }
    s[0] = s0;
    s[1] = s1;
}

/* A token a client may choose: 1 to 128 of A-Z a-z 0-9 - _ . : + / =. */
static bool
sane_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (n == 128 || !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                          (c >= 'A' && c <= 'Z') || strchr("-_.:+/=", c)))
            return false;
    }
    return n > 0;
}

/* A random (version 4) UUID in r's memory, or NULL. */
static char *
make_id(evf_req *r)
{
    static const char hex[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";
    /* Where each byte's two digits go in 8-4-4-4-12. */
    static const uint8_t at[16] = { 0, 2, 4, 6, 9, 11, 14, 16, 19, 21,
                                    24, 26, 28, 30, 32, 34 };
    uint8_t b[16];
    uint64_t w[2];
    random128(w);
    memcpy(b, w, 16);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    char *s = evf_alloc(r, 37);
    if (!s)
        return NULL;
    for (int i = 0; i < 16; i++)
        memcpy(s + at[i], hex + 2 * b[i], 2);
    s[8] = s[13] = s[18] = s[23] = '-';
    s[36] = '\0';
    return s;
}

static void
rid_before(evf_req *r, void **state)
{
    const char *in = evf_header(r, "X-Request-ID");
    const char *id = in && sane_id(in) ? in : make_id(r);
    *state = (void *)id;
    r->xrid = id;
}

static void
rid_after(evf_req *r, int status, void *state)
{
    (void)status;
    if (state)
        evf_add_header(r, "X-Request-ID", state);
}

const evf_middleware evf_request_id_middleware = {
    .name = "request-id", .before = rid_before, .after = rid_after,
};

const char *
evf_request_id(evf_req *r)
{
    return r->xrid;
}
