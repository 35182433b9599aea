/*
 * openapi_int.h: what openapi.c and openapi_schema.c share, private to
 * them: the build's state and the small schema constructors.  Every
 * constructor returns a new json-c object (NULL when out of memory, which
 * the build finds at its end) that the caller adds somewhere.
 */
#ifndef EVF_OPENAPI_INT_H
#define EVF_OPENAPI_INT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "evfcgi.h"

#define REF_PREFIX "#/components/schemas/"

/* What one build collects on its way through the routes. */
typedef struct build {
    json_object *schemas;       /* components/schemas */
    const evf_model **models;   /* the models in schemas, by name */
    size_t nmodels;
    bool validates;             /* some route answers 422 */
    json_object *security;      /* components/securitySchemes */
    bool http_error;            /* some route documents {"detail": ...} */
    char *err;
    size_t errlen;
    bool failed;                /* err says why */
} build_t;

/* {"type": ...} of a parameter type, and {"type": "null"}. */
json_object *evf__oa_type(evf_type t);
json_object *evf__oa_null(void);
/* x as an integer for EVF_INT when it is integral, else a double. */
json_object *evf__oa_number(evf_type t, double x);
/* {"$ref": "#/components/schemas/NAME"}. */
json_object *evf__oa_ref(const char *name);
/* {"type": type, "title": title}; type NULL: no type. */
json_object *evf__oa_prop(const char *type, const char *title);

/* openapi_schema.c: model m under b's schemas (once); a $ref to it. */
json_object *evf__oa_model_ref(build_t *b, const evf_model *m);
/* FastAPI's HTTPValidationError and ValidationError, added to schemas. */
void evf__oa_validation_schemas(json_object *schemas);
/* The shape of evf_raise's body, {"detail": string}. */
json_object *evf__oa_http_error(void);

#endif
