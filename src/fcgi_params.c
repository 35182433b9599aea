/*
 * fcgi_params: name-value pair codec (see fcgi_params.h).
 */
#include "config.h"

#include <string.h>

#include "fcgi_params.h"

/* Read one length at *pos; returns 0, or -1 when the bytes run out. */
static int
read_len(const uint8_t *buf, size_t len, size_t *pos, size_t *out)
{
    if (*pos >= len)
        return -1;
    const uint8_t *p = buf + *pos;
    if (!(p[0] & 0x80)) {
        *out = p[0];
        *pos += 1;
        return 0;
    }
    if (len - *pos < 4)
        return -1;
    *out = (size_t)(p[0] & 0x7f) << 24 | (size_t)p[1] << 16 |
           (size_t)p[2] << 8 | p[3];
    *pos += 4;
    return 0;
}

int
evf_fcgi_params_decode(const uint8_t *buf, size_t len, evf_fcgi_pair_cb cb,
                       void *ud)
{
    size_t pos = 0;

    while (pos < len) {
        size_t nlen, vlen;
        if (read_len(buf, len, &pos, &nlen) < 0 ||
            read_len(buf, len, &pos, &vlen) < 0)
            return EVF_FCGI_EPAIR;
        /* Compare against what remains, never add claimed lengths. */
        if (nlen > len - pos || vlen > len - pos - nlen)
            return EVF_FCGI_EPAIR;
        int rc = cb(ud, buf + pos, nlen, buf + pos + nlen, vlen);
        if (rc)
            return rc;
        pos += nlen + vlen;
    }
    return 0;
}

static size_t
len_size(size_t n)
{
    return n < 128 ? 1 : 4;
}

size_t
evf_fcgi_pair_size(size_t nlen, size_t vlen)
{
    return len_size(nlen) + len_size(vlen) + nlen + vlen;
}

static uint8_t *
put_len(uint8_t *p, size_t n)
{
    if (n < 128) {
        *p++ = (uint8_t)n;
        return p;
    }
    *p++ = (uint8_t)(0x80 | ((n >> 24) & 0x7f));
    *p++ = (uint8_t)(n >> 16);
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n;
    return p;
}

size_t
evf_fcgi_pair_encode(uint8_t *out, const void *name, size_t nlen,
                     const void *value, size_t vlen)
{
    uint8_t *p = put_len(out, nlen);
    p = put_len(p, vlen);
    memcpy(p, name, nlen);
    p += nlen;
    if (vlen)
        memcpy(p, value, vlen);
    p += vlen;
    return (size_t)(p - out);
}
