/*
 * fcgi_wire.h: the FastCGI wire format for the test and bench clients
 * (tests/unit/fcgi_peer.h, tests/tools/fcgi_client.c, bench/fcgi_load.c).
 *
 * A growable byte buffer (fw_buf), record headers (fw_hdr_put, fw_hdr_get),
 * whole records and streams cut into records (fw_rec_add, fw_stream_add,
 * fw_begin_add), name-value pairs (fw_nv_putlen, fw_nv_add, fw_nv_get) and
 * the names of protocol statuses.  Every field is encoded and decoded byte
 * by byte, never by laying a struct over a buffer.  Needs only libc and the
 * constants of <fastcgi.h>.  All is static inline, in the program that
 * includes it; running out of memory ends the program (exit status 2).
 */
#ifndef EVF_TESTS_FCGI_WIRE_H
#define EVF_TESTS_FCGI_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fastcgi.h>

/* realloc, or end the program: a test client has no way on without it. */
static inline void *
fw_realloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        fputs("fcgi_wire: out of memory\n", stderr);
        exit(2);
    }
    return p;
}

/* ---- growable byte buffer ---- */

struct fw_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

/* Ensures room for n more bytes and returns where they go. */
static inline uint8_t *
fw_room(struct fw_buf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap - b->len < n)
            cap *= 2;
        b->p = fw_realloc(b->p, cap);
        b->cap = cap;
    }
    return b->p + b->len;
}

static inline void
fw_add(struct fw_buf *b, const void *d, size_t n)
{
    if (n > 0) {
        memcpy(fw_room(b, n), d, n);
        b->len += n;
    }
}

/* ---- FastCGI wire format ---- */

struct fw_rec {
    int ver;
    int type;
    unsigned id;
    size_t clen;
    size_t plen;
};

static inline void
fw_hdr_put(uint8_t *p, int ver, int type, unsigned id, size_t clen, size_t plen)
{
    p[0] = (uint8_t)ver;
    p[1] = (uint8_t)type;
    p[2] = (uint8_t)(id >> 8);
    p[3] = (uint8_t)id;
    p[4] = (uint8_t)(clen >> 8);
    p[5] = (uint8_t)clen;
    p[6] = (uint8_t)plen;
    p[7] = 0;
}

static inline void
fw_hdr_get(const uint8_t *p, struct fw_rec *r)
{
    r->ver = p[0];
    r->type = p[1];
    r->id = (unsigned)p[2] << 8 | p[3];
    r->clen = (size_t)p[4] << 8 | p[5];
    r->plen = p[6];
}

/* Padding that brings a content length to a multiple of 8, as nginx does. */
static inline size_t
fw_pad8(size_t n)
{
    return (8 - (n & 7)) & 7;
}

/* Appends one record.  Contract: n <= FCGI_MAX_LENGTH, pad <= 255. */
static inline void
fw_rec_add(struct fw_buf *b, int type, unsigned id, const void *d, size_t n,
        size_t pad)
{
    uint8_t *p = fw_room(b, FCGI_HEADER_LEN + n + pad);

    fw_hdr_put(p, FCGI_VERSION_1, type, id, n, pad);
    if (n > 0)
        memcpy(p + FCGI_HEADER_LEN, d, n);
    memset(p + FCGI_HEADER_LEN + n, 0, pad);
    b->len += FCGI_HEADER_LEN + n + pad;
}

/* Appends stream data as records of at most 65535 bytes; no terminator. */
static inline void
fw_stream_add(struct fw_buf *b, int type, unsigned id, const uint8_t *d,
              size_t n)
{
    while (n > 0) {
        size_t k = n < FCGI_MAX_LENGTH ? n : FCGI_MAX_LENGTH;

        fw_rec_add(b, type, id, d, k, fw_pad8(k));
        d += k;
        n -= k;
    }
}

static inline void
fw_begin_add(struct fw_buf *b, unsigned id, int role, int flags)
{
    uint8_t body[8] = { 0 };

    body[0] = (uint8_t)(role >> 8);
    body[1] = (uint8_t)role;
    body[2] = (uint8_t)flags;
    fw_rec_add(b, FCGI_BEGIN_REQUEST, id, body, sizeof body, 0);
}

/* Name-value lengths: one byte below 128, else four with the top bit set. */
static inline uint8_t *
fw_nv_putlen(uint8_t *p, size_t n)
{
    if (n < 128) {
        *p++ = (uint8_t)n;
        return p;
    }
    *p++ = (uint8_t)(n >> 24 | 0x80);
    *p++ = (uint8_t)(n >> 16);
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n;
    return p;
}

static inline void
fw_nv_add(struct fw_buf *b, const char *name, size_t nl, const char *val,
          size_t vl)
{
    uint8_t *p = fw_room(b, 8 + nl + vl), *q;

    q = fw_nv_putlen(p, nl);
    q = fw_nv_putlen(q, vl);
    memcpy(q, name, nl);
    q += nl;
    if (vl > 0)
        memcpy(q, val, vl);
    q += vl;
    b->len += (size_t)(q - p);
}

static inline int
fw_nv_getlen(const uint8_t *p, size_t len, size_t *off, size_t *out)
{
    if (*off >= len)
        return -1;
    if (p[*off] < 128) {
        *out = p[(*off)++];
        return 0;
    }
    if (len - *off < 4)
        return -1;
    *out = (size_t)(p[*off] & 0x7f) << 24 | (size_t)p[*off + 1] << 16 |
           (size_t)p[*off + 2] << 8 | p[*off + 3];
    *off += 4;
    return 0;
}

/*
 * Decodes the pair at *off within p[0..len).  Returns 1 and advances *off,
 * 0 at the end of the data, -1 if the pair is truncated.
 */
static inline int
fw_nv_get(const uint8_t *p, size_t len, size_t *off, const uint8_t **name,
       size_t *nl, const uint8_t **val, size_t *vl)
{
    if (*off == len)
        return 0;
    if (fw_nv_getlen(p, len, off, nl) < 0 || fw_nv_getlen(p, len, off, vl) < 0)
        return -1;
    if (*nl > len - *off || *vl > len - *off - *nl)
        return -1;
    *name = p + *off;
    *val = p + *off + *nl;
    *off += *nl + *vl;
    return 1;
}

static inline const char *
fw_pstatus_name(int s)
{
    switch (s) {
    case FCGI_REQUEST_COMPLETE:
        return "REQUEST_COMPLETE";
    case FCGI_CANT_MPX_CONN:
        return "CANT_MPX_CONN";
    case FCGI_OVERLOADED:
        return "OVERLOADED";
    case FCGI_UNKNOWN_ROLE:
        return "UNKNOWN_ROLE";
    }
    return "unknown";
}

#endif
