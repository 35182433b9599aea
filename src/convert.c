/*
 * convert: typed conversion with pydantic's rules (see convert.h).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"

const char *
evf_convert_int(const char *s, size_t len, int64_t *out, const char **msg)
{
    char tmp[32];
    size_t i = 0;
    /* pydantic accepts surrounding whitespace and an optional sign. */
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    while (i < len && isspace((unsigned char)s[i]))
        i++;
    size_t start = i;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    size_t digits = i;
    while (i < len && isdigit((unsigned char)s[i]))
        i++;
    if (i == digits || i != len) {
        *msg = "Input should be a valid integer, unable to parse string as "
               "an integer";
        return "int_parsing";
    }
    if (len - start >= sizeof(tmp)) {
        *msg = "Unable to parse input string as an integer, exceeded "
               "maximum size";
        return "int_parsing_size";
    }
    memcpy(tmp, s + start, len - start);
    tmp[len - start] = '\0';
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


size_t
evf_format_u64(char *dst, uint64_t v)
{
    char tmp[EVF_U64_DIGITS];
    size_t n = 0;
    do {
        tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    memcpy(dst, tmp + sizeof(tmp) - n, n);
    return n;
}
