/*
 * multipart: an incremental multipart/form-data parser (RFC 7578 over the
 * delimiter rules of RFC 2046), pure: no I/O, no allocation.
 *
 * The caller owns an evf_mp_t (it embeds a fixed buffer for one part's
 * header block), pushes the body in pieces of any size with evf_mp_feed()
 * as they arrive, and calls evf_mp_finish() at the end of the body.  The
 * parser reports through three callbacks: begin (a part's headers were
 * read: its name, filename and content type), data (some of the part's
 * bytes, in order; a part's content may come in any number of calls) and
 * end (the part's delimiter was seen).  Nothing of a part's content is
 * kept: memory stays bounded whatever the body's size.
 *
 * Limits: a boundary of 1 to 70 characters of RFC 2046's bchars; a part's
 * header block of at most EVF_MP_HEADER_MAX bytes in at most
 * EVF_MP_HEADERS_MAX lines (a header bomb is an error, not an allocation).
 *
 * Errors: a callback that returns a negative number stops the parser,
 * which returns that number from then on (from feed and finish); the
 * parser's own errors are EVF_MP_EMALFORMED and EVF_MP_EHEADERS, with a
 * message for the client from evf_mp_error().
 */
#ifndef EVF_MULTIPART_H
#define EVF_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVF_MP_BOUNDARY_MAX 70
#define EVF_MP_HEADER_MAX   8192    /* bytes of one part's header block */
#define EVF_MP_HEADERS_MAX  16      /* header lines of one part */

#define EVF_MP_EMALFORMED   (-1)    /* not multipart as RFC 2046 says */
#define EVF_MP_EHEADERS     (-2)    /* a part's headers over the limits */

/* A part, as its headers describe it.  Strings live during begin only. */
typedef struct evf_mp_part {
    const char *name;           /* Content-Disposition's name */
    const char *filename;       /* filename* or filename; NULL: a field */
    const char *content_type;   /* NULL when the part gave none */
} evf_mp_part_t;

/* Each returns 0 to go on, or a negative number to stop the parser. */
typedef struct evf_mp_cbs {
    int (*begin)(void *ud, const evf_mp_part_t *part);
    int (*data)(void *ud, const char *p, size_t n);
    int (*end)(void *ud);
} evf_mp_cbs_t;

typedef struct evf_mp {
    const evf_mp_cbs_t *cbs;
    void *ud;
    char delim[4 + EVF_MP_BOUNDARY_MAX];    /* CR LF "--" boundary */
    size_t dlen;
    int state;
    size_t match;               /* bytes of delim matched so far */
    size_t hlen;                /* bytes in hdr */
    size_t line;                /* hdr: start of the current line */
    unsigned hlines;
    int err;                    /* 0, or the error it stopped on */
    const char *msg;            /* the parser's own error, for clients */
    uint64_t parts;             /* parts begun */
    char hdr[EVF_MP_HEADER_MAX + 1];
} evf_mp_t;

/*
 * The boundary parameter of a multipart/form-data content type, into out
 * (NUL-terminated; EVF_MP_BOUNDARY_MAX + 1 bytes are enough).  0, or -1
 * when the type is not multipart/form-data or has no valid boundary.
 */
int evf_mp_boundary(const char *content_type, char *out, size_t outsz);

/* Start a parse of a body delimited by boundary (as evf_mp_boundary gave). */
void evf_mp_init(evf_mp_t *mp, const char *boundary, const evf_mp_cbs_t *cbs,
                 void *ud);

/* Push the next len bytes of the body.  0 or a negative error. */
int evf_mp_feed(evf_mp_t *mp, const void *data, size_t len);

/*
 * The body ended: 0 when the close delimiter was seen, else
 * EVF_MP_EMALFORMED (truncated part, no final delimiter) or the error the
 * parse stopped on.
 */
int evf_mp_finish(evf_mp_t *mp);

/* What was wrong, for the client ("" when nothing is). */
const char *evf_mp_error(const evf_mp_t *mp);

#endif
