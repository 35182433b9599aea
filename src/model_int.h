/*
 * model_int.h: what the model files share (model.c validates, model_load.c
 * compiles, model_text.c handles JSON text and numbers); private to them.
 */
#ifndef EVF_MODEL_INT_H
#define EVF_MODEL_INT_H

#include <json-c/json.h>
#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "model.h"

/* A field ready for validation. */
typedef struct cfield {
    const evf_field *f;
    const char *key;            /* alias or name */
    json_object *def;           /* parsed default; absent: required */
    bool has_def;
    bool has_re;
    regex_t re;
    const evf_cmodel_t *sub;    /* EVF_FT_MODEL */
} cfield_t;

struct evf_cmodel {
    const evf_model *m;
    cfield_t *fields;
    size_t nfields;
    evf_cmodel_t *next;
};

struct evf_models {
    evf_cmodel_t *list;
};

/* Validation state: where errors go, and the location being checked. */
#define MAX_DEPTH 64            /* json-c stops bodies well before */

typedef struct vctx {
    evf_model_alloc_fn alloc;
    void *actx;
    json_object **errs;
    const char *where;
    json_object *path[MAX_DEPTH];   /* loc below where: keys and indexes */
    size_t depth;
    bool nomem;
} vctx_t;

typedef EVF_ARRAY(char) any_array_t;

/*
 * Validate the value in (NULL: JSON null) of field cf into the struct at
 * base; false (errors added, or v->nomem) when it is refused.
 */
bool evf__model_check_field(vctx_t *v, const cfield_t *cf, json_object *in,
                            char *base);
/* Drop what v still holds of the location. */
void evf__model_vctx_end(vctx_t *v);
/* d as Rust's Display prints an f64 ("0", "1.5", "0.0000001"). */
void evf__model_rust_float(double d, char *buf, size_t len);

#endif
