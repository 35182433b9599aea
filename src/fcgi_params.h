/*
 * fcgi_params: FastCGI name-value pairs (PARAMS, GET_VALUES), pure.
 *
 * Pairs use 1-byte lengths (< 128) or 4-byte lengths (high bit set).  The
 * connection layer gathers a whole PARAMS stream (bounded by its limit)
 * before decoding, so a pair split anywhere across records decodes the same
 * as one that is not; decoding checks every length against the bytes that
 * actually arrived.
 */
#ifndef EVF_FCGI_PARAMS_H
#define EVF_FCGI_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#define EVF_FCGI_EPAIR (-1010)  /* a pair runs past the end of the stream */

/* Called per pair; pointers into the decoded buffer.  Return 0 to go on. */
typedef int (*evf_fcgi_pair_cb)(void *ud, const uint8_t *name, size_t nlen,
                                const uint8_t *value, size_t vlen);

/*
 * Decode every pair of buf[0..len).  Returns 0, EVF_FCGI_EPAIR when the
 * stream is malformed, or the first non-zero value cb returned.
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
