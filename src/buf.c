/*
 * buf: growable byte buffer (see buf.h).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "mem.h"

int
evf_buf_reserve(evf_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n)
        return 0;
    /* Reuse the consumed prefix before growing. */
    if (b->off && b->cap - (b->len - b->off) >= n) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
        return 0;
    }
    if (n > SIZE_MAX / 2 - b->len)
        return -ENOMEM;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    uint8_t *d = evf_realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    return 0;
}

int
evf_buf_append(evf_buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    int rc = evf_buf_reserve(b, n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

void
evf_buf_consume(evf_buf_t *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        b->off = b->len = 0;
}

void
evf_buf_free(evf_buf_t *b)
{
    evf_free(b->data);
    *b = (evf_buf_t){ 0 };
}
