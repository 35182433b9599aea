/*
 * access: the access log, one line per finished request.
 *
 * The format is a string with $variables: $time, $remote_addr, $method,
 * $uri, $status, $bytes, $duration_ms, $route, $request_id, $pid,
 * $x_request_id (the request-id middleware's X-Request-ID, or -).  Lines
 * are written with one write(2) each (O_APPEND), so workers share a file.
 */
#ifndef EVF_ACCESS_H
#define EVF_ACCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct evf_access_entry {
    const char *remote_addr;
    const char *method;
    const char *uri;
    int status;
    uint64_t bytes;
    double duration;        /* seconds */
    const char *route;
    unsigned request_id;
    const char *x_request_id;   /* the request-id middleware's, or NULL */
} evf_access_entry_t;

/* Open path ("off" or NULL: disabled) with format (NULL: the default). */
int evf_access_open(const char *path, const char *format);
int evf_access_reopen(void);
bool evf_access_enabled(void);
void evf_access_write(const evf_access_entry_t *e);
void evf_access_close(void);

#endif
