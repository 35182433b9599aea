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

size_t
evf_utf8_seq(const unsigned char *p, size_t left)
{
    if (!left)
        return 0;
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;          /* no overlong form */
        else if (c == 0xed)
            hi = 0x9f;          /* no surrogate */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;          /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (left < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

size_t
evf_utf8_scrub(char *dst, const char *src, size_t len)
{
    const unsigned char *p = (const unsigned char *)src;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = evf_utf8_seq(p + i, len - i);
        if (n) {
            memcpy(dst + o, p + i, n);
            o += n;
            i += n;
        } else {
            memcpy(dst + o, "\xef\xbf\xbd", 3);     /* U+FFFD */
            o += 3;
            i++;
        }
    }
    dst[o] = '\0';
    return o;
}
