/*
 * toolkit_peer.h: requests with extra CGI params (headers, cookies) for
 * the toolkit suites (test_params, test_security, test_exc), on top of
 * fcgi_peer.h.  All is static, in the test program.
 */
#ifndef EVF_TESTS_TOOLKIT_PEER_H
#define EVF_TESTS_TOOLKIT_PEER_H

#include "fcgi_peer.h"

/*
 * Send method uri with the extra params (name, value, name, value ...,
 * NULL), e.g. { "HTTP_COOKIE", "a=1", NULL }, and an empty body.
 */
static inline void
send_with(uint16_t id, const char *method, const char *uri,
          const char *const *extra)
{
    uint8_t params[8192];
    size_t n = 0;
    const char *q = strchr(uri, '?');

    CU_ASSERT_FATAL(strlen(uri) < 1024);
    put_begin(id, FCGI_KEEP_CONN);
    n += put_pair(params + n, "REQUEST_METHOD", method);
    n += put_pair(params + n, "REQUEST_URI", uri);
    n += put_pair(params + n, "QUERY_STRING", q ? q + 1 : "");
    for (; extra && extra[0]; extra += 2) {
        CU_ASSERT_FATAL(n + strlen(extra[0]) + strlen(extra[1]) + 8 <
                        sizeof(params));
        n += put_pair(params + n, extra[0], extra[1]);
    }
    put_record(FCGI_PARAMS, id, params, n);
    put_record(FCGI_PARAMS, id, NULL, 0);
    put_record(FCGI_STDIN, id, NULL, 0);
    client_flush();
}

/* A request on a fresh connection; the status of its answer. */
static inline int
request_with(const char *method, const char *uri, const char *const *extra)
{
    open_conn();
    send_with(1, method, uri, extra);
    CU_ASSERT_TRUE(ended(1, 5.0));
    CU_ASSERT(complete(1));
    return status_of(1);
}

/* The same, GET. */
static inline int
get_with(const char *uri, const char *const *extra)
{
    return request_with("GET", uri, extra);
}

/* True when the body of request 1 is exactly want; says why not. */
static inline bool
body_exact(const char *want)
{
    size_t len = 0;
    const char *b = body_of(1, &len);
    if (b && len == strlen(want) && memcmp(b, want, len) == 0)
        return true;
    fprintf(stderr, "\n    body: %.*s\n    want: %s\n", (int)len,
            b ? b : "(none)", want);
    return false;
}

#endif
