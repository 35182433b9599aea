/*
 * coro: coroutines on the calling thread, with pooled stacks.
 *
 * A coroutine runs fn(c, arg) on a stack of its own.  evf_coro_resume()
 * runs it until it yields or returns; evf_coro_yield() (called on the
 * coroutine) goes back to whoever resumed it.  Resumes do not nest: only
 * the loop's own stack resumes coroutines.
 *
 * Stacks come from a per-thread pool of slots carved from large mappings
 * and are reused, so a coroutine costs no system call to create and 100,000
 * of them use a few hundred memory mappings, not 200,000.  Each slot keeps
 * its evf_coro_t and the caller's "extra" bytes at the top of the stack
 * (below them, in a taken slot, its owner's bytes).  Only pages a
 * coroutine touched are resident.
 *
 * A suspended coroutine may be freed without being resumed again (that is
 * how a cancelled request unwinds): nothing on its stack runs, so whatever
 * it held must be released by the caller's own cleanups.
 */
#ifndef EVF_CORO_H
#define EVF_CORO_H

#include <stdbool.h>
#include <stddef.h>

typedef struct evf_coro evf_coro_t;
typedef void (*evf_coro_fn)(evf_coro_t *c, void *arg);

/* Stack size of slots mapped from now on (rounded to pages; >= 16 KiB). */
void evf_coro_set_stack_size(size_t size);
size_t evf_coro_stack_size(void);

/*
 * A new suspended coroutine that will run fn(c, arg), with extra zeroed
 * bytes (16-byte aligned) at *extra_out.  NULL when out of memory.
 */
evf_coro_t *evf_coro_new(evf_coro_fn fn, void *arg, size_t extra,
                         void **extra_out);

/* Run c until it yields (returns true) or finishes (returns false). */
bool evf_coro_resume(evf_coro_t *c);

/* Called on c: suspend it and return to the resumer. */
void evf_coro_yield(evf_coro_t *c);

/* The running coroutine, or NULL on the loop's stack. */
evf_coro_t *evf_coro_self(void);

/* Give c's stack back to the pool; c must not be running.  NULL: no-op. */
void evf_coro_free(evf_coro_t *c);

/* The extra bytes of c (as given by evf_coro_new). */
void *evf_coro_extra(evf_coro_t *c);

/*
 * A slot taken ahead of its coroutine, for an owner whose memory should
 * share the stack's first page: the request that will run on it.  The
 * first frames of any coroutine touch that page anyway, so a request
 * kept there and suspended in a shallow await costs one page in all.
 */
typedef struct evf_coro_slot evf_coro_slot_t;

/*
 * Take a slot and return size bytes (16-byte aligned, not zeroed) at its
 * top, with the slot's handle in *slot; NULL when out of memory.  The
 * bytes stay the caller's until evf_coro_slot_give(), and the slot counts
 * as live meanwhile.
 */
void *evf_coro_slot_take(size_t size, evf_coro_slot_t **slot);

/*
 * A coroutine as evf_coro_new() makes, on the stack below the taken
 * bytes of slot.  One at a time: the slot must have no live coroutine.
 * evf_coro_free() leaves the slot taken.
 */
evf_coro_t *evf_coro_new_in(evf_coro_slot_t *slot, evf_coro_fn fn, void *arg,
                            size_t extra, void **extra_out);

/* Give a taken slot back (its coroutine, if any, freed already). */
void evf_coro_slot_give(evf_coro_slot_t *slot);

typedef struct evf_coro_stats {
    size_t live;        /* slots in use: coroutines and taken slots */
    size_t cached;      /* free slots kept ready */
    size_t warm;        /* of those, the ones whose pages are kept */
    size_t slots;       /* slots mapped in all */
    size_t mappings;    /* mmap regions */
} evf_coro_stats_t;

void evf_coro_get_stats(evf_coro_stats_t *st);

/*
 * Give back to the kernel the pages of free stacks beyond what the peak
 * of live coroutines since the last call would need again (at least 64
 * stay warm), the ones unused longest first, and start a new peak.  For an
 * idle timer.  Returns the number of stacks released.
 */
size_t evf_coro_trim(void);

/* Unmap every region; only when no coroutine is live (tests, exit). */
void evf_coro_pool_destroy(void);

#endif
