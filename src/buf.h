/*
 * buf: a growable byte buffer with a consumed prefix.
 *
 * Data lives in [data + off, data + len).  Appends grow the buffer
 * geometrically, and only by what is appended: nothing here sizes an
 * allocation from a length a peer claimed.  A zero-filled evf_buf_t is an
 * empty buffer.
 */
#ifndef EVF_BUF_H
#define EVF_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct evf_buf {
    uint8_t *data;
    size_t off;     /* consumed prefix */
    size_t len;     /* end of data */
    size_t cap;
} evf_buf_t;

static inline size_t
evf_buf_used(const evf_buf_t *b)
{
    return b->len - b->off;
}

/* Make room for n more bytes.  Returns 0 or -ENOMEM. */
int evf_buf_reserve(evf_buf_t *b, size_t n);
/* Append n bytes.  Returns 0 or -ENOMEM. */
int evf_buf_append(evf_buf_t *b, const void *p, size_t n);
/* Mark n bytes consumed; resets to empty when everything was. */
void evf_buf_consume(evf_buf_t *b, size_t n);
/* Free the storage; the buffer is empty and reusable. */
void evf_buf_free(evf_buf_t *b);

#endif
