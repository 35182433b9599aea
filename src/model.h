/*
 * model: the field tables of include/evfcgi.h's "Models", made ready when
 * an app loads (defaults parsed and checked, patterns compiled, member
 * sizes checked), JSON validated into structs with pydantic v2's error
 * objects (as FastAPI >= 0.100 answers them), and structs serialized.
 * Pure: json-c, regex and libc only; memory for the structs comes from
 * the caller's allocator.  A compiled set is read-only once built, so any
 * thread may validate with it.
 */
#ifndef EVF_MODEL_H
#define EVF_MODEL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "evfcgi.h"

typedef struct evf_models evf_models_t;     /* the compiled models of an app */
typedef struct evf_cmodel evf_cmodel_t;     /* one compiled model */

/* An empty set, or NULL when out of memory. */
evf_models_t *evf_models_new(void);
/* Free s and everything compiled in it (NULL: nothing). */
void evf_models_free(evf_models_t *s);

/*
 * m compiled in s (once per model, with the models it nests), or NULL
 * with the reason in err ("model Item: field tags: ...") when the model
 * is malformed: no name, no fields, a member size that does not match its
 * type, a bad default or pattern, a bound without its has_ flag.
 */
const evf_cmodel_t *evf_models_add(evf_models_t *s, const evf_model *m,
                                   char *err, size_t errlen);

/* The model c was compiled from. */
const evf_model *evf_cmodel_model(const evf_cmodel_t *c);

/* Python's repr() of d ("0.1", "1.0", "1e-05"); "nan", "inf", "-inf". */
void evf_model_float_repr(double d, char *buf, size_t len);

/* Zeroed memory for a validated struct, or NULL when out of memory. */
typedef void *(*evf_model_alloc_fn)(void *ctx, size_t size);

/*
 * Validate in (a parsed JSON value; NULL is null) against c into a new
 * struct from alloc(ctx, ...).  Returns 0 and sets *out when valid; 1 when
 * not, after appending pydantic's error objects to *errs (an array,
 * created if NULL), each loc starting with where ("body"); -1 when out of
 * memory.  The errors' input values are references into in.
 */
int evf_model_validate(const evf_cmodel_t *c, json_object *in,
                       const char *where, evf_model_alloc_fn alloc,
                       void *ctx, json_object **errs, void **out);

/*
 * Check that body[0..len) is UTF-8 (as the JSON text must be): 0, or the
 * offset of the first byte that is not, plus 1.
 */
size_t evf_model_utf8_error(const char *body, size_t len);

struct evf_route_entry;

/*
 * Compile e's body, response and documented models into *set (made when
 * NULL; the app frees it with evf_models_free) and set e->body_model.
 * 0, or -1 with the reason in err.  Routes without models cost nothing.
 */
int evf__route_models(struct evf_route_entry *e, evf_models_t **set, char *err,
                      size_t errlen);

#endif
