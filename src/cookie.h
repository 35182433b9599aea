/*
 * cookie: the Cookie request header and Set-Cookie values, pure.
 *
 * Parsing follows Starlette's cookie_parser (lenient, RFC 6265 in
 * spirit): the header is split at ';', each chunk at its first '=' (a
 * chunk without one is a value with an empty name), name and value are
 * trimmed of spaces and tabs, chunks with neither are skipped, a value in
 * double quotes is unquoted (with Python's backslash escapes: \" \\ and
 * three octal digits).  Set-Cookie values are checked against RFC 6265's
 * grammar so that nothing a caller passes can end the header or start
 * another.  No allocation: the caller gives the buffers; no state.
 */
#ifndef EVF_COOKIE_H
#define EVF_COOKIE_H

#include <stdbool.h>
#include <stddef.h>

#include "evfcgi.h"

/* One cookie of a Cookie header, pointers into the header. */
typedef struct evf_cookie_field {
    const char *name;
    size_t nlen;
    const char *value;      /* still quoted: see evf_cookie_unquote */
    size_t vlen;
} evf_cookie_field_t;

/* The most cookies h[0..len) can hold (one more than its ';' count). */
size_t evf_cookie_max(const char *h, size_t len);

/*
 * Split the next cookie off h[0..len) from *pos (0 at first).  Returns
 * true and fills *f, or false when none is left.
 */
bool evf_cookie_next(const char *h, size_t len, size_t *pos,
                     evf_cookie_field_t *f);

/*
 * Unquote v[0..len) into dst (len + 1 bytes), NUL-terminated: a value
 * wrapped in double quotes loses them and its escapes are decoded;
 * anything else is copied.  Returns the length written.
 */
size_t evf_cookie_unquote(char *dst, const char *v, size_t len);

/* True when name is a non-empty RFC 9110 token. */
bool evf_cookie_name_ok(const char *name);
/* True when value is cookie-octets, optionally wrapped in '"'. */
bool evf_cookie_value_ok(const char *value);

/*
 * Format "name=value; attributes" for a Set-Cookie header into dst (cap
 * bytes).  Returns the length, or -1 when something is refused (see
 * evf_set_cookie) or it does not fit.
 */
int evf_cookie_format(char *dst, size_t cap, const char *name,
                      const char *value, const evf_cookie_opts *o);

#endif
