/*
 * test_mem: the request arena's size arithmetic.
 *
 * A size near SIZE_MAX must be refused (NULL), never rounded up past zero
 * into a small block that the caller then overruns.
 */
#include "config.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mem.h"
#include "unit.h"

static void
test_huge_sizes_refused(void)
{
    evf_arena_t a;
    evf_arena_init(&a, NULL, 0);
    size_t sizes[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 7,
                       SIZE_MAX - 15, SIZE_MAX / 2 + 1 };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        CU_ASSERT_PTR_NULL(evf_arena_alloc(&a, sizes[i]));
    /* The arena still works afterwards. */
    char *p = evf_arena_alloc(&a, 100);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    memset(p, 'x', 100);
    evf_arena_release(&a);
}

static void
test_huge_sizes_refused_with_first_block(void)
{
    char first[256];
    evf_arena_t a;
    evf_arena_init(&a, first, sizeof(first));
    CU_ASSERT_PTR_NULL(evf_arena_alloc(&a, SIZE_MAX));
    CU_ASSERT_PTR_NULL(evf_arena_alloc(&a, SIZE_MAX - 3));
    char *p = evf_arena_alloc(&a, 16);
    CU_ASSERT_TRUE(p >= first && p + 16 <= first + sizeof(first));
    evf_arena_release(&a);
}

static void
test_sizes_round_up_and_align(void)
{
    evf_arena_t a;
    evf_arena_init(&a, NULL, 0);
    char *p = evf_arena_alloc(&a, 1);
    char *q = evf_arena_alloc(&a, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_EQUAL((uintptr_t)p % alignof(max_align_t), 0);
    CU_ASSERT_EQUAL((uintptr_t)q % alignof(max_align_t), 0);
    CU_ASSERT_TRUE((size_t)(q - p) >= alignof(max_align_t));
    /* A zero-byte request still gets a distinct pointer. */
    char *z = evf_arena_alloc(&a, 0);
    CU_ASSERT_PTR_NOT_NULL(z);
    CU_ASSERT_PTR_NOT_EQUAL(z, q);
    /* A big one gets a block of its own and is usable in full. */
    char *big = evf_arena_alloc(&a, 100000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 'y', 100000);
    evf_arena_release(&a);
}

static CU_TestInfo tests[] = {
    { "sizes near SIZE_MAX are refused", test_huge_sizes_refused },
    { "... also with a caller's first block",
      test_huge_sizes_refused_with_first_block },
    { "sizes round up to the alignment", test_sizes_round_up_and_align },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("mem", tests);
}
