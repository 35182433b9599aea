/*
 * fcgi_params: name-value pair codec (see fcgi_params.h).
 */
#include "config.h"

#include <string.h>

#include "fcgi_params.h"

/* Read one length at *pos; returns 0, or -1 when its bytes are not in. */
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
evf_fcgi_params_next(evf_fcgi_scan_t *s, const uint8_t *buf, size_t len,
                     size_t limit, evf_fcgi_pair_t *pair)
{
    size_t pos = s->pos, nlen, vlen;

    if (read_len(buf, len, &pos, &nlen) < 0 ||
        read_len(buf, len, &pos, &vlen) < 0)
        return 0;
    /* Compare against what the limit leaves, never add claimed lengths. */
    if (pos > limit || nlen > limit - pos || vlen > limit - pos - nlen)
        return EVF_FCGI_EPAIR;
    if (nlen > len - pos || vlen > len - pos - nlen)
        return 0;
    pair->name = buf + pos;
    pair->nlen = nlen;
    pair->value = buf + pos + nlen;
    pair->vlen = vlen;
    s->pos = pos + nlen + vlen;
    return 1;
}

int
evf_fcgi_params_decode(const uint8_t *buf, size_t len, evf_fcgi_pair_cb cb,
                       void *ud)
{
    evf_fcgi_scan_t s = { 0 };
    evf_fcgi_pair_t p;
    int rc;

    /* The stream is complete: it is its own limit. */
    while ((rc = evf_fcgi_params_next(&s, buf, len, len, &p)) > 0) {
        rc = cb(ud, p.name, p.nlen, p.value, p.vlen);
        if (rc)
            return rc;
    }
    if (rc < 0 || s.pos != len)
        return EVF_FCGI_EPAIR;
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
