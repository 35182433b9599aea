/*
 * fuzz_app: the small app the request and connection harnesses run
 * (fuzz_request.c, fuzz_conn.c), and the check of what it answers.
 *
 * Its routes use every part of the handler API that reads input: typed
 * path parameters, declared query parameters with bounds and defaults,
 * undeclared ones, CGI params and headers, a JSON body (.json_body), a raw
 * body; and the ways to answer: a JSON or text answer, a reflected
 * content type and header (refused when they hold control bytes),
 * evf_raise with a detail from the query, a stream, and awaits (a timer,
 * a gather, a route deadline) so that requests suspend and run later.
 * Every timer is at most a few milliseconds.  See fuzz_app.c for the
 * routes.
 */
#ifndef EVF_FUZZ_APP_H
#define EVF_FUZZ_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "evfcgi.h"

extern const evf_app fuzz_app;

/*
 * Check one request's STDOUT bytes (the CGI response evfcgi wrote): a
 * "Status: NNN Reason" line, header lines with a token name and no control
 * byte in the value, no second Status or Content-Length, the blank line;
 * when complete (the empty STDOUT record came), a Content-Length equal to
 * the body's size and, for application/json, a body that is valid JSON
 * (UTF-8 checked).  Aborts on a broken promise.
 */
void fuzz_check_response(const uint8_t *p, size_t len, bool complete);

/*
 * The server's output, fed as it is read: records are parsed (they must be
 * valid, of the types a server writes), STDOUT gathered per request id,
 * and each response checked with fuzz_check_response at its END_REQUEST.
 * fuzz_out_ends says how many END_REQUEST records came for id,
 * fuzz_out_len how many STDOUT bytes of its current response; and
 * fuzz_out_finish checks what is left and forgets everything.
 */
void fuzz_out_feed(const uint8_t *p, size_t n);
unsigned fuzz_out_ends(uint16_t id);
size_t fuzz_out_len(uint16_t id);
void fuzz_out_finish(void);
/* The status of the last response checked (0: none yet). */
int fuzz_out_status(void);

/*
 * p[0..len) is one JSON text (RFC 8259, strict, UTF-8), as json-c with
 * JSON_TOKENER_STRICT and JSON_TOKENER_VALIDATE_UTF8 reads it.
 */
bool fuzz_valid_json(const uint8_t *p, size_t len);

/* A broken promise: report and abort (libFuzzer saves the input). */
#define FUZZ_CHECK(cond) \
    do { \
        if (!(cond)) \
            fuzz_fail(__FILE__, __LINE__, #cond); \
    } while (0)

void fuzz_fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

#endif
