/*
 * test_deps_graph: suite "deps_graph".
 *
 * evf_deps_find_cycle on constant dependency tables: no lists, a chain, a
 * diamond (a shared dependency is no cycle), lists that share nothing;
 * cycles of one, two and three with the exact message, a cycle reached
 * through a longer path (the message starts where the cycle does), one
 * between the app's list and a route's, unnamed dependencies ("?");
 * nesting of exactly EVF_DEPS_MAX_DEPTH against one more, also when the
 * deep path reaches a dependency first met on a short one; a ladder of
 * shared dependencies (2^60 paths) checked in linear time; and messages
 * cut to the buffer given, always terminated; out of memory at each
 * allocation of a check is an error saying so, never a false "no cycle".
 */
#include "config.h"

#include <string.h>
#include <unistd.h>

#include "deps_graph.h"
#include "oom.h"
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

/*
 * A dependency met first near the top, then at the bottom of a long
 * chain: the long path still counts.  Roots: [mid, c0]; mid -> s;
 * c0 -> c1 -> ... -> c54 -> s; s -> t0 -> ... -> t9.
 */
static void
test_depth_shared(void)
{
    static evf_dep c[55], t[10], s, mid;
    static const evf_dep *ck[55][2], *tk[10][2], *sk[2], *mk[2];
    static const evf_dep *roots[3];

    for (size_t i = 0; i < 10; i++) {
        tk[i][0] = i + 1 < 10 ? &t[i + 1] : NULL;
        t[i] = (evf_dep){ .name = "t",
                          .deps = (const evf_dep *const *)tk[i] };
    }
    sk[0] = &t[0];
    s = (evf_dep){ .name = "s", .deps = (const evf_dep *const *)sk };
    mk[0] = &s;
    mid = (evf_dep){ .name = "mid", .deps = (const evf_dep *const *)mk };
    for (size_t i = 0; i < 55; i++) {
        ck[i][0] = i + 1 < 55 ? &c[i + 1] : &s;
        c[i] = (evf_dep){ .name = "c",
                          .deps = (const evf_dep *const *)ck[i] };
    }
    roots[0] = &mid;
    roots[1] = &c[0];
    /* 55 + s + 10 = 66 deep. */
    CU_ASSERT_EQUAL(check((const evf_dep *const *)roots, NULL), -1);
    CU_ASSERT_STRING_EQUAL(msg, "dependencies nested deeper than 64");
    /* 53 + s + 10 = 64: fine. */
    ck[52][0] = &s;
    CU_ASSERT_EQUAL(check((const evf_dep *const *)roots, NULL), 0);
}

/*
 * A ladder: a[i] and b[i] both need a[i + 1] and b[i + 1], 60 levels:
 * 2^60 paths, 120 dependencies.  Walking every path would never end; the
 * alarm turns that into a failure instead of a hung test.
 */
static void
test_ladder(void)
{
    enum { LEVELS = 60 };
    static evf_dep a[LEVELS], b[LEVELS];
    static const evf_dep *k[LEVELS][3];

    for (size_t i = 0; i < LEVELS; i++) {
        k[i][0] = i + 1 < LEVELS ? &a[i + 1] : NULL;
        k[i][1] = i + 1 < LEVELS ? &b[i + 1] : NULL;
        a[i] = (evf_dep){ .name = "a", .deps = (const evf_dep *const *)k[i] };
        b[i] = (evf_dep){ .name = "b", .deps = (const evf_dep *const *)k[i] };
    }
    alarm(60);
    CU_ASSERT_EQUAL(check(EVF_DEPS(&a[0], &b[0]), NULL), 0);
    /* A cycle at the bottom is still found. */
    k[LEVELS - 1][0] = &a[LEVELS - 1];
    CU_ASSERT_EQUAL(check(EVF_DEPS(&a[0]), NULL), -1);
    CU_ASSERT_STRING_EQUAL(msg, "a -> a");
    alarm(0);
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

/* 40 dependencies in a chain need more than one table of finished ones. */
static void
test_oom(void)
{
    const evf_dep *const *list = make_chain(40);
    bool ok = false;
    size_t fails = 0;

    for (size_t n = 1; n < 20 && !ok; n++) {
        oom_fail_at(n);
        int rc = check(list, NULL);
        oom_off();
        if (rc == 0) {
            ok = true;
        } else {
            fails++;
            CU_ASSERT_STRING_EQUAL(msg, "out of memory");
        }
    }
    CU_ASSERT_TRUE(ok);
    CU_ASSERT_TRUE(fails >= 2);
}

static CU_TestInfo tests[] = {
    { "no cycle", test_no_cycle },
    { "cycles and their message", test_cycles },
    { "nesting depth", test_depth },
    { "nesting depth through a shared dependency", test_depth_shared },
    { "ladder of shared dependencies", test_ladder },
    { "message cut to the buffer", test_short_buffer },
    { "out of memory", test_oom },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("deps_graph", tests);
}
