/*
 * fcgi_params: FastCGI name-value pairs (PARAMS, GET_VALUES), pure.
 *
 * Pairs use 1-byte lengths (< 128) or 4-byte lengths (high bit set).  One
 * incremental scanner decodes them: the caller appends the bytes of a
 * stream as they arrive (a pair may be split anywhere across records) and
 * the scanner reports each pair once, as soon as its last byte is there.
 * A length is only ever compared with the bytes that arrived and with the
 * caller's limit, never used to size anything, so a peer's claim of 2 GiB
 * costs nothing: it is an error at once when it passes the limit.
 * evf_fcgi_params_decode runs the scanner over a complete stream.
 */
#ifndef EVF_FCGI_PARAMS_H
#define EVF_FCGI_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define EVF_FCGI_EPAIR (-1010)  /* a pair runs past the end of the stream */

/*
 * Scanner state.  Zero-fill it before the first call; it holds no pointer,
 * so the caller's buffer may move (grow) between calls.
 */
typedef struct evf_fcgi_scan {
    size_t pos;     /* read-only: offset of the first pair not reported */
} evf_fcgi_scan_t;

/* One pair; the pointers point into the caller's buffer. */
typedef struct evf_fcgi_pair {
    const uint8_t *name;
    size_t nlen;
    const uint8_t *value;
    size_t vlen;
} evf_fcgi_pair_t;

/*
 * Report the next pair of a stream whose first len bytes are buf[0..len)
 * (buf holds what earlier calls saw, plus what arrived since).  Returns
 *  1  a pair is in *pair, valid until buf is changed; s->pos is now past
 *     it;
 *  0  no complete pair at s->pos yet: feed more bytes and call again.  At
 *     the end of the stream, the stream was whole iff s->pos == len;
 *  EVF_FCGI_EPAIR  the pair at s->pos claims to end beyond limit, the
 *     most bytes the stream may ever hold (an impossible length); the
 *     state is unchanged, so every later call says so again.
 * Bytes before s->pos are never read again: the caller may reuse them,
 * e.g. to store the pairs already reported.
 */
int evf_fcgi_params_next(evf_fcgi_scan_t *s, const uint8_t *buf, size_t len,
                         size_t limit, evf_fcgi_pair_t *pair);

/* Called per pair; pointers into the decoded buffer.  Return 0 to go on. */
typedef int (*evf_fcgi_pair_cb)(void *ud, const uint8_t *name, size_t nlen,
                                const uint8_t *value, size_t vlen);

/*
 * Decode every pair of the complete stream buf[0..len) with the scanner.
 * Returns 0, EVF_FCGI_EPAIR when the stream is malformed (a pair running
 * past its end), or the first non-zero value cb returned.
 */
int evf_fcgi_params_decode(const uint8_t *buf, size_t len,
                           evf_fcgi_pair_cb cb, void *ud);

/*
 * Encode one pair into out (which must hold evf_fcgi_pair_size() bytes).
 * Returns the number of bytes written.
 */
size_t evf_fcgi_pair_size(size_t nlen, size_t vlen);
size_t evf_fcgi_pair_encode(uint8_t *out, const void *name, size_t nlen,
                            const void *value, size_t vlen);

#endif
