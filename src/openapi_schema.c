/*
 * openapi_schema: JSON Schemas of models and of FastAPI's error bodies,
 * for the OpenAPI document (openapi.c): a model's fields as pydantic v2
 * writes them (titles, constraints as JSON Schema keywords, Optional as
 * anyOf with null, defaults and examples), each model once under
 * components/schemas and referred to by $ref.  Pure.
 */
#include "config.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"
#include "openapi.h"
#include "openapi_int.h"

/* FastAPI's HTTPValidationError and ValidationError (pydantic v2). */
void
evf__oa_validation_schemas(json_object *schemas)
{
    json_object *items = json_object_new_object();
    json_object_object_add(items, "$ref",
                           json_object_new_string(REF_PREFIX
                                                  "ValidationError"));
    json_object *detail = evf__oa_prop("array", "Detail");
    json_object_object_add(detail, "items", items);
    json_object *props = json_object_new_object();
    json_object_object_add(props, "detail", detail);
    json_object *hve = evf__oa_prop("object", "HTTPValidationError");
    json_object_object_add(hve, "properties", props);
    json_object_object_add(schemas, "HTTPValidationError", hve);

    json_object *any = json_object_new_array();
    json_object_array_add(any, evf__oa_type(EVF_STR));
    json_object_array_add(any, evf__oa_type(EVF_INT));
    json_object *loc_items = json_object_new_object();
    json_object_object_add(loc_items, "anyOf", any);
    json_object *loc = evf__oa_prop("array", "Location");
    json_object_object_add(loc, "items", loc_items);
    props = json_object_new_object();
    json_object_object_add(props, "loc", loc);
    json_object_object_add(props, "msg", evf__oa_prop("string", "Message"));
    json_object_object_add(props, "type", evf__oa_prop("string", "Error Type"));
    json_object_object_add(props, "input", evf__oa_prop(NULL, "Input"));
    json_object_object_add(props, "ctx", evf__oa_prop("object", "Context"));
    json_object *req = json_object_new_array();
    json_object_array_add(req, json_object_new_string("loc"));
    json_object_array_add(req, json_object_new_string("msg"));
    json_object_array_add(req, json_object_new_string("type"));
    json_object *ve = evf__oa_prop("object", "ValidationError");
    json_object_object_add(ve, "properties", props);
    json_object_object_add(ve, "required", req);
    json_object_object_add(schemas, "ValidationError", ve);
}

/* ---- models ------------------------------------------------------------ */



/* A bound as the schema writes it, integers for integer fields. */
static void
bound(json_object *s, const char *key, evf_ftype t, double x)
{
    json_object_object_add(s, key, evf__oa_number(t == EVF_FT_INT ? EVF_INT
                                                           : EVF_FLOAT, x));
}

/* The schema of one value of field f (an element, for arrays). */
static json_object *
value_schema(build_t *b, const evf_field *f)
{
    json_object *s;
    switch (f->type) {
    case EVF_FT_MODEL:
        return evf__oa_model_ref(b, f->model);
    case EVF_FT_ENUM: {
        s = evf__oa_type(EVF_STR);
        json_object *vals = json_object_new_array();
        for (size_t i = 0; f->enum_values && f->enum_values[i]; i++)
            json_object_array_add(vals, json_object_new_string(
                                      f->enum_values[i]));
        json_object_object_add(s, "enum", vals);
        return s;
    }
    case EVF_FT_INT:
    case EVF_FT_FLOAT:
        s = evf__oa_type(f->type == EVF_FT_INT ? EVF_INT : EVF_FLOAT);
        if (f->has_ge)
            bound(s, "minimum", f->type, f->ge);
        if (f->has_gt)
            bound(s, "exclusiveMinimum", f->type, f->gt);
        if (f->has_le)
            bound(s, "maximum", f->type, f->le);
        if (f->has_lt)
            bound(s, "exclusiveMaximum", f->type, f->lt);
        return s;
    case EVF_FT_BOOL:
        return evf__oa_type(EVF_BOOL);
    case EVF_FT_STR:
    default:
        s = evf__oa_type(EVF_STR);
        if (!f->array && f->min_length)
            json_object_object_add(s, "minLength", json_object_new_int64(
                                       (int64_t)f->min_length));
        if (!f->array && f->max_length)
            json_object_object_add(s, "maxLength", json_object_new_int64(
                                       (int64_t)f->max_length));
        if (f->pattern)
            json_object_object_add(s, "pattern",
                                   json_object_new_string(f->pattern));
        return s;
    }
}

/*
 * JSON text (a default or an example) as a value; *ok false when it does
 * not parse.  "null" is a NULL value that is fine.
 */
static json_object *
json_text(const char *text, bool *ok)
{
    json_object *v = json_tokener_parse(text);
    *ok = v || strcmp(text, "null") == 0;
    return v;
}

/* A field's schema as pydantic v2 writes it. */
static json_object *
field_schema(build_t *b, const evf_field *f, const char *key)
{
    json_object *s = value_schema(b, f);
    if (f->array) {
        json_object *a = json_object_new_object();
        json_object_object_add(a, "type", json_object_new_string("array"));
        json_object_object_add(a, "items", s);
        if (f->min_length)
            json_object_object_add(a, "minItems", json_object_new_int64(
                                       (int64_t)f->min_length));
        if (f->max_length)
            json_object_object_add(a, "maxItems", json_object_new_int64(
                                       (int64_t)f->max_length));
        s = a;
    }
    if (f->nullable) {
        /* Optional[T]: anyOf [T, null], the constraints inside T. */
        json_object *any = json_object_new_array();
        json_object_array_add(any, s);
        json_object_array_add(any, evf__oa_null());
        s = json_object_new_object();
        json_object_object_add(s, "anyOf", any);
    }
    if (!json_object_object_get_ex(s, "$ref", NULL)) {
        char title[256];
        evf_openapi_title(key, title, sizeof(title));
        json_object_object_add(s, "title", json_object_new_string(title));
    }
    if (f->description)
        json_object_object_add(s, "description",
                               json_object_new_string(f->description));
    bool ok;
    if (f->def) {
        json_object *v = json_text(f->def, &ok);
        if (ok)
            json_object_object_add(s, "default", v);
    }
    if (f->example) {
        json_object *v = json_text(f->example, &ok);
        if (ok) {
            json_object *ex = json_object_new_array();
            json_object_array_add(ex, v);
            json_object_object_add(s, "examples", ex);
        }
    }
    return s;
}

/* The model's schema under components, once; a $ref to it. */
json_object *
evf__oa_model_ref(build_t *b, const evf_model *m)
{
    if (!m || !m->name) {
        if (!b->failed)
            snprintf(b->err, b->errlen, "a model without a name");
        b->failed = true;
        return json_object_new_object();
    }
    for (size_t i = 0; i < b->nmodels; i++) {
        if (b->models[i] == m)
            return evf__oa_ref(m->name);
        if (strcmp(b->models[i]->name, m->name) == 0) {
            if (!b->failed)
                snprintf(b->err, b->errlen, "two models are named '%s'",
                         m->name);
            b->failed = true;
            return evf__oa_ref(m->name);
        }
    }
    const evf_model **v = evf_realloc(b->models,
                                      (b->nmodels + 1) * sizeof(*v));
    if (!v) {
        if (!b->failed)
            snprintf(b->err, b->errlen, "out of memory");
        b->failed = true;
        return evf__oa_ref(m->name);
    }
    b->models = v;
    v[b->nmodels++] = m;    /* before the fields: a model may nest itself */
    json_object *props = json_object_new_object();
    json_object *req = json_object_new_array();
    for (const evf_field *f = m->fields; f && f->name; f++) {
        const char *key = f->alias ? f->alias : f->name;
        json_object_object_add(props, key, field_schema(b, f, key));
        if (!f->def)
            json_object_array_add(req, json_object_new_string(key));
    }
    json_object *s = json_object_new_object();
    json_object_object_add(s, "properties", props);
    json_object_object_add(s, "type", json_object_new_string("object"));
    if (json_object_array_length(req))
        json_object_object_add(s, "required", req);
    else
        json_object_put(req);
    if (m->forbid_extra)
        json_object_object_add(s, "additionalProperties",
                               json_object_new_boolean(false));
    json_object_object_add(s, "title", json_object_new_string(m->name));
    if (m->description)
        json_object_object_add(s, "description",
                               json_object_new_string(m->description));
    json_object_object_add(b->schemas, m->name, s);
    return evf__oa_ref(m->name);
}

/* FastAPI has no schema for HTTPException's body; this is its shape. */
json_object *
evf__oa_http_error(void)
{
    json_object *props = json_object_new_object();
    json_object_object_add(props, "detail", evf__oa_prop("string", "Detail"));
    json_object *req = json_object_new_array();
    json_object_array_add(req, json_object_new_string("detail"));
    json_object *s = evf__oa_prop("object", "HTTPError");
    json_object_object_add(s, "properties", props);
    json_object_object_add(s, "required", req);
    return s;
}

