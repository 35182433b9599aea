/*
 * test_deps_graph: suite "deps_graph".
 *
 * evf_deps_find_cycle on constant dependency tables: no lists, a chain, a
 * diamond (a shared dependency is no cycle), lists that share nothing;
 * cycles of one, two and three with the exact message, a cycle reached
 * through a longer path (the message starts where the cycle does), one
 * between the app's list and a route's, unnamed dependencies ("?");
 * nesting of exactly EVF_DEPS_MAX_DEPTH against one more; and messages cut
 * to the buffer given, always terminated.
 */
#include "config.h"

#include <string.h>

#include "deps_graph.h"
#include "unit.h"

#define DEP(n, ...) { .name = (n), .deps = EVF_DEPS(__VA_ARGS__) }

/* Leaves and a diamond: top -> l, r; l -> base; r -> base. */
static const evf_dep base = { .name = "base" };
static const evf_dep other = { .name = "other" };
static const evf_dep left = DEP("left", &base);
static const evf_dep right = DEP("right", &base);
static const evf_dep top = DEP("top", &left, &right);

/* self -> self */
static const evf_dep self;
static const evf_dep self = DEP("self", &self);

/* x -> y -> z -> y */
static const evf_dep y, z;
static const evf_dep x = DEP("x", &y);
static const evf_dep y = DEP("y", &base, &z);
static const evf_dep z = DEP("z", &other, &y);

/* three: p -> q -> r3 -> p, with q unnamed */
static const evf_dep p, q, r3;
static const evf_dep p = DEP("p", &q);
static const evf_dep q = { .name = NULL, .deps = EVF_DEPS(&r3) };
static const evf_dep r3 = DEP("r3", &p);

static char msg[256];

static int
check(const evf_dep *const *a, const evf_dep *const *b)
{
    memset(msg, 'Z', sizeof(msg));
    msg[sizeof(msg) - 1] = '\0';
    msg[0] = '\0';
    return evf_deps_find_cycle(a, b, msg, sizeof(msg));
}

static void
test_no_cycle(void)
{
    CU_ASSERT_EQUAL(check(NULL, NULL), 0);
    CU_ASSERT_EQUAL(check(EVF_DEPS(&base), NULL), 0);
    CU_ASSERT_EQUAL(check(NULL, EVF_DEPS(&left)), 0);
    CU_ASSERT_EQUAL(check(EVF_DEPS(&top), EVF_DEPS(&top, &left)), 0);
    /* The same dependency in both lists is shared, not a cycle. */
    CU_ASSERT_EQUAL(check(EVF_DEPS(&base, &other), EVF_DEPS(&base)), 0);
}

static void
test_cycles(void)
{
    CU_ASSERT_EQUAL(check(EVF_DEPS(&self), NULL), -1);
    CU_ASSERT_STRING_EQUAL(msg, "self -> self");
    CU_ASSERT_EQUAL(check(NULL, EVF_DEPS(&x)), -1);
    CU_ASSERT_STRING_EQUAL(msg, "y -> z -> y");
    CU_ASSERT_EQUAL(check(EVF_DEPS(&z), NULL), -1);
    CU_ASSERT_STRING_EQUAL(msg, "z -> y -> z");
    CU_ASSERT_EQUAL(check(EVF_DEPS(&p), NULL), -1);
    CU_ASSERT_STRING_EQUAL(msg, "p -> ? -> r3 -> p");
    /* Clean app list, cyclic route list: found in the route's. */
    CU_ASSERT_EQUAL(check(EVF_DEPS(&top), EVF_DEPS(&base, &r3)), -1);
    CU_ASSERT_STRING_EQUAL(msg, "r3 -> p -> ? -> r3");
}

/* A chain of n dependencies: chain[0] -> chain[1] -> ... */
#define CHAIN 70
static evf_dep chain[CHAIN];
static const evf_dep *kids[CHAIN][2];
static char names[CHAIN][8];

static const evf_dep *const *
make_chain(size_t n)
{
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof(names[i]), "d%zu", i);
        kids[i][0] = i + 1 < n ? &chain[i + 1] : NULL;
        kids[i][1] = NULL;
        chain[i] = (evf_dep){ .name = names[i],
                              .deps = (const evf_dep *const *)kids[i] };
    }
    kids[CHAIN - 1][0] = NULL;
    static const evf_dep *list[2];
    list[0] = &chain[0];
    return (const evf_dep *const *)list;
}

static void
test_depth(void)
{
    CU_ASSERT_EQUAL(check(make_chain(EVF_DEPS_MAX_DEPTH), NULL), 0);
    CU_ASSERT_EQUAL(check(make_chain(EVF_DEPS_MAX_DEPTH + 1), NULL), -1);
    CU_ASSERT_STRING_EQUAL(msg, "dependencies nested deeper than 64");
}

/* A short buffer gets a cut, terminated message; the rest is untouched. */
static void
test_short_buffer(void)
{
    char small[12];
    memset(small, 'Z', sizeof(small));
    CU_ASSERT_EQUAL(evf_deps_find_cycle(EVF_DEPS(&p), NULL, small, 8), -1);
    CU_ASSERT_STRING_EQUAL(small, "p -> ? ");
    CU_ASSERT_TRUE(memcmp(small + 8, "ZZZZ", 4) == 0);
    memset(small, 'Z', sizeof(small));
    CU_ASSERT_EQUAL(evf_deps_find_cycle(EVF_DEPS(&self), NULL, small, 1),
                    -1);
    CU_ASSERT_EQUAL(small[0], '\0');
    CU_ASSERT_EQUAL(small[1], 'Z');
    CU_ASSERT_EQUAL(evf_deps_find_cycle(EVF_DEPS(&self), NULL, NULL, 0), -1);
}

static CU_TestInfo tests[] = {
    { "no cycle", test_no_cycle },
    { "cycles and their message", test_cycles },
    { "nesting depth", test_depth },
    { "message cut to the buffer", test_short_buffer },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("deps_graph", tests);
}
