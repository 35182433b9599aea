/*
 * url: percent-decoding, query-string splitting and UTF-8 checks, pure.
 *
 * Nothing here allocates or keeps state: the caller owns every buffer, and
 * the functions work on explicit lengths, so a string need not be
 * NUL-terminated.  Used for the request path (decoded before routing) and
 * for QUERY_STRING (split at '&', then each side of the first '=' decoded
 * with '+' as a space, as HTML forms and Starlette do).
 */
#ifndef EVF_URL_H
#define EVF_URL_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Percent-decode src[0..len) into dst (which holds len + 1 bytes), NUL
 * terminating it; plus_space turns '+' into ' ' (query strings).  A '%'
 * not followed by two hex digits is kept as is.  dst may equal src (the
 * output never runs ahead of the input).  Returns the decoded length,
 * which is at most len; a "%00" gives a NUL byte inside it.
 */
size_t evf_pct_decode(char *dst, const char *src, size_t len,
                      bool plus_space);

/* One field of a query string, still encoded; pointers into the query. */
typedef struct evf_url_field {
    const char *name;
    size_t nlen;
    const char *value;      /* after the first '=', or "" when none */
    size_t vlen;
    bool has_value;         /* the field had an '=' */
} evf_url_field_t;

/*
 * The most fields qs[0..len) can hold (one more than its '&' count), to
 * size a table before splitting.
 */
size_t evf_url_query_max(const char *qs, size_t len);

/*
 * Split the next field off qs[0..len), starting at *pos (0 at first).
 * Fields are separated by '&'; empty ones ("a&&b", a trailing '&') are
 * skipped.  Returns true and fills *f, advancing *pos past the field and
 * its separator; false when no field is left.
 */
bool evf_url_query_next(const char *qs, size_t len, size_t *pos,
                        evf_url_field_t *f);

/*
 * The length (1 to 4) of the well-formed UTF-8 sequence at p (left bytes
 * available), or 0 when p[0] does not start one (stray continuation,
 * overlong form, surrogate, beyond U+10FFFF, cut short).
 */
size_t evf_utf8_seq(const unsigned char *p, size_t left);

/*
 * Copy src[0..len) to dst (which holds 3 * len + 1 bytes), replacing each
 * byte that does not start a well-formed UTF-8 sequence by U+FFFD, as
 * Python's decode(errors="replace") does byte by byte; NUL-terminates dst.
 * Returns the length written.  Embedded NULs are copied.
 */
size_t evf_utf8_scrub(char *dst, const char *src, size_t len);

#endif
