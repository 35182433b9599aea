/*
 * demo_web: the demo app's middleware and CORS policy.
 *
 * Every answer of the demo (its routes, and the router's 404, 405 and 422)
 * carries X-Request-ID (the built-in middleware: the client's own id when
 * it sends a sane one) and X-Process-Time, the milliseconds from the
 * request's start to its answer's head.  A page on http://app.example.test
 * may call the demo with fetch(), cookies included (GET and POST), and
 * read both headers.
 */
#include <stdint.h>
#include <time.h>

#include "demo.h"

/* The monotonic clock in microseconds, modulo the width of a pointer. */
static uintptr_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uintptr_t)((uint64_t)ts.tv_sec * 1000000u +
                       (uint64_t)ts.tv_nsec / 1000u);
}

/* The start is kept in the state pointer itself: no allocation per
 * request.  Unsigned differences stay right across a wrap (a 32-bit
 * pointer holds 71 minutes). */
static void
timing_before(evf_req *r, void **state)
{
    (void)r;
    *state = (void *)now_us();
}

static void
timing_after(evf_req *r, int status, void *state)
{
    (void)status;
    /* Milliseconds with three decimals, written by hand: a printf of a
     * double on every answer costs more than the rest of /hello. */
    unsigned long long n = (uintptr_t)(now_us() - (uintptr_t)state);
    char ms[32], *p = ms + sizeof(ms);
    *--p = '\0';
    for (int i = 0; i < 3; i++, n /= 10)
        *--p = (char)('0' + n % 10);
    *--p = '.';
    do {
        *--p = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    evf_add_header(r, "X-Process-Time", p);
}

static const evf_middleware timing = {
    .name = "timing", .before = timing_before, .after = timing_after,
};

const evf_middleware *const demo_middleware[] = {
    &evf_request_id_middleware,
    &timing,
    NULL
};

const evf_cors demo_cors = {
    .allow_origins = EVF_STRS("http://app.example.test"),
    .allow_methods = EVF_STRS("GET", "POST"),
    .allow_credentials = true,
    /* So that the page's script can read them. */
    .expose_headers = EVF_STRS("X-Request-ID", "X-Process-Time"),
};
