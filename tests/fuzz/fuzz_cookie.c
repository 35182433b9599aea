/*
 * fuzz_cookie: libFuzzer harness for the Cookie header and Set-Cookie
 * values (cookie.c).
 *
 * The input is a Cookie header (any bytes, NUL included), split with
 * evf_cookie_next from an exact-size heap copy (so ASan sees a read past
 * its end): every cookie lies inside the input, past the previous one,
 * has no ';', no '=' in its name, no blank at either end, is not empty,
 * and no more come than evf_cookie_max; unquoting a value never grows it.
 * Then the input, cut at its first NUL into a name and a value (the
 * second NUL-free piece), goes to evf_cookie_format: whatever it accepts
 * starts with "name=value", passes evf_cookie_name_ok and _value_ok, and
 * holds no byte a header could be split at (CR, LF, NUL, other controls).
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays tests/fuzz/corpus-cookie without libFuzzer.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            fail(__FILE__, __LINE__, #cond); \
    } while (0)

static void fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

static void
fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

static int
blank(char c)
{
    return c == ' ' || c == '\t';
}

static void
check_split(const char *h, size_t size)
{
    size_t max = evf_cookie_max(h, size), pos = 0, n = 0;
    const char *last = h;
    evf_cookie_field_t f;
    while (evf_cookie_next(h, size, &pos, &f)) {
        n++;
        CHECK(n <= max);
        CHECK(pos <= size);
        CHECK(f.nlen + f.vlen > 0);
        CHECK(f.name >= last && f.name + f.nlen <= h + size);
        CHECK(f.value >= last && f.value + f.vlen <= h + size);
        CHECK(!memchr(f.name, ';', f.nlen) && !memchr(f.value, ';', f.vlen));
        CHECK(!memchr(f.name, '=', f.nlen));
        if (f.nlen)
            CHECK(!blank(f.name[0]) && !blank(f.name[f.nlen - 1]));
        if (f.vlen)
            CHECK(!blank(f.value[0]) && !blank(f.value[f.vlen - 1]));
        char *u = malloc(f.vlen + 1);
        if (!u)
            abort();
        size_t ul = evf_cookie_unquote(u, f.value, f.vlen);
        CHECK(ul <= f.vlen && u[ul] == '\0');
        free(u);
        last = f.value + f.vlen > f.name + f.nlen ? f.value + f.vlen
                                                   : f.name + f.nlen;
    }
    CHECK(pos == size);
}

static void
check_format(const char *name, const char *value)
{
    static const evf_cookie_opts variants[] = {
        { 0 },
        { .has_max_age = true, .max_age = 60, .expires = 1700000000,
          .path = "/a", .domain = "example.test", .secure = true,
          .httponly = true, .samesite = EVF_SAMESITE_STRICT },
    };
    char buf[256];
    for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        int n = evf_cookie_format(buf, sizeof(buf), name, value,
                                  &variants[i]);
        if (n < 0)
            continue;
        CHECK((size_t)n == strlen(buf) && (size_t)n < sizeof(buf));
        CHECK(evf_cookie_name_ok(name) && evf_cookie_value_ok(value));
        size_t nl = strlen(name), vl = strlen(value);
        CHECK(strncmp(buf, name, nl) == 0 && buf[nl] == '=');
        CHECK(strncmp(buf + nl + 1, value, vl) == 0);
        for (int k = 0; k < n; k++)
            CHECK((unsigned char)buf[k] >= 0x20 &&
                  (unsigned char)buf[k] != 0x7f);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *h = malloc(size ? size : 1);
    if (!h)
        abort();
    if (size)
        memcpy(h, data, size);
    check_split(h, size);
    free(h);

    char *s = malloc(size + 2);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = s[size + 1] = '\0';
    const char *name = s;
    const char *value = s + strlen(s) + 1;
    if (value > s + size)
        value = s + size;       /* no NUL: the value is empty */
    check_format(name, value);
    free(s);
    return 0;
}
