/*
 * mem: allocator indirection and arenas (see mem.h).
 */
#include "config.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

static evf_allocator_t alloc = { malloc, realloc, free };

void
evf_mem_set_allocator(const evf_allocator_t *a)
{
    if (a)
        alloc = *a;
    else
        alloc = (evf_allocator_t){ malloc, realloc, free };
}

void *
evf_malloc(size_t size)
{
    return alloc.malloc(size ? size : 1);
}

void *
evf_calloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    void *p = evf_malloc(n * size);
    if (p)
        memset(p, 0, n * size);
    return p;
}

void *
evf_realloc(void *ptr, size_t size)
{
    return alloc.realloc(ptr, size ? size : 1);
}

void
evf_free(void *ptr)
{
    if (ptr)
        alloc.free(ptr);
}

char *
evf_mem_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = evf_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

struct evf_arena_block {
    evf_arena_block_t *next;
    alignas(max_align_t) char data[];
};

#define ALIGN (alignof(max_align_t))
#define BLOCK_SIZE 4096

void
evf_arena_init(evf_arena_t *a, void *first, size_t size)
{
    a->blocks = NULL;
    if (first) {
        uintptr_t p = ((uintptr_t)first + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
        uintptr_t e = (uintptr_t)first + size;
        a->pos = (char *)p;
        a->end = p < e ? (char *)e : (char *)p;
    } else {
        a->pos = a->end = NULL;
    }
}

void *
evf_arena_alloc(evf_arena_t *a, size_t size)
{
    /*
     * No object may be larger than PTRDIFF_MAX (pointer differences must
     * fit), and rounding such a size up could wrap to a small one: refuse
     * it before it reaches the allocator.
     */
    if (size > (size_t)PTRDIFF_MAX - sizeof(evf_arena_block_t) - ALIGN)
        return NULL;
    size = (size + ALIGN - 1) & ~(ALIGN - 1);
    if (size == 0)
        size = ALIGN;
    if (a->pos && (size_t)(a->end - a->pos) >= size) {
        void *p = a->pos;
        a->pos += size;
        return p;
    }
    /* Big requests get a block of their own, so the current block's tail
     * stays usable for the small ones that follow. */
    size_t want = size > BLOCK_SIZE / 4 ? size : BLOCK_SIZE;
    if (want > SIZE_MAX - sizeof(evf_arena_block_t))
        return NULL;
    evf_arena_block_t *b = evf_malloc(sizeof(*b) + want);
    if (!b)
        return NULL;
    b->next = a->blocks;
    a->blocks = b;
    if (want == size)
        return b->data;
    a->pos = b->data + size;
    a->end = b->data + want;
    return b->data;
}

void
evf_arena_release(evf_arena_t *a)
{
    evf_arena_block_t *b = a->blocks;
    while (b) {
        evf_arena_block_t *next = b->next;
        evf_free(b);
        b = next;
    }
    a->blocks = NULL;
    a->pos = a->end = NULL;
}
