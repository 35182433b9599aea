/*
 * coro: coroutines with pooled stacks (see coro.h).
 *
 * DESIGN.  Context switches.  On x86-64 and aarch64 a switch is a few
 * instructions (ctx_switch below): push the callee-saved registers on the
 * current stack, save the stack pointer, load the other one, pop.  The
 * other registers are the caller's to save (the switch is an ordinary
 * call), and the signal mask is the thread's, untouched; glibc's
 * swapcontext instead calls rt_sigprocmask on every switch.  Elsewhere,
 * or with ./configure --with-context=ucontext, ucontext
 * (makecontext/swapcontext) is the portable fallback.  Both paths tell
 * AddressSanitizer about each switch (its fiber annotations) and valgrind
 * about each stack.
 *
 * Stacks.  Slots of stack_size bytes are carved from regions of
 * SLOTS_PER_REGION slots (one mmap each).  The lowest page of a slot is a
 * PROT_NONE guard while the guard budget lasts: each guard splits the
 * region's mapping in two, and vm.max_map_count (65530 by default) would
 * run out long before 100,000 stacks, so beyond GUARD_BUDGET stacks new
 * regions come without guards (logged once).  A freed slot goes back on
 * top of a free list (LIFO; 4-byte slot numbers, the only heap a slot
 * costs besides its region's share), so the next coroutine gets the stack used
 * last, its pages still mapped and in cache: no page faults in the steady
 * state.  Memory follows the load down again through evf_coro_trim(),
 * called on an idle timer: free slots beyond what the peak since the last
 * trim needed are given back to the kernel (MADV_DONTNEED) from the
 * bottom of the list, the ones unused longest; they stay on the list,
 * cold, and fault in again only if a bigger peak needs them.
 *
 * Taken slots.  A request takes its slot when it begins and lives at the
 * top of it (evf_coro_slot_take); its handler's coroutine starts later,
 * below it (evf_coro_new_in), and the slot goes back when the request
 * ends.  A coroutine's first frames touch the slot's top page anyway, so a
 * request waiting in a shallow await costs that one page and nothing on
 * the heap.
 *
 * The pool is per thread (coroutines only run on loop threads).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#ifndef EVF_CORO_ASM
#include <ucontext.h>
#endif
#include <unistd.h>

#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/memcheck.h>
#include <valgrind/valgrind.h>
#endif
/*
 * AddressSanitizer, however it was turned on (--enable-sanitizers, or the
 * fuzzing build's own -fsanitize=address): it must hear of every stack
 * switch, and of frames left behind on a stack that is reused.
 */
#if defined(__SANITIZE_ADDRESS__)
#define EVF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVF_ASAN 1
#endif
#endif

#ifdef EVF_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#include "coro.h"
#include "log.h"
#include "mem.h"
#include "tls.h"

#define SLOTS_PER_REGION 64
#define GUARD_BUDGET 8192
#define WARM_MIN 64             /* free slots evf_coro_trim() keeps warm */

struct evf_coro {
#ifdef EVF_CORO_ASM
    void *sp;               /* the coroutine's saved stack pointer */
    void *caller_sp;        /* the resumer's */
#else
    ucontext_t ctx;         /* the coroutine's saved context */
    ucontext_t caller;      /* the resumer's saved context */
#endif
    evf_coro_fn fn;
    void *arg;
    char *slot;             /* start of the slot (guard page, if any) */
    struct region *region;
    bool started;
    char *stack;            /* usable stack: [stack, stack + stack_len) */
    size_t stack_len;
    void *extra;
    bool finished;
    bool borrowed;          /* in a taken slot: freeing leaves the slot */
    void *fake_stack;       /* ASan: saved fake stack of the other side */
    const void *caller_bottom;
    size_t caller_size;
};

typedef struct region {
    char *base;
    size_t len;
    size_t slot_size;
    uint32_t first;         /* the number of its first slot */
    bool guarded;
#ifdef HAVE_VALGRIND_VALGRIND_H
    unsigned *vg_ids;       /* SLOTS_PER_REGION, under valgrind only */
#endif
} region_t;

struct free_slot {
    char *slot;
    region_t *region;
};

/* At the very top of a taken slot; the owner's bytes are just below. */
struct evf_coro_slot {
    struct free_slot fs;
    char *below;            /* start of the owner's bytes */
    bool busy;              /* a coroutine lives in it */
};

static EVF_TLS struct {
    size_t stack_size;
    region_t **regions;     /* by number: slot n is in regions[n / 64] */
    uint32_t *free;         /* free slot numbers, a stack (LIFO: warm
                             * first): 4 bytes a slot, on the heap */
    size_t nfree, free_cap;
    size_t ncold;           /* free[0 .. ncold) were given back */
    size_t peak;            /* most slots in use since the last trim */
    size_t live;            /* slots in use: coroutines, taken slots */
    size_t slots, nregions, guarded;
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

static void
region_free(region_t *r)
{
#ifdef HAVE_VALGRIND_VALGRIND_H
    if (r->vg_ids && r->base)
        for (size_t i = 0; i < SLOTS_PER_REGION; i++)
            VALGRIND_STACK_DEREGISTER(r->vg_ids[i]);
    evf_free(r->vg_ids);
#endif
    evf_free(r);
}

/* Slot number n, where it is. */
static struct free_slot
slot_of(uint32_t n)
{
    region_t *r = pool.regions[n / SLOTS_PER_REGION];
    return (struct free_slot){
        r->base + (size_t)(n % SLOTS_PER_REGION) * r->slot_size, r
    };
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

    if (pool.slots + SLOTS_PER_REGION > UINT32_MAX)
        return -ENOMEM;
    /* The free list must hold every slot ever mapped: all may be free at
     * once.  The region table grows with it. */
    if (pool.slots + SLOTS_PER_REGION > pool.free_cap) {
        size_t cap = pool.free_cap ? pool.free_cap * 2 : 256;
        while (cap < pool.slots + SLOTS_PER_REGION)
            cap *= 2;
        uint32_t *f = evf_realloc(pool.free, cap * sizeof(*f));
        if (!f)
            return -ENOMEM;
        pool.free = f;
        region_t **rs = evf_realloc(pool.regions,
                                    cap / SLOTS_PER_REGION * sizeof(*rs));
        if (!rs)
            return -ENOMEM;
        pool.regions = rs;
        pool.free_cap = cap;
    }
    region_t *r = evf_calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
#ifdef HAVE_VALGRIND_VALGRIND_H
    if (RUNNING_ON_VALGRIND &&
        !(r->vg_ids = evf_calloc(SLOTS_PER_REGION, sizeof(*r->vg_ids)))) {
        evf_free(r);
        return -ENOMEM;
    }
#endif
    char *base = mmap(NULL, len, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int err = errno;
        region_free(r);
        return -err;
    }
    r->base = base;
    r->len = len;
    r->slot_size = slot_size;
    r->first = (uint32_t)pool.slots;
    r->guarded = guarded;
    for (size_t i = 0; i < SLOTS_PER_REGION; i++) {
        char *slot = base + i * slot_size;
        if (guarded)
            mprotect(slot, ps, PROT_NONE);
#ifdef HAVE_VALGRIND_VALGRIND_H
        char *lo = slot + (guarded ? ps : 0);
        if (r->vg_ids)
            r->vg_ids[i] = VALGRIND_STACK_REGISTER(lo, lo + ss);
#endif
    }
    /* Push in reverse so the lowest slot is handed out first. */
    for (size_t i = SLOTS_PER_REGION; i-- > 0;)
        pool.free[pool.nfree++] = r->first + (uint32_t)i;
    if (guarded) {
        pool.guarded += SLOTS_PER_REGION;
    } else if (!pool.guard_warned) {
        pool.guard_warned = true;
        evf_log_notice("more than %d coroutine stacks: new stacks have no "
                       "guard page (each one costs a memory mapping)",
                       GUARD_BUDGET);
    }
    pool.regions[pool.nregions] = r;
    pool.slots += SLOTS_PER_REGION;
    pool.nregions++;
    return 0;
}

#ifdef EVF_CORO_ASM
/*
 * ctx_switch(&save, to): save the callee-saved registers on this stack
 * and its stack pointer in *save, then resume the context whose stack
 * pointer is to (saved by an earlier ctx_switch, or laid out by
 * ctx_make).  Returns when something switches back.
 */
void evf__ctx_switch(void **save, void *to);

#if defined(__x86_64__)
/* Frame, from the saved stack pointer up: MXCSR and the x87 control
 * word (8 bytes), r15, r14, r13, r12, rbx, rbp, return address. */
__asm__(
    ".text\n"
    ".globl evf__ctx_switch\n"
    ".hidden evf__ctx_switch\n"
    ".type evf__ctx_switch, @function\n"
    ".p2align 4\n"
    "evf__ctx_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    subq $8, %rsp\n"
    "    stmxcsr (%rsp)\n"
    "    fnstcw 4(%rsp)\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    ldmxcsr (%rsp)\n"
    "    fldcw 4(%rsp)\n"
    "    addq $8, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size evf__ctx_switch, .-evf__ctx_switch\n");

#define FRAME_WORDS 8           /* the frame above, return address included */

/* Lay out a first frame on [lo, hi) that "returns" into entry. */
static void *
ctx_make(char *lo, char *hi, void (*entry)(void))
{
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top - 1 - FRAME_WORDS;
    (void)lo;
    memset(sp, 0, (FRAME_WORDS + 1) * sizeof(*sp));
    /* MXCSR 0x1f80 and the x87 control word 0x037f: the ABI's defaults. */
    sp[0] = 0x1f80u | (uint64_t)0x037fu << 32;
    sp[FRAME_WORDS - 1] = (uint64_t)(uintptr_t)entry;
    /* Above it, a null return address: entry is entered with its stack
     * aligned as after a call, and a backtrace stops there. */
    return sp;
}

#elif defined(__aarch64__)
/* Frame of 176 bytes from the saved stack pointer up: x19..x28, x29 (the
 * frame pointer), x30 (the return address), d8..d15. */
__asm__(
    ".text\n"
    ".globl evf__ctx_switch\n"
    ".hidden evf__ctx_switch\n"
    ".type evf__ctx_switch, %function\n"
    ".p2align 4\n"
    "evf__ctx_switch:\n"
    "    sub sp, sp, #176\n"
    "    stp x19, x20, [sp, #0]\n"
    "    stp x21, x22, [sp, #16]\n"
    "    stp x23, x24, [sp, #32]\n"
    "    stp x25, x26, [sp, #48]\n"
    "    stp x27, x28, [sp, #64]\n"
    "    stp x29, x30, [sp, #80]\n"
    "    stp d8, d9, [sp, #96]\n"
    "    stp d10, d11, [sp, #112]\n"
    "    stp d12, d13, [sp, #128]\n"
    "    stp d14, d15, [sp, #144]\n"
    "    mov x9, sp\n"
    "    str x9, [x0]\n"
    "    mov sp, x1\n"
    "    ldp x19, x20, [sp, #0]\n"
    "    ldp x21, x22, [sp, #16]\n"
    "    ldp x23, x24, [sp, #32]\n"
    "    ldp x25, x26, [sp, #48]\n"
    "    ldp x27, x28, [sp, #64]\n"
    "    ldp x29, x30, [sp, #80]\n"
    "    ldp d8, d9, [sp, #96]\n"
    "    ldp d10, d11, [sp, #112]\n"
    "    ldp d12, d13, [sp, #128]\n"
    "    ldp d14, d15, [sp, #144]\n"
    "    add sp, sp, #176\n"
    "    ret\n"
    ".size evf__ctx_switch, .-evf__ctx_switch\n");

#define FRAME_BYTES 176

static void *
ctx_make(char *lo, char *hi, void (*entry)(void))
{
    uintptr_t top = (uintptr_t)hi & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - FRAME_BYTES);
    (void)lo;
    memset(sp, 0, FRAME_BYTES);
    sp[11] = (uint64_t)(uintptr_t)entry;    /* x30: where ret goes */
    return sp;
}

#else
#error "--with-context=asm: no context switch for this CPU"
#endif
#endif /* EVF_CORO_ASM */

static void
start_switch(void **fake, const void *bottom, size_t size)
{
#ifdef EVF_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake, (void)bottom, (void)size;
#endif
}

static void
finish_switch(void *fake, const void **bottom, size_t *size)
{
#ifdef EVF_ASAN
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
#ifdef EVF_CORO_ASM
    void *dead;
    evf__ctx_switch(&dead, c->caller_sp);
#else
    setcontext(&c->caller);
#endif
    abort();    /* never resumed */
}

/* Pop a free slot (growing the pool if none); false when out of memory. */
static bool
slot_pop(struct free_slot *fs)
{
    if (!pool.nfree && grow() < 0)
        return false;
    *fs = slot_of(pool.free[--pool.nfree]);
    if (pool.ncold > pool.nfree)
        pool.ncold = pool.nfree;
    if (++pool.live > pool.peak)
        pool.peak = pool.live;
    return true;
}

static void
slot_push(struct free_slot fs)
{
    pool.live--;
    /* grow() sized the free list for every slot ever mapped. */
    region_t *r = fs.region;
    pool.free[pool.nfree++] =
        r->first + (uint32_t)((size_t)(fs.slot - r->base) / r->slot_size);
}

/* Mark [p, p + n) of a slot as fresh memory for valgrind and ASan (the
 * frames of the slot's last coroutine may have left it "no access"). */
static void
slot_fresh(void *p, size_t n)
{
#ifdef EVF_ASAN
    __asan_unpoison_memory_region(p, n);
#endif
#ifdef HAVE_VALGRIND_VALGRIND_H
    VALGRIND_MAKE_MEM_UNDEFINED(p, n);
#endif
    (void)p, (void)n;
}

/* A coroutine whose stack ends at hi, in the slot fs. */
static evf_coro_t *
make(struct free_slot fs, char *hi, evf_coro_fn fn, void *arg, size_t extra,
     void **extra_out)
{
    size_t ps = page_size();
    char *lo = fs.slot + (fs.region->guarded ? ps : 0);
    size_t head = (sizeof(evf_coro_t) + 15) & ~(size_t)15;
    extra = (extra + 15) & ~(size_t)15;

    evf_coro_t *c = (evf_coro_t *)(hi - head);
    slot_fresh((char *)c - extra, head + extra);
    memset(c, 0, sizeof(*c));
    c->extra = (char *)c - extra;
    memset(c->extra, 0, extra);
    c->fn = fn;
    c->arg = arg;
    c->slot = fs.slot;
    c->region = fs.region;
    c->stack = lo;
    c->stack_len = (size_t)((char *)c->extra - lo) & ~(size_t)15;

#ifdef EVF_CORO_ASM
    c->sp = ctx_make(c->stack, c->stack + c->stack_len, trampoline);
#else
    getcontext(&c->ctx);
    c->ctx.uc_stack.ss_sp = c->stack;
    c->ctx.uc_stack.ss_size = c->stack_len;
    c->ctx.uc_link = NULL;
    makecontext(&c->ctx, trampoline, 0);
#endif
    if (extra_out)
        *extra_out = c->extra;
    return c;
}

evf_coro_t *
evf_coro_new(evf_coro_fn fn, void *arg, size_t extra, void **extra_out)
{
    struct free_slot fs;
    if (!slot_pop(&fs))
        return NULL;
    return make(fs, fs.slot + fs.region->slot_size, fn, arg, extra,
                extra_out);
}

void *
evf_coro_slot_take(size_t size, evf_coro_slot_t **slot)
{
    struct free_slot fs;
    if (!slot_pop(&fs))
        return NULL;
    size_t head = (sizeof(evf_coro_slot_t) + 15) & ~(size_t)15;
    size = (size + 15) & ~(size_t)15;
    char *hi = fs.slot + fs.region->slot_size;
    evf_coro_slot_t *s = (evf_coro_slot_t *)(hi - head);
    slot_fresh(hi - head - size, head + size);
    s->fs = fs;
    s->below = hi - head - size;
    s->busy = false;
    *slot = s;
    return s->below;
}

evf_coro_t *
evf_coro_new_in(evf_coro_slot_t *slot, evf_coro_fn fn, void *arg,
                size_t extra, void **extra_out)
{
    assert(!slot->busy && "one coroutine at a time in a taken slot");
    evf_coro_t *c = make(slot->fs, slot->below, fn, arg, extra, extra_out);
    c->borrowed = true;
    slot->busy = true;
    return c;
}

void
evf_coro_slot_give(evf_coro_slot_t *slot)
{
    if (!slot)
        return;
    assert(!slot->busy && "the slot's coroutine is freed first");
    slot_push(slot->fs);
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
#ifdef EVF_CORO_ASM
    evf__ctx_switch(&c->caller_sp, c->sp);
#else
    swapcontext(&c->caller, &c->ctx);
#endif
    finish_switch(c->fake_stack, NULL, NULL);
    pool.current = NULL;
    return !c->finished;
}

void
evf_coro_yield(evf_coro_t *c)
{
    assert(pool.current == c);
    start_switch(&c->fake_stack, c->caller_bottom, c->caller_size);
#ifdef EVF_CORO_ASM
    evf__ctx_switch(&c->sp, c->caller_sp);
#else
    swapcontext(&c->ctx, &c->caller);
#endif
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
#ifdef EVF_ASAN
    /* A stack dropped mid-call keeps its frames' redzones poisoned. */
    __asan_unpoison_memory_region(c->stack,
                                  (size_t)((char *)c->extra - c->stack));
#endif
    if (c->borrowed) {
        size_t head = (sizeof(evf_coro_slot_t) + 15) & ~(size_t)15;
        evf_coro_slot_t *s =
            (evf_coro_slot_t *)(slot + r->slot_size - head);
        s->busy = false;
        return;
    }
    slot_push((struct free_slot){ slot, r });
}

size_t
evf_coro_trim(void)
{
    size_t ps = page_size();
    size_t want = pool.peak - pool.live;    /* to serve that peak again */
    if (want < WARM_MIN)
        want = WARM_MIN;
    size_t released = 0;
    while (pool.nfree - pool.ncold > want) {
        struct free_slot f = slot_of(pool.free[pool.ncold++]);
        char *lo = f.slot + (f.region->guarded ? ps : 0);
        madvise(lo, (size_t)(f.slot + f.region->slot_size - lo),
                MADV_DONTNEED);
        released++;
    }
    pool.peak = pool.live;
    return released;
}

void
evf_coro_get_stats(evf_coro_stats_t *st)
{
    st->live = pool.live;
    st->cached = pool.nfree;
    st->warm = pool.nfree - pool.ncold;
    st->slots = pool.slots;
    st->mappings = pool.nregions;
}

void
evf_coro_pool_destroy(void)
{
    assert(pool.live == 0);
    for (size_t i = 0; i < pool.nregions; i++) {
        region_t *r = pool.regions[i];
        munmap(r->base, r->len);
        region_free(r);
    }
    evf_free(pool.regions);
    evf_free(pool.free);
    size_t ss = pool.stack_size;
    memset(&pool, 0, sizeof(pool));
    pool.stack_size = ss;
}
