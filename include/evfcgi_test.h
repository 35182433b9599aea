/*
 * evfcgi_test.h: the TestClient, for testing an app in-process (FastAPI's
 * TestClient): no sockets, no web server, no daemon.
 *
 * A client loads one app (an evf_app linked into the test program, or an
 * app's .so), runs its startup hook, and serves requests to it the way
 * evfcgid would: the same router, dependency checks, built-in pages and
 * error bodies.  Each request is handed to the request layer as a web
 * server's FastCGI request would be (CGI variables, body), and the call
 * returns once the answer is complete: status, headers and body.  Awaits
 * (evf_sleep, evf_http, futures, ...) run on the client's own libev loop,
 * blocking routes on a small thread pool; the call runs that loop until
 * the answer is complete (and the request's background tasks are done).
 *
 *     evf_client *c = evf_client_new(&app, NULL);
 *     evf_client_resp resp;
 *     evf_client_get(c, "/items/5", &resp);
 *     assert(resp.status == 200);
 *     json_object *o = evf_client_resp_json(&resp);
 *     evf_client_resp_free(&resp);
 *     evf_client_free(c);
 *
 * Threads.  Single-threaded: call everything from one thread.  One client
 * at a time per process (the apps, the pool and the loop are the
 * process's); clients may follow one another: each one starts from a
 * clean state, with the app's startup and shutdown run again.
 */
#ifndef EVFCGI_TEST_H
#define EVFCGI_TEST_H

#include <stdbool.h>
#include <stddef.h>

#include "evfcgi.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct evf_client evf_client;
typedef struct evf_client_stream evf_client_stream;

typedef struct evf_client_opts {
    /* App options (evf_app_option): "key", "value", ..., NULL. */
    const char *const *options;
    /*
     * evfcgid directives as the configuration file names them:
     * "request_deadline", "2", "status_path", "/status", ..., NULL.
     */
    const char *const *directives;
    /* How long one call may wait for an answer (seconds); 0: 30. */
    double timeout;
} evf_client_opts;

/* A file of a multipart/form-data body. */
typedef struct evf_client_file {
    const char *field;          /* the form field's name */
    const char *filename;
    const char *content_type;   /* NULL: application/octet-stream */
    const void *data;
    size_t len;
} evf_client_file;

/*
 * A request.  Every member is optional; the body is one of body, json,
 * form (with files: multipart/form-data).
 */
typedef struct evf_client_req {
    const char *method;         /* NULL: GET, or POST with a body */
    const char *path;           /* "/items/5?q=x": path and query string */
    const char *const *headers; /* "Name: value" strings, NULL-ended */
    const char *const *cookies; /* "name=value" strings, NULL-ended */
    const void *body;           /* raw bytes, with content_type */
    size_t body_len;
    const char *content_type;
    const char *json;           /* a JSON text: application/json */
    /*
     * Form fields "name", "value", ..., NULL: urlencoded, or
     * multipart/form-data when files are given too.
     */
    const char *const *form;
    const evf_client_file *files;   /* ended by an entry with field NULL */
} evf_client_req;

typedef struct evf_client_header {
    const char *name, *value;
} evf_client_header;

/* An answer.  Everything in it belongs to it (evf_client_resp_free). */
typedef struct evf_client_resp {
    int status;
    evf_client_header *headers; /* as the app sent them, in order */
    size_t nheaders;
    char *body;                 /* NUL-terminated (the NUL is not counted) */
    size_t body_len;
    /* private */
    json_object *json;
} evf_client_resp;

/*
 * A client for app: registers it (as evfcgid would: its routes, the
 * dependency cycle check), applies opts (NULL: defaults), runs its
 * startup hook.  NULL after logging why (the app is refused, its startup
 * failed, another client is live).
 */
evf_client *evf_client_new(const evf_app *app, const evf_client_opts *opts);
/* The same for the app exported by the shared object at path. */
evf_client *evf_client_load(const char *path, const evf_client_opts *opts);
/*
 * Cancel what still runs (streams left open, background tasks), run the
 * app's shutdown hook, unload it, free c.  c may be NULL.
 */
void evf_client_free(evf_client *c);

/*
 * Run req and wait for the whole answer, filling *resp (always: free it
 * with evf_client_resp_free even on failure).  Returns 0 (any HTTP
 * status), EVF_EINVAL (c NULL, req malformed), EVF_ETIMEDOUT (no
 * complete answer within the timeout: the request is cancelled), or
 * -ENOMEM.
 */
int evf_client_request(evf_client *c, const evf_client_req *req,
                       evf_client_resp *resp);
/* Shorthands: GET path; POST path with a JSON text. */
int evf_client_get(evf_client *c, const char *path, evf_client_resp *resp);
int evf_client_post_json(evf_client *c, const char *path, const char *json,
                         evf_client_resp *resp);

/* A response header's value (the first, case-insensitive name), or NULL. */
const char *evf_client_resp_header(const evf_client_resp *resp,
                                   const char *name);
/*
 * The body parsed as JSON, or NULL if it is not JSON.  Borrowed: it
 * belongs to resp.
 */
json_object *evf_client_resp_json(evf_client_resp *resp);
/* Free what resp holds (not resp itself); it reads as empty afterwards. */
void evf_client_resp_free(evf_client_resp *resp);

/*
 * Streams (Server-Sent Events, evf_stream_*): open runs req until its
 * head is answered and fills resp's status and headers (its body stays
 * empty); next waits for the next piece the handler wrote and points
 * *data (NUL-terminated, valid until the next call) and *len at it.
 * next returns 1 with a piece, 0 at the end of the stream, EVF_ETIMEDOUT.
 * close cancels the handler if it still runs (as a client that leaves)
 * and frees s.  open returns 0 (*s is then set, even for an answer that
 * is not a stream: its body comes as one piece), or as evf_client_request.
 */
int evf_client_stream_open(evf_client *c, const evf_client_req *req,
                           evf_client_resp *resp, evf_client_stream **s);
int evf_client_stream_next(evf_client_stream *s, const char **data,
                           size_t *len);
void evf_client_stream_close(evf_client_stream *s);

/*
 * Dependency overrides (FastAPI's app.dependency_overrides): from now on
 * the dependency real resolves as fake does, wherever it is declared or
 * asked for with evf_depends (fake's own sub-dependencies are resolved
 * first).  fake NULL removes the override of real.  Set them between
 * requests; they end with the client.  0, or -ENOMEM.
 */
int evf_client_override(evf_client *c, const evf_dep *real,
                        const evf_dep *fake);
/*
 * The same for every dependency named name (evf_dep.name): for an app
 * loaded from its .so, whose dependencies the test cannot name by address.
 * An override by address wins over one by name.
 */
int evf_client_override_name(evf_client *c, const char *name,
                             const evf_dep *fake);

#ifdef __cplusplus
}
#endif

#endif /* EVFCGI_TEST_H */
