/*
 * model_text: JSON text and numbers for models: the UTF-8 and grammar
 * checks json-c leaves out, Python's float repr (ctx values, responses)
 * and Rust's float display (pydantic-core's messages).  Pure.
 */
#include "config.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_int.h"
#include "url.h"

/* The shortest decimal digits that read back as d, and d's exponent. */
static size_t
shortest(double d, char *digits, size_t cap, int *exp, bool *neg)
{
    char e[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    const char *p = e;
    size_t nd = 0;
    *neg = *p == '-';
    if (*neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < cap - 1)
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    *exp = *p == 'e' ? atoi(p + 1) : 0;
    return nd;
}

/* Positional: 1.5, 0.0000001, 100 (with frac, integral ones end ".0"). */
static void
positional(const char *digits, size_t nd, int exp, bool neg, bool frac,
           char *buf, size_t len)
{
    size_t o = 0;
#define PUT(c) do { if (o + 1 < len) buf[o++] = (c); } while (0)
    if (neg)
        PUT('-');
    if (exp < 0) {
        PUT('0');
        PUT('.');
        for (int i = -1; i > exp; i--)
            PUT('0');
        for (size_t i = 0; i < nd; i++)
            PUT(digits[i]);
    } else {
        for (int i = 0; i <= exp; i++)
            PUT((size_t)i < nd ? digits[i] : '0');
        if ((size_t)exp + 1 < nd) {
            PUT('.');
            for (size_t i = (size_t)exp + 1; i < nd; i++)
                PUT(digits[i]);
        } else if (frac) {
            PUT('.');
            PUT('0');
        }
    }
#undef PUT
    buf[o] = '\0';
}

void
evf_model_float_repr(double d, char *buf, size_t len)
{
    if (isnan(d) || isinf(d)) {
        snprintf(buf, len, "%s", isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
        return;
    }
    char digits[24];
    int exp;
    bool neg;
    size_t nd = shortest(d, digits, sizeof(digits), &exp, &neg);
    /* Python writes 1e-05 and 1e+16, but 0.0001 and 1000000000000000.0. */
    if (exp >= -4 && exp < 16) {
        positional(digits, nd, exp, neg, true, buf, len);
        return;
    }
    snprintf(buf, len, "%s%c%s%se%c%02d", neg ? "-" : "", digits[0],
             nd > 1 ? "." : "", digits + 1, exp < 0 ? '-' : '+',
             exp < 0 ? -exp : exp);
}

/*
 * d as Rust's Display writes an f64 (pydantic-core renders its messages
 * so): the shortest digits that read back the same, never an exponent,
 * no ".0" on integral values ("0", "1.5", "0.0000001").
 */
void
evf__model_rust_float(double d, char *buf, size_t len)
{
    if (isnan(d) || isinf(d)) {
        snprintf(buf, len, "%s", isnan(d) ? "NaN" : d < 0 ? "-inf" : "inf");
        return;
    }
    char digits[24];
    int exp;
    bool neg;
    size_t nd = shortest(d, digits, sizeof(digits), &exp, &neg);
    positional(digits, nd, exp, neg, false, buf, len);
}

/*
 * The end of the longest JSON number at s[i] (RFC 8259, and json.loads's
 * -Infinity), as Python's scanner takes it; i itself when none starts
 * there.
 */
static size_t
json_number_end(const char *s, size_t len, size_t i)
{
#define DIGIT(k) ((k) < len && s[k] >= '0' && s[k] <= '9')
    size_t start = i;
    if (i < len && s[i] == '-')
        i++;
    if (i + 8 <= len && memcmp(s + i, "Infinity", 8) == 0)
        return i + 8;
    if (i < len && s[i] == '0')
        i++;
    else if (DIGIT(i))
        while (DIGIT(i))
            i++;
    else
        return start;
    if (i < len && s[i] == '.' && DIGIT(i + 1))
        for (i++; DIGIT(i); i++)
            ;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t k = i + 1;
        if (k < len && (s[k] == '+' || s[k] == '-'))
            k++;
        if (DIGIT(k))
            for (i = k; DIGIT(i); i++)
                ;
    }
    return i;
#undef DIGIT
}

size_t
evf_model_json_error(const char *s, size_t len, const char **why)
{
    static const char *const words[] = { "true", "false", "null", "NaN",
                                         "Infinity" };
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '"') {
            for (i++; i < len && s[i] != '"'; i++) {
                if ((unsigned char)s[i] < 0x20) {
                    *why = "Invalid control character";
                    return i + 1;
                }
                if (s[i] == '\\')
                    i++;
            }
            i++;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t end = json_number_end(s, len, i);
            if (end == i) {
                *why = "Expecting value";
                return i + 1;
            }
            if (end < len && !strchr(",]} \t\r\n", s[end])) {
                *why = "Invalid number";
                return end + 1;
            }
            i = end;
        } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            size_t end = i, k = 0;
            while (end < len && ((s[end] >= 'a' && s[end] <= 'z') ||
                                 (s[end] >= 'A' && s[end] <= 'Z')))
                end++;
            while (k < sizeof(words) / sizeof(words[0]) &&
                   (strlen(words[k]) != end - i ||
                    memcmp(words[k], s + i, end - i) != 0))
                k++;
            if (k == sizeof(words) / sizeof(words[0])) {
                *why = "Expecting value";
                return i + 1;
            }
            i = end;
        } else {
            i++;
        }
    }
    return 0;
}

size_t
evf_model_utf8_error(const char *body, size_t len)
{
    const unsigned char *p = (const unsigned char *)body;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = evf_utf8_seq(p + i, len - i);
        if (!n)
            return i + 1;
        i += n;
    }
    return 0;
}
