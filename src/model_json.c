/*
 * model_json: a struct of a model serialized as JSON (response models):
 * only the model's fields, in their declared order, nulls kept or left
 * out (pydantic's exclude_none, applied at every level).  Pure: json-c.
 */
#include "config.h"

#include <json-c/json.h>
#include <math.h>

#include "model.h"

typedef EVF_ARRAY(char) any_array_t;

static json_object *
float_json(double d)
{
    char text[40];
    if (!isfinite(d))
        return NULL;            /* not JSON: sent as null */
    evf_model_float_repr(d, text, sizeof(text));
    return json_object_new_double_s(d, text);
}

/* One element at p, of the C type the field's elements have. */
static json_object *
elem_json(const evf_field *f, const void *p, bool exclude_none)
{
    switch (f->type) {
    case EVF_FT_STR: {
        const char *s = *(const char *const *)p;
        return s ? json_object_new_string(s) : NULL;
    }
    case EVF_FT_INT:
        return json_object_new_int64(*(const int64_t *)p);
    case EVF_FT_FLOAT:
        return float_json(*(const double *)p);
    case EVF_FT_BOOL:
        return json_object_new_boolean(*(const bool *)p);
    case EVF_FT_ENUM: {
        int i = *(const int *)p, n = 0;
        while (f->enum_values[n])
            n++;
        return i >= 0 && i < n ? json_object_new_string(f->enum_values[i])
                               : NULL;
    }
    case EVF_FT_MODEL:
        return evf_model_to_json(f->model, p, exclude_none);
    }
    return NULL;
}

static size_t
elem_size(const evf_field *f)
{
    switch (f->type) {
    case EVF_FT_STR: return sizeof(const char *);
    case EVF_FT_INT: return sizeof(int64_t);
    case EVF_FT_FLOAT: return sizeof(double);
    case EVF_FT_BOOL: return sizeof(bool);
    case EVF_FT_ENUM: return sizeof(int);
    case EVF_FT_MODEL: return f->model->size;
    }
    return 0;
}

static json_object *
field_json(const evf_field *f, const char *p, bool exclude_none, bool *oom)
{
    json_object *o = NULL;
    if (f->array) {
        const any_array_t *a = (const any_array_t *)p;
        if (!a->v && (f->nullable || a->n == 0))
            return f->nullable ? NULL : json_object_new_array();
        if (!(o = json_object_new_array_ext((int)a->n)))
            goto oom;
        size_t es = elem_size(f);
        for (size_t i = 0; i < a->n; i++)
            json_object_array_add(o, elem_json(f, a->v + i * es,
                                               exclude_none));
        return o;
    }
    switch (f->type) {
    case EVF_FT_INT:
        if (f->nullable) {
            const evf_opt_int *x = (const evf_opt_int *)p;
            return x->has ? json_object_new_int64(x->v) : NULL;
        }
        break;
    case EVF_FT_FLOAT:
        if (f->nullable) {
            const evf_opt_float *x = (const evf_opt_float *)p;
            return x->has ? float_json(x->v) : NULL;
        }
        break;
    case EVF_FT_BOOL:
        if (f->nullable) {
            const evf_opt_bool *x = (const evf_opt_bool *)p;
            return x->has ? json_object_new_boolean(x->v) : NULL;
        }
        break;
    case EVF_FT_MODEL: {
        const void *sub = *(const void *const *)p;
        if (!sub)
            return NULL;
        if (!(o = evf_model_to_json(f->model, sub, exclude_none)))
            goto oom;
        return o;
    }
    default:
        break;
    }
    return elem_json(f, p, exclude_none);
oom:
    *oom = true;
    return NULL;
}

json_object *
evf_model_to_json(const evf_model *m, const void *obj, bool exclude_none)
{
    if (!m || !obj || !m->fields)
        return NULL;
    json_object *o = json_object_new_object();
    if (!o)
        return NULL;
    bool oom = false;
    for (const evf_field *f = m->fields; f->name && !oom; f++) {
        json_object *v = field_json(f, (const char *)obj + f->offset,
                                    exclude_none, &oom);
        if (!v && exclude_none)
            continue;
        json_object_object_add(o, f->alias ? f->alias : f->name, v);
    }
    if (oom) {
        json_object_put(o);
        return NULL;
    }
    return o;
}
