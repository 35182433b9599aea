/*
 * mem: the allocator every module uses, and request arenas.
 *
 * evf_malloc/evf_realloc/evf_free go through one replaceable table so that
 * tests can fail the Nth allocation.  An arena hands out memory that is
 * released all at once (at the end of a request); its first block can be
 * embedded in the owning struct so that small requests allocate nothing.
 */
#ifndef EVF_MEM_H
#define EVF_MEM_H

#include <stddef.h>

typedef struct evf_allocator {
    void *(*malloc)(size_t size);
    void *(*realloc)(void *ptr, size_t size);
    void (*free)(void *ptr);
} evf_allocator_t;

/* Replace the allocator (tests); NULL restores libc's. */
void evf_mem_set_allocator(const evf_allocator_t *a);

void *evf_malloc(size_t size);
void *evf_calloc(size_t n, size_t size);
void *evf_realloc(void *ptr, size_t size);
void evf_free(void *ptr);
char *evf_mem_strdup(const char *s);

typedef struct evf_arena_block evf_arena_block_t;

typedef struct evf_arena {
    /* private */
    char *pos, *end;
    evf_arena_block_t *blocks;  /* heap blocks, newest first */
} evf_arena_t;

/* Start an arena on an optional caller-owned first block (may be NULL). */
void evf_arena_init(evf_arena_t *a, void *first, size_t size);
/* size bytes aligned for any type, or NULL when out of memory. */
void *evf_arena_alloc(evf_arena_t *a, size_t size);
/* Free every heap block; the arena is reusable as after init. */
void evf_arena_release(evf_arena_t *a);

#endif
