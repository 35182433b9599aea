/*
 * url: percent-decoding and query splitting (see url.h).
 */
#include "config.h"

#include <string.h>

#include "url.h"

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

size_t
evf_pct_decode(char *dst, const char *src, size_t len, bool plus_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%') {
            int h = i + 1 < len ? hexval((unsigned char)src[i + 1]) : -1;
            int l = i + 2 < len ? hexval((unsigned char)src[i + 2]) : -1;
            if (h >= 0 && l >= 0) {
                dst[o++] = (char)(h << 4 | l);
                i += 2;
                continue;
            }
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return o;
}

size_t
evf_url_query_max(const char *qs, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += qs[i] == '&';
    return n;
}

bool
evf_url_query_next(const char *qs, size_t len, size_t *pos,
                   evf_url_field_t *f)
{
    size_t i = *pos;
    while (i < len) {
        const char *p = qs + i;
        const char *amp = memchr(p, '&', len - i);
        size_t flen = amp ? (size_t)(amp - p) : len - i;
        i += flen + (amp != NULL);
        if (flen == 0)
            continue;
        const char *eq = memchr(p, '=', flen);
        f->name = p;
        f->nlen = eq ? (size_t)(eq - p) : flen;
        f->has_value = eq != NULL;
        f->value = eq ? eq + 1 : "";
        f->vlen = eq ? flen - f->nlen - 1 : 0;
        *pos = i;
        return true;
    }
    *pos = i;
    return false;
}
