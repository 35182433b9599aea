/*
 * settings: the limits and knobs every module reads, one per process.
 *
 * Filled by main (command line, later the configuration file) before the
 * server starts; read-only afterwards.
 */
#ifndef EVF_SETTINGS_H
#define EVF_SETTINGS_H

#include <stddef.h>

typedef struct evf_settings {
    unsigned max_conns;         /* connections per worker */
    unsigned max_reqs_per_conn; /* concurrent requests on one connection */
    size_t max_params;          /* bytes of PARAMS per request */
    size_t max_body;            /* bytes of STDIN per request */
    size_t out_high_water;      /* a stream write waits above this */
    size_t out_low_water;       /* ... until the output drops below this */
    int backlog;
    double request_deadline;    /* seconds; 0: none */
    unsigned pool_threads;      /* blocking routes and to_thread */
    unsigned pool_queue;        /* jobs waiting for a thread, at most */
    double slow_callback;       /* seconds a handler may run unawaited */
    const char *status_path;    /* NULL: no status page */
    const char *ping_path;      /* NULL: no ping */
    const char *ping_response;
    unsigned workers;           /* configured, for the status page */
    double started;             /* ev_time() of the daemon's start */
    unsigned max_requests;      /* recycle the worker after this many */
    /* Forms and uploads. */
    const char *upload_dir;     /* NULL: $TMPDIR, else /tmp */
    size_t max_upload_size;     /* bytes of one uploaded file */
    size_t max_upload_total;    /* bytes of all files of a request */
    unsigned max_upload_files;  /* files in one request */
    /* Timeouts and caps (issue 14, item 4). */
    double idle_timeout;        /* seconds a connection may sit idle */
    double request_timeout;     /* seconds for a request's PARAMS/STDIN */
    unsigned max_in_flight;     /* requests open at once per worker */
} evf_settings_t;

extern evf_settings_t evf_settings;

#endif
