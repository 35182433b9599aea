/*
 * convert: typed conversion with pydantic's rules (see convert.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

/*
 * The digits of an integer written as pydantic reads one (clean_int_str):
 * leading zeros dropped (0 kept alone), a fraction of zeros dropped
 * ("5.00"), single underscores between digits dropped ("1_000").  s has
 * no sign or space left.  Writes [-]digits to out (cap bytes); false when
 * it is not an integer.
 */
static bool
clean_int(const char *s, size_t len, bool neg, char *out, size_t cap)
{
    size_t i = 0;
    if (len == 0)
        return false;
    if (s[0] == '0') {
        /* Zeros and underscores; a '.' keeps the last zero before it. */
        i = 1;
        while (i < len && (s[i] == '0' || s[i] == '_'))
            i++;
        if (i == len)
            i = len - 1;            /* all zeros: the last character */
        else if (s[i] == '.')
            i--;
        else if (s[i] < '1' || s[i] > '9')
            return false;
    } else if (s[0] < '1' || s[0] > '9') {
        return false;
    }
    s += i, len -= i;
    const char *dot = memchr(s, '.', len);
    if (dot && dot + 1 < s + len) {
        const char *p = dot + 1;
        while (p < s + len && *p == '0')
            p++;
        if (p == s + len)
            len = (size_t)(dot - s);    /* "5.000" is 5 */
    }
    if (len == 0 || s[0] == '_' || s[len - 1] == '_')
        return false;
    size_t o = 0;
    if (neg)
        out[o++] = '-';
    for (size_t k = 0; k < len; k++) {
        if (s[k] == '_') {
            if (s[k + 1] == '_')        /* k + 1 < len: s[len - 1] != '_' */
                return false;
            continue;
        }
        if (s[k] < '0' || s[k] > '9' || o + 1 >= cap)
            return false;
        out[o++] = s[k];
    }
    out[o] = '\0';
    return o > (size_t)neg;
}

const char *
evf_convert_int(const char *s, size_t len, int64_t *out, const char **msg)
{
    char tmp[32];
    /* pydantic accepts surrounding whitespace, an optional sign, leading
     * zeros, a fraction of zeros and underscores between digits. */
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    while (len && isspace((unsigned char)*s))
        s++, len--;
    bool neg = false;
    if (len && *s == '+')
        s++, len--;
    else if (len && *s == '-')
        s++, len--, neg = true;
    size_t digits = 0;
    while (digits < len && isdigit((unsigned char)s[digits]))
        digits++;
    if (digits >= sizeof(tmp) - 1 && digits == len) {
        *msg = "Unable to parse input string as an integer, exceeded "
               "maximum size";
        return "int_parsing_size";
    }
    if (!clean_int(s, len, neg, tmp, sizeof(tmp))) {
        *msg = "Input should be a valid integer, unable to parse string as "
               "an integer";
        return "int_parsing";
    }
    errno = 0;
    long long v = strtoll(tmp, NULL, 10);
    if (errno == ERANGE) {
        *msg = "Unable to parse input string as an integer, exceeded "
               "maximum size";
        return "int_parsing_size";
    }
    *out = v;
    return NULL;
}

const char *
evf_convert_float(const char *s, size_t len, double *out, const char **msg)
{
    char tmp[64];
    *msg = "Input should be a valid number, unable to parse string as a "
           "number";
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    while (len && isspace((unsigned char)*s))
        s++, len--;
    if (len == 0 || len >= sizeof(tmp))
        return "float_parsing";
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    /* strtod also takes hex floats and "infinity"; pydantic takes "inf"
     * and "nan" but not hex. */
    for (size_t i = 0; i < len; i++)
        if (tmp[i] == 'x' || tmp[i] == 'X')
            return "float_parsing";
    char *end;
    double v = strtod(tmp, &end);
    if (*end != '\0')
        return "float_parsing";
    *out = v;
    return NULL;
}

const char *
evf_convert_bool(const char *s, size_t len, bool *out, const char **msg)
{
    static const char *const yes[] = { "1", "on", "t", "true", "y", "yes" };
    static const char *const no[] = { "0", "off", "f", "false", "n", "no" };
    char tmp[8];
    if (len >= sizeof(tmp))
        goto bad;
    for (size_t i = 0; i < len; i++)
        tmp[i] = (char)tolower((unsigned char)s[i]);
    tmp[len] = '\0';
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(tmp, yes[i]) == 0) {
            *out = true;
            return NULL;
        }
        if (strcmp(tmp, no[i]) == 0) {
            *out = false;
            return NULL;
        }
    }
bad:
    *msg = "Input should be a valid boolean, unable to interpret input";
    return "bool_parsing";
}

