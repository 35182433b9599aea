/*
 * oom.h: an allocator for the unit tests that fails the Nth allocation.
 *
 * oom_fail_at(n) installs (evf_mem_set_allocator) an allocator whose nth
 * evf_malloc or evf_realloc from now (1-based) returns NULL, and only that
 * one; oom_off() puts libc's back.  A test fails the 1st, 2nd, ...
 * allocation of an operation in turn until it goes through:
 *
 *     for (size_t n = 1; n < 100 && !ok; n++) {
 *         oom_fail_at(n);
 *         int rc = operation();
 *         oom_off();
 *         ...
 *     }
 */
#ifndef EVF_TESTS_OOM_H
#define EVF_TESTS_OOM_H

#include <stddef.h>
#include <stdlib.h>

#include "mem.h"

static size_t oom_calls, oom_fail_n;

static inline void *
oom_malloc(size_t n)
{
    if (++oom_calls == oom_fail_n)
        return NULL;
    return malloc(n);
}

static inline void *
oom_realloc(void *p, size_t n)
{
    if (++oom_calls == oom_fail_n)
        return NULL;
    return realloc(p, n);
}

static const evf_allocator_t oom_failing = {
    oom_malloc, oom_realloc, free
};

/* From now on, fail the nth allocation (1-based). */
static inline void
oom_fail_at(size_t n)
{
    oom_calls = 0;
    oom_fail_n = n;
    evf_mem_set_allocator(&oom_failing);
}

/* The working allocator again. */
static inline void
oom_off(void)
{
    evf_mem_set_allocator(NULL);
}

#endif
