/*
 * openapi: an app's route table turned into its OpenAPI 3.1 document, as
 * FastAPI generates it: paths with every route and method, FastAPI's
 * operationIds and summaries, typed path and query parameters with their
 * bounds, defaults and required flags, and the 422 answer with FastAPI's
 * HTTPValidationError and ValidationError schemas on every route that
 * validates something.
 *
 * Pure: built once when the app loads (json-c), served as bytes by the
 * docs pages (docs.c).  No libev, no threads, no descriptors.
 */
#ifndef EVF_OPENAPI_H
#define EVF_OPENAPI_H

#include <stddef.h>

#include "evfcgi.h"

typedef struct evf_openapi_info {
    const char *title;          /* NULL: "evfcgi" */
    const char *version;        /* NULL: "0.1.0" (FastAPI's default) */
    const char *description;    /* NULL: none */
} evf_openapi_info_t;

/*
 * The document for routes (ended by EVF_END), without the routes marked
 * .hidden.  Returns a new object the caller puts, or NULL with a message
 * in err (out of memory).
 */
json_object *evf_openapi_build(const evf_route *routes,
                               const evf_openapi_info_t *info, char *err,
                               size_t errlen);

/*
 * The same, serialized (compact JSON) into memory from evf_malloc that the
 * caller frees with evf_free; *len is its length.  NULL with err.
 */
char *evf_openapi_render(const evf_route *routes,
                         const evf_openapi_info_t *info, size_t *len,
                         char *err, size_t errlen);

/*
 * FastAPI's operationId for a handler, path template and method:
 * read_item, "/items/{item_id:int}", "GET" -> "read_item_items__item_id__get"
 * (the template's types dropped, every non-word byte as '_').  Writes at
 * most outlen bytes, always terminated; returns the length it needed.
 */
size_t evf_openapi_operation_id(const char *handler, const char *path,
                                const char *method, char *out,
                                size_t outlen);

/* A name as FastAPI titles it: "read_item" -> "Read Item". */
size_t evf_openapi_title(const char *name, char *out, size_t outlen);

#endif
