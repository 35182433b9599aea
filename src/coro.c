/*
 * coro: coroutines with pooled stacks (see coro.h).
 *
 * DESIGN.  Context switches use ucontext (makecontext/swapcontext): portable
 * and understood by gdb, valgrind and the sanitizers.  glibc's swapcontext
 * saves the signal mask with one rt_sigprocmask call per switch; a request
 * that never awaits switches twice, which measures at well under a
 * microsecond, so no hand-written assembly is worth its risk here.
 *
 * Stacks.  Slots of stack_size bytes are carved from regions of
 * SLOTS_PER_REGION slots (one mmap each).  The lowest page of a slot is a
 * PROT_NONE guard while the guard budget lasts: each guard splits the
 * region's mapping in two, and vm.max_map_count (65530 by default) would
 * run out long before 100,000 stacks, so beyond GUARD_BUDGET stacks new
 * regions come without guards (logged once).  A freed slot goes back on a
 * free list; beyond CACHE_MAX free slots its pages are given back to the
 * kernel with MADV_DONTNEED, so memory follows the load down again.
 *
 * The pool is per thread (coroutines only run on loop threads).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif
#ifdef EVF_SANITIZE_ADDRESS
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include "coro.h"
#include "log.h"
#include "mem.h"

#define SLOTS_PER_REGION 64
#define GUARD_BUDGET 8192
#define CACHE_MAX 1024

struct evf_coro {
    ucontext_t ctx;         /* the coroutine's saved context */
    ucontext_t caller;      /* the resumer's saved context */
    evf_coro_fn fn;
    void *arg;
    char *slot;             /* start of the slot (guard page, if any) */
    struct region *region;
    bool started;
    char *stack;            /* usable stack: [stack, stack + stack_len) */
    size_t stack_len;
    void *extra;
    bool finished;
    void *fake_stack;       /* ASan: saved fake stack of the other side */
    const void *caller_bottom;
    size_t caller_size;
};

typedef struct region {
    struct region *next;
    char *base;
    size_t len;
    size_t slot_size;
    bool guarded;
#ifdef HAVE_VALGRIND_VALGRIND_H
    unsigned vg_ids[SLOTS_PER_REGION];
#endif
} region_t;

struct free_slot {
    char *slot;
    region_t *region;
};

static _Thread_local struct {
    size_t stack_size;
    region_t *regions;
    struct free_slot *free; /* free slots, a stack (LIFO: warm first) */
    size_t nfree, free_cap;
    size_t live, slots, nregions, guarded;
    bool guard_warned;
    evf_coro_t *current;
    evf_coro_t *starting;
} pool;

static size_t
page_size(void)
{
    static size_t ps;
    if (!ps)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

void
evf_coro_set_stack_size(size_t size)
{
    size_t ps = page_size();
    if (size < 16384)
        size = 16384;
    pool.stack_size = (size + ps - 1) / ps * ps;
}

size_t
evf_coro_stack_size(void)
{
    if (!pool.stack_size)
        evf_coro_set_stack_size(64 * 1024);
    return pool.stack_size;
}

/* Map a new region and push its slots on the free list.  0 or -errno. */
static int
grow(void)
{
    size_t ss = evf_coro_stack_size();
    size_t ps = page_size();
    bool guarded = pool.guarded + SLOTS_PER_REGION <= GUARD_BUDGET;
    size_t slot_size = ss + (guarded ? ps : 0);
    size_t len = slot_size * SLOTS_PER_REGION;

    /* The free list must hold every slot ever mapped: all may be free at
     * once. */
    if (pool.slots + SLOTS_PER_REGION > pool.free_cap) {
        size_t cap = pool.free_cap ? pool.free_cap * 2 : 256;
        while (cap < pool.slots + SLOTS_PER_REGION)
            cap *= 2;
        struct free_slot *f = evf_realloc(pool.free, cap * sizeof(*f));
        if (!f)
            return -ENOMEM;
        pool.free = f;
        pool.free_cap = cap;
    }
    region_t *r = evf_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int err = errno;
        evf_free(r);
        return -err;
    }
    r->base = base;
    r->len = len;
    r->slot_size = slot_size;
    r->guarded = guarded;
    for (size_t i = 0; i < SLOTS_PER_REGION; i++) {
        char *slot = base + i * slot_size;
        if (guarded)
            mprotect(slot, ps, PROT_NONE);
#ifdef HAVE_VALGRIND_VALGRIND_H
        char *lo = slot + (guarded ? ps : 0);
        r->vg_ids[i] = VALGRIND_STACK_REGISTER(lo, lo + ss);
#endif
    }
    /* Push in reverse so the lowest slot is handed out first. */
    for (size_t i = SLOTS_PER_REGION; i-- > 0;)
        pool.free[pool.nfree++] =
            (struct free_slot){ base + i * slot_size, r };
    if (guarded) {
        pool.guarded += SLOTS_PER_REGION;
    } else if (!pool.guard_warned) {
        pool.guard_warned = true;
        evf_log_notice("more than %d coroutine stacks: new stacks have no "
                       "guard page (each one costs a memory mapping)",
                       GUARD_BUDGET);
    }
    r->next = pool.regions;
    pool.regions = r;
    pool.slots += SLOTS_PER_REGION;
    pool.nregions++;
    return 0;
}

static void
start_switch(void **fake, const void *bottom, size_t size)
{
#ifdef EVF_SANITIZE_ADDRESS
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

static void
finish_switch(void *fake, const void **bottom, size_t *size)
{
#ifdef EVF_SANITIZE_ADDRESS
    __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

static void
trampoline(void)
{
    evf_coro_t *c = pool.starting;
    pool.starting = NULL;
    finish_switch(NULL, &c->caller_bottom, &c->caller_size);
    c->fn(c, c->arg);
    c->finished = true;
    /* Leaving for good: NULL lets ASan drop this stack's fake frames. */
    start_switch(NULL, c->caller_bottom, c->caller_size);
    setcontext(&c->caller);
}

evf_coro_t *
evf_coro_new(evf_coro_fn fn, void *arg, size_t extra, void **extra_out)
{
    if (!pool.nfree && grow() < 0)
        return NULL;
    struct free_slot fs = pool.free[--pool.nfree];
    char *slot = fs.slot;
    region_t *r = fs.region;
    size_t ps = page_size();
    char *lo = slot + (r->guarded ? ps : 0);
    char *hi = slot + r->slot_size;
    size_t head = (sizeof(evf_coro_t) + 15) & ~(size_t)15;
    extra = (extra + 15) & ~(size_t)15;

    evf_coro_t *c = (evf_coro_t *)(hi - head);
    memset(c, 0, sizeof(*c));
    c->extra = (char *)c - extra;
    memset(c->extra, 0, extra);
    c->fn = fn;
    c->arg = arg;
    c->slot = slot;
    c->region = r;
    c->stack = lo;
    c->stack_len = (size_t)((char *)c->extra - lo) & ~(size_t)15;

    getcontext(&c->ctx);
    c->ctx.uc_stack.ss_sp = c->stack;
    c->ctx.uc_stack.ss_size = c->stack_len;
    c->ctx.uc_link = NULL;
    makecontext(&c->ctx, trampoline, 0);
    pool.live++;
    if (extra_out)
        *extra_out = c->extra;
    return c;
}

bool
evf_coro_resume(evf_coro_t *c)
{
    assert(pool.current == NULL && "coroutine resumes do not nest");
    assert(!c->finished);
    pool.current = c;
    if (!c->started) {
        c->started = true;
        pool.starting = c;
    }
    start_switch(&c->fake_stack, c->stack, c->stack_len);
    swapcontext(&c->caller, &c->ctx);
    finish_switch(c->fake_stack, NULL, NULL);
    pool.current = NULL;
    return !c->finished;
}

void
evf_coro_yield(evf_coro_t *c)
{
    assert(pool.current == c);
    start_switch(&c->fake_stack, c->caller_bottom, c->caller_size);
    swapcontext(&c->ctx, &c->caller);
    finish_switch(c->fake_stack, &c->caller_bottom, &c->caller_size);
}

evf_coro_t *
evf_coro_self(void)
{
    return pool.current;
}

void *
evf_coro_extra(evf_coro_t *c)
{
    return c->extra;
}

void
evf_coro_free(evf_coro_t *c)
{
    if (!c)
        return;
    assert(pool.current != c);
    char *slot = c->slot;
    region_t *r = c->region;
#ifdef EVF_SANITIZE_ADDRESS
    /* A stack dropped mid-call keeps its frames' redzones poisoned. */
    __asan_unpoison_memory_region(c->stack,
                                  (size_t)(slot + r->slot_size - c->stack));
#endif
    pool.live--;
    if (pool.nfree >= CACHE_MAX) {
        size_t ps = page_size();
        char *lo = slot + (r->guarded ? ps : 0);
        madvise(lo, (size_t)(slot + r->slot_size - lo), MADV_DONTNEED);
    }
    /* grow() sized the free list for every slot ever mapped. */
    pool.free[pool.nfree++] = (struct free_slot){ slot, r };
}

void
evf_coro_get_stats(evf_coro_stats_t *st)
{
    st->live = pool.live;
    st->cached = pool.nfree;
    st->slots = pool.slots;
    st->mappings = pool.nregions;
}

void
evf_coro_pool_destroy(void)
{
    assert(pool.live == 0);
    region_t *r = pool.regions;
    while (r) {
        region_t *next = r->next;
#ifdef HAVE_VALGRIND_VALGRIND_H
        for (size_t i = 0; i < SLOTS_PER_REGION; i++)
            VALGRIND_STACK_DEREGISTER(r->vg_ids[i]);
#endif
        munmap(r->base, r->len);
        evf_free(r);
        r = next;
    }
    evf_free(pool.free);
    size_t ss = pool.stack_size;
    memset(&pool, 0, sizeof(pool));
    pool.stack_size = ss;
}
