/*
 * convert: typed conversion of request text with pydantic's rules, pure.
 *
 * Path and query parameters arrive as text; FastAPI (through pydantic, in
 * its default "lax" mode) accepts or refuses them by rules these functions
 * copy, and answers a refusal with 422 carrying pydantic's error type and
 * message, which they return.  No allocation, no state; s need not be
 * NUL-terminated.
 */
#ifndef EVF_CONVERT_H
#define EVF_CONVERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Convert s[0..len).  Each returns NULL when the text is valid (and sets
 * *out), else the pydantic error type and sets *msg to its message (a
 * static string; *out is left alone):
 *
 *  int:   surrounding whitespace, an optional sign, decimal digits only,
 *         within int64 ("int_parsing", "int_parsing_size");
 *  float: surrounding whitespace, what strtod reads except hexadecimal
 *         forms; "inf", "-inf" and "nan" are accepted ("float_parsing");
 *  bool:  1/0, on/off, t/f, true/false, y/n, yes/no in any case
 *         ("bool_parsing").
 */
const char *evf_convert_int(const char *s, size_t len, int64_t *out,
                            const char **msg);
const char *evf_convert_float(const char *s, size_t len, double *out,
                              const char **msg);
const char *evf_convert_bool(const char *s, size_t len, bool *out,
                             const char **msg);

/*
 * Write v in decimal at dst (room for EVF_U64_DIGITS bytes; no NUL).
 * Returns the number of digits.  For the hot path: no printf.
 */
#define EVF_U64_DIGITS 20
size_t evf_format_u64(char *dst, uint64_t v);

#endif
