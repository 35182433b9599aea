/*
 * test_convert: suite "convert".
 *
 * Typed conversion as pydantic judges it: evf_convert_int (sign, spaces,
 * int64 bounds, too many digits), _float (no hexadecimal, inf and nan
 * accepted), _bool (pydantic's words in any case); that only len bytes
 * are read (inputs come from exact-size copies); the error types and
 * messages word for word, as FastAPI's 422 carries them; and that a
 * refused text leaves *out alone.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "unit.h"

static void
test_convert_int(void)
{
    static const struct {
        const char *s;
        const char *err;    /* NULL: valid */
        int64_t v;
    } cases[] = {
        { "42", NULL, 42 },
        { "-7", NULL, -7 },
        { "+3", NULL, 3 },
        { " 5 ", NULL, 5 },
        { "0", NULL, 0 },
        { "007", NULL, 7 },
        { "9223372036854775807", NULL, INT64_MAX },
        { "-9223372036854775808", NULL, INT64_MIN },
        { "abc", "int_parsing", 0 },
        { "", "int_parsing", 0 },
        { " ", "int_parsing", 0 },
        { "-", "int_parsing", 0 },
        { "1.5", "int_parsing", 0 },
        { "1 2", "int_parsing", 0 },
        { "12a", "int_parsing", 0 },
        { "--1", "int_parsing", 0 },
        { "9223372036854775808", "int_parsing_size", 0 },
        { "-9223372036854775809", "int_parsing_size", 0 },
        { "1234567890123456789012345678901234567890", "int_parsing_size",
          0 },
        /* pydantic's cleaning (clean_int_str): a fraction of zeros,
         * underscores between digits, leading zeros. */
        { "5.0", NULL, 5 },
        { "-12.000", NULL, -12 },
        { "0.0", NULL, 0 },
        { "00.00", NULL, 0 },
        { "1_000", NULL, 1000 },
        { "-1_2_3", NULL, -123 },
        { "0_0", NULL, 0 },
        { "000_1", NULL, 1 },
        { "+0", NULL, 0 },
        { "5.", "int_parsing", 0 },
        { ".0", "int_parsing", 0 },
        { "5.01", "int_parsing", 0 },
        { "1__0", "int_parsing", 0 },
        { "_1", "int_parsing", 0 },
        { "1_", "int_parsing", 0 },
        { "+-1", "int_parsing", 0 },
        { "-+1", "int_parsing", 0 },
        { "1e3", "int_parsing", 0 },
        { "0x10", "int_parsing", 0 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t v = 12345;
        const char *msg = NULL;
        /* From an exact-size copy: no reliance on a terminator. */
        size_t len = strlen(cases[i].s);
        char *s = malloc(len ? len : 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(s);
        memcpy(s, cases[i].s, len);
        const char *e = evf_convert_int(s, len, &v, &msg);
        free(s);
        if (cases[i].err) {
            CU_ASSERT_PTR_NOT_NULL(e);
            if (e) {
                CU_ASSERT_STRING_EQUAL(e, cases[i].err);
            }
            CU_ASSERT_TRUE(msg && msg[0]);
            if (!e || strcmp(e, cases[i].err))
                fprintf(stderr, "\n    '%s': %s\n", cases[i].s,
                        e ? e : "accepted");
        } else {
            CU_ASSERT_PTR_NULL(e);
            CU_ASSERT_EQUAL(v, cases[i].v);
            if (e || v != cases[i].v)
                fprintf(stderr, "\n    '%s': %s\n", cases[i].s,
                        e ? e : "wrong value");
        }
    }
    /* Only len bytes count. */
    int64_t v = 0;
    const char *msg;
    CU_ASSERT_PTR_NULL(evf_convert_int("42/rest", 2, &v, &msg));
    CU_ASSERT_EQUAL(v, 42);
}

static void
test_convert_float(void)
{
    double v = 0;
    const char *msg = NULL;

    CU_ASSERT_PTR_NULL(evf_convert_float("1.5", 3, &v, &msg));
    CU_ASSERT_DOUBLE_EQUAL(v, 1.5, 0);
    CU_ASSERT_PTR_NULL(evf_convert_float("1e3", 3, &v, &msg));
    CU_ASSERT_DOUBLE_EQUAL(v, 1000.0, 0);
    CU_ASSERT_PTR_NULL(evf_convert_float("-2", 2, &v, &msg));
    CU_ASSERT_DOUBLE_EQUAL(v, -2.0, 0);
    CU_ASSERT_PTR_NULL(evf_convert_float(" 0.25 ", 6, &v, &msg));
    CU_ASSERT_DOUBLE_EQUAL(v, 0.25, 0);
    CU_ASSERT_PTR_NULL(evf_convert_float("inf", 3, &v, &msg));
    CU_ASSERT_TRUE(isinf(v) && v > 0);
    CU_ASSERT_PTR_NULL(evf_convert_float("-inf", 4, &v, &msg));
    CU_ASSERT_TRUE(isinf(v) && v < 0);
    CU_ASSERT_PTR_NULL(evf_convert_float("nan", 3, &v, &msg));
    CU_ASSERT_TRUE(isnan(v));
    /* Only len bytes count. */
    CU_ASSERT_PTR_NULL(evf_convert_float("2.5xyz", 3, &v, &msg));
    CU_ASSERT_DOUBLE_EQUAL(v, 2.5, 0);

    static const char *const bad[] = {
        "abc", "0x10", "0X1p3", "", " ", "1.5.2", "1e", "--1", "1,5",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg = NULL;
        const char *e = evf_convert_float(bad[i], strlen(bad[i]), &v, &msg);
        CU_ASSERT_PTR_NOT_NULL(e);
        if (e) {
            CU_ASSERT_STRING_EQUAL(e, "float_parsing");
        } else {
            fprintf(stderr, "\n    accepted: '%s'\n", bad[i]);
        }
        CU_ASSERT_TRUE(msg && msg[0]);
    }
}

static void
test_convert_bool(void)
{
    static const char *const yes[] = {
        "true", "yes", "1", "on", "True", "YES", "t", "y",
    };
    static const char *const no[] = {
        "false", "no", "0", "off", "FALSE", "Off", "f", "n",
    };
    static const char *const bad[] = {
        "maybe", "", "2", "tru", "yess", "truetrue", " true",
    };
    bool v;
    const char *msg;

    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        v = false;
        CU_ASSERT_PTR_NULL(evf_convert_bool(yes[i], strlen(yes[i]), &v,
                                            &msg));
        CU_ASSERT_TRUE(v);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        v = true;
        CU_ASSERT_PTR_NULL(evf_convert_bool(no[i], strlen(no[i]), &v, &msg));
        CU_ASSERT_FALSE(v);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        msg = NULL;
        const char *e = evf_convert_bool(bad[i], strlen(bad[i]), &v, &msg);
        CU_ASSERT_PTR_NOT_NULL(e);
        if (e) {
            CU_ASSERT_STRING_EQUAL(e, "bool_parsing");
        }
        CU_ASSERT_TRUE(msg && msg[0]);
    }
    /* Only len bytes count. */
    v = false;
    CU_ASSERT_PTR_NULL(evf_convert_bool("yes!", 3, &v, &msg));
    CU_ASSERT_TRUE(v);
}

/* The messages FastAPI puts in a 422, word for word. */
static void
test_messages(void)
{
    int64_t i;
    double f;
    bool b;
    const char *msg = NULL;

    CU_ASSERT_STRING_EQUAL(evf_convert_int("x", 1, &i, &msg),
                           "int_parsing");
    CU_ASSERT_STRING_EQUAL(msg, "Input should be a valid integer, unable "
                           "to parse string as an integer");
    msg = NULL;
    CU_ASSERT_STRING_EQUAL(evf_convert_int("99999999999999999999", 20, &i,
                                           &msg), "int_parsing_size");
    CU_ASSERT_STRING_EQUAL(msg, "Unable to parse input string as an "
                           "integer, exceeded maximum size");
    msg = NULL;
    CU_ASSERT_STRING_EQUAL(evf_convert_float("x", 1, &f, &msg),
                           "float_parsing");
    CU_ASSERT_STRING_EQUAL(msg, "Input should be a valid number, unable "
                           "to parse string as a number");
    msg = NULL;
    CU_ASSERT_STRING_EQUAL(evf_convert_bool("x", 1, &b, &msg),
                           "bool_parsing");
    CU_ASSERT_STRING_EQUAL(msg, "Input should be a valid boolean, unable "
                           "to interpret input");
}

/* A refused text does not touch *out. */
static void
test_out_untouched(void)
{
    int64_t i = 77;
    double f = 7.5;
    bool b = true;
    const char *msg;

    CU_ASSERT_PTR_NOT_NULL(evf_convert_int("1x", 2, &i, &msg));
    CU_ASSERT_EQUAL(i, 77);
    CU_ASSERT_PTR_NOT_NULL(evf_convert_int("99999999999999999999", 20, &i,
                                           &msg));
    CU_ASSERT_EQUAL(i, 77);
    CU_ASSERT_PTR_NOT_NULL(evf_convert_float("1x", 2, &f, &msg));
    CU_ASSERT_DOUBLE_EQUAL(f, 7.5, 0);
    CU_ASSERT_PTR_NOT_NULL(evf_convert_bool("nope", 4, &b, &msg));
    CU_ASSERT_TRUE(b);
}

static CU_TestInfo tests[] = {
    { "evf_convert_int", test_convert_int },
    { "evf_convert_float", test_convert_float },
    { "evf_convert_bool", test_convert_bool },
    { "error types and messages", test_messages },
    { "refused text leaves *out alone", test_out_untouched },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    return unit_run_tests("convert", tests);
}
