/*
 * unit.h: shared helpers for the CUnit test programs.
 *
 * unit_run() registers a suite table, runs it with the basic runner in
 * verbose mode and returns the process exit status: CUnit's runner reports
 * success even when assertions fail, so a main() must return what this
 * returns.  Failures of the framework itself (registry, registration, a
 * suite's init or cleanup), a failed assertion or test, and a run that ran
 * no test at all each give 1.
 *
 *     static CU_TestInfo tests[] = { { "name", fn }, CU_TEST_INFO_NULL };
 *
 *     int
 *     main(void)
 *     {
 *         return unit_run_tests("suite", tests);
 *     }
 *
 * unit_mem_eq() compares two byte ranges and, when they differ, prints
 * where, so that a byte-exact assertion says more than "false".
 */
#ifndef EVF_TESTS_UNIT_H
#define EVF_TESTS_UNIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

/* Run a CU_SUITE_INFO_NULL-terminated table; 0 when all passed, else 1. */
static inline int
unit_run(CU_SuiteInfo *suites)
{
    if (CU_initialize_registry() != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        return 1;
    }
    if (CU_register_suites(suites) != CUE_SUCCESS) {
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_ErrorCode rc = CU_basic_run_tests();
    /* Read the counts before the registry (and its summary) goes. */
    unsigned failures = CU_get_number_of_failures();
    unsigned tests_failed = CU_get_number_of_tests_failed();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    unsigned ran = CU_get_number_of_tests_run();
    CU_ErrorCode err = CU_get_error();
    printf("\n");
    if (rc != CUE_SUCCESS || err != CUE_SUCCESS)
        fprintf(stderr, "CUnit: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    if (rc != CUE_SUCCESS || err != CUE_SUCCESS || failures ||
        tests_failed || suites_failed)
        return 1;
    if (ran == 0) {
        fprintf(stderr, "CUnit: no test ran\n");
        return 1;
    }
    return 0;
}

/* Run one suite made of tests (CU_TEST_INFO_NULL-terminated). */
static inline int
unit_run_tests(const char *name, CU_TestInfo *tests)
{
    CU_SuiteInfo suites[] = {
        { .pName = name, .pTests = tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}

/* True when got[0..glen) equals want[0..wlen); else print the first
 * difference on stderr. */
static inline bool
unit_mem_eq(const void *got, size_t glen, const void *want, size_t wlen)
{
    const uint8_t *g = got, *w = want;
    size_t n = glen < wlen ? glen : wlen;
    size_t i = 0;

    while (i < n && g[i] == w[i])
        i++;
    if (i == n && glen == wlen)
        return true;
    fprintf(stderr, "\n    bytes differ: got %zu bytes, want %zu; ",
            glen, wlen);
    if (i < n)
        fprintf(stderr, "first difference at %zu: got 0x%02x, want 0x%02x\n",
                i, g[i], w[i]);
    else
        fprintf(stderr, "one is a prefix of the other\n");
    return false;
}

/*
 * Run fn(arg) with stderr going to a temporary file, and give back what it
 * wrote in out (NUL-terminated, cut at len - 1 bytes).  Returns fn's value.
 */
static inline int
unit_stderr_of(int (*fn)(const void *), const void *arg, char *out,
               size_t len)
{
    FILE *tmp = tmpfile();
    int saved = dup(STDERR_FILENO);
    CU_ASSERT_FATAL(tmp != NULL && saved >= 0);
    fflush(stderr);
    dup2(fileno(tmp), STDERR_FILENO);
    int rc = fn(arg);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(out, 1, len - 1, tmp);
    out[n] = '\0';
    fclose(tmp);
    return rc;
}

/* The usual main(): one suite, named after its module. */
static inline int
unit_main(const char *name, CU_InitializeFunc init, CU_CleanupFunc cleanup,
          CU_TestInfo *tests)
{
    CU_SuiteInfo suites[] = {
        { .pName = (char *)name, .pInitFunc = init, .pCleanupFunc = cleanup,
          .pTests = tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}

#endif
