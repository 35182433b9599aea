/*
 * test_coro: suite "coro".
 *
 * Covers coroutines and their stack pool: resume/yield ordering, the
 * extra bytes (zeroed, 16-byte aligned, untouched by the coroutine's own
 * stack), a finished coroutine's resume returning false, evf_coro_self(),
 * freeing a suspended coroutine and reusing its slot, 10000 coroutines at
 * once with consistent pool statistics before and after freeing them all,
 * about 16 KiB of stack used by recursion inside a coroutine, the stack
 * size setting, warm stacks handed out first and trimmed when idle, slots
 * taken ahead of their coroutines (the owner's bytes and a suspended
 * coroutine on one page), and evf_coro_pool_destroy() with nothing live.  Assertions
 * are made on the loop's stack, from what the coroutines recorded.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "coro.h"
#include "unit.h"

/* ---- ping-pong ---------------------------------------------------------- */

typedef struct pingpong {
    int counter;
    char order[16];
    size_t n;
    evf_coro_t *self_seen[3];
} pingpong_t;

static void
step(pingpong_t *pp, char c)
{
    pp->counter++;
    if (pp->n < sizeof(pp->order) - 1)
        pp->order[pp->n++] = c;
}

static void
pingpong_fn(evf_coro_t *c, void *arg)
{
    pingpong_t *pp = arg;

    pp->self_seen[0] = evf_coro_self();
    step(pp, 'a');
    evf_coro_yield(c);
    pp->self_seen[1] = evf_coro_self();
    step(pp, 'c');
    evf_coro_yield(c);
    pp->self_seen[2] = evf_coro_self();
    step(pp, 'e');
}

static void
test_pingpong(void)
{
    pingpong_t pp = { 0 };

    CU_ASSERT_PTR_NULL(evf_coro_self());
    evf_coro_t *c = evf_coro_new(pingpong_fn, &pp, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    /* Created, not yet run. */
    CU_ASSERT_EQUAL(pp.counter, 0);

    CU_ASSERT_TRUE(evf_coro_resume(c));
    CU_ASSERT_EQUAL(pp.counter, 1);
    CU_ASSERT_PTR_NULL(evf_coro_self());
    step(&pp, 'b');
    CU_ASSERT_TRUE(evf_coro_resume(c));
    CU_ASSERT_EQUAL(pp.counter, 3);
    step(&pp, 'd');
    CU_ASSERT_FALSE(evf_coro_resume(c));      /* it returned */
    CU_ASSERT_EQUAL(pp.counter, 5);
    CU_ASSERT_STRING_EQUAL(pp.order, "abcde");
    CU_ASSERT_PTR_NULL(evf_coro_self());
    for (int i = 0; i < 3; i++)
        CU_ASSERT_PTR_EQUAL(pp.self_seen[i], c);
    evf_coro_free(c);
    evf_coro_free(NULL);                      /* a no-op */
}

/* A coroutine that returns at once: its only resume gives false. */
static void
noop_fn(evf_coro_t *c, void *arg)
{
    (void)c;
    *(int *)arg += 1;
}

static void
test_finished(void)
{
    int ran = 0;
    evf_coro_t *c = evf_coro_new(noop_fn, &ran, 0, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_FALSE(evf_coro_resume(c));
    CU_ASSERT_EQUAL(ran, 1);
    evf_coro_free(c);
}

/* ---- extra bytes -------------------------------------------------------- */

/* Recursion that uses about depth KiB of stack; returns a checksum. */
static unsigned
deep(int depth, unsigned seed)
{
    volatile uint8_t frame[1024];

    for (size_t i = 0; i < sizeof(frame); i++)
        frame[i] = (uint8_t)(seed + i);
    unsigned sum = seed;
    if (depth > 1)
        sum += deep(depth - 1, seed * 31 + 7);
    for (size_t i = 0; i < sizeof(frame); i += 61)
        sum = sum * 33 + frame[i];
    return sum;
}

typedef struct deep_arg {
    int depth;
    unsigned result;
    bool yield_first;
} deep_arg_t;

static void
deep_fn(evf_coro_t *c, void *arg)
{
    deep_arg_t *d = arg;

    if (d->yield_first)
        evf_coro_yield(c);
    d->result = deep(d->depth, 1);
}

static bool
all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void
test_extra(void)
{
    static const size_t sizes[] = { 1, 15, 16, 17, 100, 4096 };

    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i];
        void *extra = NULL;
        deep_arg_t d = { .depth = 8 };
        evf_coro_t *c = evf_coro_new(deep_fn, &d, n, &extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        CU_ASSERT_PTR_NOT_NULL_FATAL(extra);
        CU_ASSERT_EQUAL((uintptr_t)extra % 16, 0);
        CU_ASSERT_PTR_EQUAL(evf_coro_extra(c), extra);
        CU_ASSERT_TRUE(all_zero(extra, n));
        /* The coroutine's own stack use leaves them alone. */
        memset(extra, 0x5a, n);
        CU_ASSERT_FALSE(evf_coro_resume(c));
        CU_ASSERT_EQUAL(d.result, deep(8, 1));
        bool intact = true;
        for (size_t k = 0; k < n; k++)
            if (((uint8_t *)extra)[k] != 0x5a)
                intact = false;
        CU_ASSERT_TRUE(intact);
        evf_coro_free(c);

        /* A reused slot hands them out zeroed again. */
        c = evf_coro_new(deep_fn, &d, n, &extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        CU_ASSERT_TRUE(all_zero(extra, n));
        evf_coro_free(c);
    }
}

/* ---- freeing suspended coroutines --------------------------------------- */

typedef struct hold {
    int stage;
} hold_t;

/* Yields from inside a frame with a local array (ASan redzones), so the
 * slot is given back with a live frame on it. */
static void
hold_inner(evf_coro_t *c, hold_t *h)
{
    volatile char buf[512];
    buf[0] = 1;
    buf[511] = 2;
    h->stage = 1;
    evf_coro_yield(c);
    h->stage = 2 + buf[0] + buf[511];   /* never runs */
}

static void
hold_fn(evf_coro_t *c, void *arg)
{
    hold_inner(c, arg);
}

static void
test_free_suspended(void)
{
    evf_coro_stats_t st0, st1, st2;
    hold_t h = { 0 };

    evf_coro_get_stats(&st0);
    evf_coro_t *c = evf_coro_new(hold_fn, &h, 64, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(evf_coro_resume(c));
    CU_ASSERT_EQUAL(h.stage, 1);
    evf_coro_get_stats(&st1);
    CU_ASSERT_EQUAL(st1.live, st0.live + 1);
    evf_coro_free(c);
    CU_ASSERT_EQUAL(h.stage, 1);        /* nothing on its stack ran */
    evf_coro_get_stats(&st2);
    CU_ASSERT_EQUAL(st2.live, st0.live);
    CU_ASSERT_EQUAL(st2.cached, st1.cached + 1);

    /* The slot is reused (no new mapping) and works for deep use. */
    deep_arg_t d = { .depth = 16 };
    void *extra;
    c = evf_coro_new(deep_fn, &d, 64, &extra);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(all_zero(extra, 64));
    evf_coro_get_stats(&st1);
    CU_ASSERT_EQUAL(st1.slots, st2.slots);
    CU_ASSERT_EQUAL(st1.mappings, st2.mappings);
    CU_ASSERT_FALSE(evf_coro_resume(c));
    CU_ASSERT_EQUAL(d.result, deep(16, 1));
    evf_coro_free(c);
}

/* ---- many at once ------------------------------------------------------- */

#define MANY 10000

static bool
stats_sane(const evf_coro_stats_t *st)
{
    return st->live + st->cached == st->slots &&
           st->mappings <= st->slots / 64 + 1 &&
           (st->slots == 0 || st->mappings >= 1);
}

static void
test_many(void)
{
    evf_coro_t **cs = calloc(MANY, sizeof(*cs));
    hold_t *hs = calloc(MANY, sizeof(*hs));
    evf_coro_stats_t st0, st;
    size_t made = 0, suspended = 0;

    CU_ASSERT_PTR_NOT_NULL_FATAL(cs);
    CU_ASSERT_PTR_NOT_NULL_FATAL(hs);
    evf_coro_get_stats(&st0);
    CU_ASSERT_TRUE(stats_sane(&st0));
    for (size_t i = 0; i < MANY; i++) {
        cs[i] = evf_coro_new(hold_fn, &hs[i], 32, NULL);
        if (!cs[i])
            break;
        made++;
        if (evf_coro_resume(cs[i]) && hs[i].stage == 1)
            suspended++;
    }
    CU_ASSERT_EQUAL_FATAL(made, MANY);
    CU_ASSERT_EQUAL(suspended, MANY);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, st0.live + MANY);
    CU_ASSERT(st.slots >= st.live);
    CU_ASSERT_TRUE(stats_sane(&st));
    /* Slots come 64 to a mapping: a few hundred, not thousands. */
    CU_ASSERT(st.mappings <= MANY / 64 + 2);
    size_t slots = st.slots, mappings = st.mappings;

    for (size_t i = 0; i < MANY; i++)
        evf_coro_free(cs[i]);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, st0.live);
    CU_ASSERT_EQUAL(st.slots, slots);
    CU_ASSERT_EQUAL(st.cached, slots - st0.live);
    CU_ASSERT_TRUE(stats_sane(&st));

    /* Again: the pool has the slots, nothing new is mapped. */
    made = 0;
    for (size_t i = 0; i < MANY; i++) {
        cs[i] = evf_coro_new(noop_fn, &hs[i].stage, 0, NULL);
        if (cs[i])
            made++;
    }
    CU_ASSERT_EQUAL_FATAL(made, MANY);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.slots, slots);
    CU_ASSERT_EQUAL(st.mappings, mappings);
    CU_ASSERT_TRUE(stats_sane(&st));
    /* Free in another order than they were made. */
    for (size_t i = 0; i < MANY; i += 2)
        evf_coro_free(cs[i]);
    for (size_t i = 1; i < MANY; i += 2)
        evf_coro_free(cs[i]);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, st0.live);
    CU_ASSERT_TRUE(stats_sane(&st));
    free(cs);
    free(hs);
}

/* ---- deep stacks -------------------------------------------------------- */

static void
test_deep_recursion(void)
{
    /* About 16 KiB: 16 frames of 1 KiB and change. */
    deep_arg_t d = { .depth = 16, .yield_first = true };
    evf_coro_t *c = evf_coro_new(deep_fn, &d, 0, NULL);

    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_TRUE(evf_coro_resume(c));
    CU_ASSERT_FALSE(evf_coro_resume(c));
    CU_ASSERT_EQUAL(d.result, deep(16, 1));
    evf_coro_free(c);
}

static void
test_stack_size(void)
{
    size_t old = evf_coro_stack_size();
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);

    CU_ASSERT(old >= 16384);
    evf_coro_set_stack_size(1000);
    CU_ASSERT(evf_coro_stack_size() >= 16384);
    CU_ASSERT(evf_coro_stack_size() < 16384 + ps);
    evf_coro_set_stack_size(65537);
    CU_ASSERT(evf_coro_stack_size() > 65536);
    CU_ASSERT_EQUAL(evf_coro_stack_size() % ps, 0);
    CU_ASSERT(evf_coro_stack_size() <= 65536 + ps);
    evf_coro_set_stack_size(old);
    CU_ASSERT_EQUAL(evf_coro_stack_size(), old);
}

/* ---- warm stacks and trimming ------------------------------------------ */

#define TRIM_N 300

/* Records where its stack is, then yields once. */
static void
where_fn(evf_coro_t *c, void *arg)
{
    volatile char mark = 1;
    *(void *volatile *)arg = (void *)&mark;
    evf_coro_yield(c);
    (void)mark;
}

/* How many of the pages holding the addresses in at[] are resident. */
static size_t
resident(void *const *at, size_t n)
{
    size_t ps = (size_t)sysconf(_SC_PAGESIZE), count = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char v = 0;
        void *page = (void *)((uintptr_t)at[i] & ~(uintptr_t)(ps - 1));
        CU_ASSERT_EQUAL_FATAL(mincore(page, ps, &v), 0);
        count += v & 1;
    }
    return count;
}

/*
 * A freed stack is the next one handed out (warm, LIFO); a trim keeps
 * what the last peak needs, the next trim (no load since) gives back all
 * but 64 stacks' pages, the ones freed first.
 */
static void
test_warm_and_trim(void)
{
    static evf_coro_t *cs[TRIM_N];
    static void *at[TRIM_N];
    evf_coro_stats_t st;

    evf_coro_trim();
    evf_coro_trim();        /* earlier tests' peaks forgotten */
    for (int i = 0; i < TRIM_N; i++) {
        cs[i] = evf_coro_new(where_fn, &at[i], 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cs[i]);
        CU_ASSERT_TRUE(evf_coro_resume(cs[i]));
    }
    for (int i = 0; i < TRIM_N; i++) {
        CU_ASSERT_FALSE(evf_coro_resume(cs[i]));
        evf_coro_free(cs[i]);
    }
    CU_ASSERT_EQUAL(resident(at, TRIM_N), TRIM_N);

    /* LIFO: the stack freed last comes back first, at the same place. */
    void *again = NULL;
    evf_coro_t *c = evf_coro_new(where_fn, &again, 0, NULL);
    CU_ASSERT_TRUE(evf_coro_resume(c));
    CU_ASSERT_PTR_EQUAL(again, at[TRIM_N - 1]);
    CU_ASSERT_FALSE(evf_coro_resume(c));
    evf_coro_free(c);

    /* The peak since the last trim was TRIM_N: nothing is given back. */
    CU_ASSERT_EQUAL(evf_coro_trim(), 0);
    CU_ASSERT_EQUAL(resident(at, TRIM_N), TRIM_N);

    /* No load since: all but WARM_MIN (64) free stacks are released. */
    evf_coro_get_stats(&st);
    size_t cached = st.cached;
    CU_ASSERT(evf_coro_trim() > 0);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.cached, cached);     /* still on the free list */
    CU_ASSERT_EQUAL(st.warm, 64);
    CU_ASSERT(resident(at, TRIM_N) <= 64);
    CU_ASSERT(resident(&at[TRIM_N - 64], 64) == 64);  /* freed last */

    /* Cold stacks still serve: their pages fault in again. */
    for (int i = 0; i < TRIM_N; i++) {
        cs[i] = evf_coro_new(where_fn, &at[i], 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cs[i]);
        CU_ASSERT_TRUE(evf_coro_resume(cs[i]));
    }
    for (int i = 0; i < TRIM_N; i++) {
        CU_ASSERT_FALSE(evf_coro_resume(cs[i]));
        evf_coro_free(cs[i]);
    }
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
}

/* ---- taken slots ------------------------------------------------------- */

#define TAKE_BYTES 2048
#define TAKE_N 64

/*
 * A slot taken with bytes at its top, then a coroutine in it: the bytes
 * are the owner's (the coroutine's stack ends below them, its frames never
 * write them), the coroutine suspended in a shallow call and the owner's
 * bytes share one resident page, freeing the coroutine leaves the slot
 * taken and live, and a second coroutine can follow in the same slot.
 * Fresh regions (the pool destroyed first) so that no page is warm.
 */
static void
test_taken_slot(void)
{
    static evf_coro_slot_t *slot[TAKE_N];
    static unsigned char *mine[TAKE_N];
    static evf_coro_t *cs[TAKE_N];
    static void *at[TAKE_N];
    size_t ps = (size_t)sysconf(_SC_PAGESIZE);
    evf_coro_stats_t st;

    evf_coro_pool_destroy();
    for (int i = 0; i < TAKE_N; i++) {
        mine[i] = evf_coro_slot_take(TAKE_BYTES, &slot[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(mine[i]);
        CU_ASSERT_EQUAL((uintptr_t)mine[i] % 16, 0);
        memset(mine[i], 0xa5, TAKE_BYTES);
    }
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, TAKE_N);
    for (int i = 0; i < TAKE_N; i++) {
        void *extra = NULL;
        cs[i] = evf_coro_new_in(slot[i], where_fn, &at[i], 64, &extra);
        CU_ASSERT_PTR_NOT_NULL_FATAL(cs[i]);
        CU_ASSERT((unsigned char *)extra + 64 <= mine[i]);
        CU_ASSERT_TRUE(evf_coro_resume(cs[i]));
        CU_ASSERT((unsigned char *)at[i] < (unsigned char *)extra);
    }
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, TAKE_N);   /* a slot each, not two */

    /* Suspended: each slot has exactly one resident page, the one the
     * owner's bytes and the coroutine's frames share.  (With ucontext the
     * coroutine's record holds two ucontext_t, about 2 KiB: two pages.) */
#ifdef EVF_CORO_ASM
    const size_t want_pages = 1;
#else
    const size_t want_pages = 2;
#endif
    for (int i = 0; i < TAKE_N; i++) {
        unsigned char *top = mine[i] + TAKE_BYTES;
        unsigned char *lo = (unsigned char *)
            ((uintptr_t)top - 64 * 1024 & ~(uintptr_t)(ps - 1));
        size_t pages = (size_t)(top - lo + ps - 1) / ps, in = 0;
        unsigned char v[32];
        CU_ASSERT_FATAL(pages <= sizeof(v));
        CU_ASSERT_EQUAL_FATAL(mincore(lo, pages * ps, v), 0);
        for (size_t k = 0; k < pages; k++)
            in += v[k] & 1;
        CU_ASSERT_EQUAL(in, want_pages);
    }

    for (int i = 0; i < TAKE_N; i++) {
        CU_ASSERT_FALSE(evf_coro_resume(cs[i]));
        evf_coro_free(cs[i]);
        for (size_t k = 0; k < TAKE_BYTES; k++)
            if (mine[i][k] != 0xa5) {
                CU_FAIL("a coroutine wrote over its owner's bytes");
                break;
            }
    }
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, TAKE_N);   /* the slots stay taken */

    /* Another coroutine in the same slot, then the slots go back. */
    int ran = 0;
    evf_coro_t *c = evf_coro_new_in(slot[0], noop_fn, &ran, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_FALSE(evf_coro_resume(c));
    CU_ASSERT_EQUAL(ran, 1);
    evf_coro_free(c);
    for (int i = 0; i < TAKE_N; i++)
        evf_coro_slot_give(slot[i]);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
    CU_ASSERT_EQUAL(st.cached, st.slots);
}

/* ---- the end ------------------------------------------------------------ */

static void
test_pool_destroy(void)
{
    evf_coro_stats_t st;

    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL_FATAL(st.live, 0);
    CU_ASSERT(st.slots > 0);
    evf_coro_pool_destroy();
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
    CU_ASSERT_EQUAL(st.slots, 0);
    CU_ASSERT_EQUAL(st.cached, 0);
    CU_ASSERT_EQUAL(st.mappings, 0);

    /* The pool starts over after a destroy. */
    int ran = 0;
    evf_coro_t *c = evf_coro_new(noop_fn, &ran, 0, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_FALSE(evf_coro_resume(c));
    CU_ASSERT_EQUAL(ran, 1);
    evf_coro_free(c);
    evf_coro_get_stats(&st);
    CU_ASSERT_EQUAL(st.live, 0);
    CU_ASSERT(st.slots > 0);
    evf_coro_pool_destroy();
}

static CU_TestInfo tests[] = {
    { "resume/yield ping-pong", test_pingpong },
    { "finished coroutine", test_finished },
    { "a slot taken, then coroutines in it", test_taken_slot },
    { "extra bytes", test_extra },
    { "free a suspended coroutine, reuse its slot", test_free_suspended },
    { "10000 coroutines at once", test_many },
    { "16 KiB of recursion", test_deep_recursion },
    { "stack size setting", test_stack_size },
    { "warm stacks first, trimmed when idle", test_warm_and_trim },
    { "pool destroy", test_pool_destroy },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("coro", tests);
}
