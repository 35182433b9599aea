/*
 * openapi: the OpenAPI 3.1 document of a route table (see openapi.h).
 *
 * DESIGN.  The document follows what FastAPI emits for the same app, so
 * that tools and habits carry over: operationIds and summaries derived
 * from the handler's name, parameter schemas titled from their names,
 * "Successful Response" and "Validation Error" answers, and the two
 * validation schemas under components.  Parameter locations go through
 * one switch (loc_name), so header and cookie parameters are one case
 * each once routes can declare them.  Everything is built with json-c
 * and checked for allocation failure at the end: a json-c constructor
 * that fails returns NULL, and adding NULL to an object or array is
 * harmless, so one walk over the finished tree (complete()) finds it.
 */
#include "config.h"

#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "convert.h"
#include "mem.h"
#include "openapi.h"

#define REF_PREFIX "#/components/schemas/"

enum loc { LOC_PATH, LOC_QUERY, LOC_HEADER, LOC_COOKIE };

static const char *
loc_name(enum loc l)
{
    switch (l) {
    case LOC_PATH: return "path";
    case LOC_QUERY: return "query";
    case LOC_HEADER: return "header";
    case LOC_COOKIE: return "cookie";
    }
    return "query";
}

/* ---- names ------------------------------------------------------------ */

size_t
evf_openapi_title(const char *name, char *out, size_t outlen)
{
    size_t n = 0;
    bool after_letter = false;
    for (const char *s = name; *s; s++, n++) {
        int c = (unsigned char)*s;
        if (c == '_')
            c = ' ';
        if (isalpha(c))
            c = after_letter ? tolower(c) : toupper(c);
        after_letter = isalpha(c) != 0;
        if (n + 1 < outlen)
            out[n] = (char)c;
    }
    if (outlen)
        out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

/*
 * "/items/{item_id:int}" -> "/items/{item_id}" into out (outlen > 0).
 * Returns the length written.
 */
static size_t
path_format(const char *path, char *out, size_t outlen)
{
    size_t n = 0;
    bool in_param = false, skipping = false;
    for (const char *s = path; *s && n + 1 < outlen; s++) {
        if (*s == '{')
            in_param = true;
        else if (*s == '}')
            in_param = skipping = false;
        else if (*s == ':' && in_param)
            skipping = true;
        if (!skipping)
            out[n++] = *s;
    }
    out[n] = '\0';
    return n;
}

static bool
word_byte(int c)
{
    return isalnum(c) || c == '_';
}

size_t
evf_openapi_operation_id(const char *handler, const char *path,
                         const char *method, char *out, size_t outlen)
{
    char fmt[1024];
    path_format(path, fmt, sizeof(fmt));
    const char *parts[] = { handler ? handler : "", fmt, "_", method };
    size_t n = 0;
    for (size_t k = 0; k < 4; k++)
        for (const char *s = parts[k]; *s; s++, n++) {
            int c = (unsigned char)*s;
            if (!word_byte(c))
                c = '_';
            else if (k == 3)
                c = tolower(c);
            if (n + 1 < outlen)
                out[n] = (char)c;
        }
    if (outlen)
        out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

/* ---- schemas ------------------------------------------------------------ */

static json_object *
type_schema(evf_type t)
{
    json_object *s = json_object_new_object();
    const char *name = "string";
    switch (t) {
    case EVF_INT: name = "integer"; break;
    case EVF_FLOAT: name = "number"; break;
    case EVF_BOOL: name = "boolean"; break;
    case EVF_STR:
    case EVF_PATH: name = "string"; break;
    }
    json_object_object_add(s, "type", json_object_new_string(name));
    return s;
}

/* A number as the schema writes it: integral values of int params as
 * integers, the rest as doubles. */
static json_object *
number(evf_type t, double x)
{
    if (t == EVF_INT && x == floor(x) && fabs(x) < 9.2e18)
        return json_object_new_int64((int64_t)x);
    return json_object_new_double(x);
}

/* A default written as in a URL, as a typed JSON value (NULL: unusable). */
static json_object *
default_value(evf_type t, const char *def)
{
    size_t len = strlen(def);
    const char *msg;
    switch (t) {
    case EVF_INT: {
        int64_t v;
        if (evf_convert_int(def, len, &v, &msg))
            return NULL;
        return json_object_new_int64(v);
    }
    case EVF_FLOAT: {
        double v;
        if (evf_convert_float(def, len, &v, &msg) || !isfinite(v))
            return NULL;
        return json_object_new_double(v);
    }
    case EVF_BOOL: {
        bool v;
        if (evf_convert_bool(def, len, &v, &msg))
            return NULL;
        return json_object_new_boolean(v);
    }
    default:
        return json_object_new_string(def);
    }
}

static json_object *
param_obj(const char *name, enum loc where, bool required,
          json_object *schema)
{
    char title[256];
    evf_openapi_title(name, title, sizeof(title));
    json_object_object_add(schema, "title", json_object_new_string(title));
    json_object *p = json_object_new_object();
    json_object_object_add(p, "name", json_object_new_string(name));
    json_object_object_add(p, "in", json_object_new_string(loc_name(where)));
    json_object_object_add(p, "required", json_object_new_boolean(required));
    json_object_object_add(p, "schema", schema);
    return p;
}

static json_object *
query_param(const evf_query *q)
{
    json_object *s = type_schema(q->type);
    if (q->has_ge)
        json_object_object_add(s, "minimum", number(q->type, q->ge));
    if (q->has_le)
        json_object_object_add(s, "maximum", number(q->type, q->le));
    bool required = !q->def && !q->optional;
    if (q->def) {
        json_object *d = default_value(q->type, q->def);
        if (d)
            json_object_object_add(s, "default", d);
    } else if (q->optional) {
        /* Optional[T] = None, as pydantic v2 writes it. */
        json_object *any = json_object_new_array();
        json_object_array_add(any, s);
        json_object *null = json_object_new_object();
        json_object_object_add(null, "type", json_object_new_string("null"));
        json_object_array_add(any, null);
        s = json_object_new_object();
        json_object_object_add(s, "anyOf", any);
    }
    return param_obj(q->name, LOC_QUERY, required, s);
}

/*
 * The path template's parameters, in order, added to params.  Returns how
 * many there were.
 */
static size_t
path_params(const char *path, json_object *params)
{
    size_t n = 0;
    for (const char *s = strchr(path, '{'); s; s = strchr(s, '{')) {
        const char *end = strchr(s, '}');
        if (!end)
            break;
        const char *colon = memchr(s, ':', (size_t)(end - s));
        size_t nlen = (size_t)((colon ? colon : end) - s - 1);
        char name[128], type[16] = "str";
        snprintf(name, sizeof(name), "%.*s", (int)nlen, s + 1);
        if (colon)
            snprintf(type, sizeof(type), "%.*s", (int)(end - colon - 1),
                     colon + 1);
        evf_type t = EVF_STR;
        if (strcmp(type, "int") == 0)
            t = EVF_INT;
        else if (strcmp(type, "float") == 0)
            t = EVF_FLOAT;
        else if (strcmp(type, "bool") == 0)
            t = EVF_BOOL;
        json_object_array_add(params, param_obj(name, LOC_PATH, true,
                                                type_schema(t)));
        n++;
        s = end;
    }
    return n;
}

static json_object *
ref(const char *name)
{
    char buf[256];
    snprintf(buf, sizeof(buf), REF_PREFIX "%s", name);
    json_object *o = json_object_new_object();
    json_object_object_add(o, "$ref", json_object_new_string(buf));
    return o;
}

static json_object *
json_content(json_object *schema)
{
    json_object *media = json_object_new_object();
    json_object_object_add(media, "schema", schema);
    json_object *c = json_object_new_object();
    json_object_object_add(c, "application/json", media);
    return c;
}

static json_object *
answer(const char *description, json_object *schema)
{
    json_object *a = json_object_new_object();
    json_object_object_add(a, "description",
                           json_object_new_string(description));
    if (schema)
        json_object_object_add(a, "content", json_content(schema));
    return a;
}

static json_object *
prop(const char *type, const char *title)
{
    json_object *o = json_object_new_object();
    if (type)
        json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "title", json_object_new_string(title));
    return o;
}

/* FastAPI's HTTPValidationError and ValidationError (pydantic v2). */
static void
validation_schemas(json_object *schemas)
{
    json_object *items = json_object_new_object();
    json_object_object_add(items, "$ref",
                           json_object_new_string(REF_PREFIX
                                                  "ValidationError"));
    json_object *detail = prop("array", "Detail");
    json_object_object_add(detail, "items", items);
    json_object *props = json_object_new_object();
    json_object_object_add(props, "detail", detail);
    json_object *hve = prop("object", "HTTPValidationError");
    json_object_object_add(hve, "properties", props);
    json_object_object_add(schemas, "HTTPValidationError", hve);

    json_object *any = json_object_new_array();
    json_object_array_add(any, type_schema(EVF_STR));
    json_object_array_add(any, type_schema(EVF_INT));
    json_object *loc_items = json_object_new_object();
    json_object_object_add(loc_items, "anyOf", any);
    json_object *loc = prop("array", "Location");
    json_object_object_add(loc, "items", loc_items);
    props = json_object_new_object();
    json_object_object_add(props, "loc", loc);
    json_object_object_add(props, "msg", prop("string", "Message"));
    json_object_object_add(props, "type", prop("string", "Error Type"));
    json_object_object_add(props, "input", prop(NULL, "Input"));
    json_object_object_add(props, "ctx", prop("object", "Context"));
    json_object *req = json_object_new_array();
    json_object_array_add(req, json_object_new_string("loc"));
    json_object_array_add(req, json_object_new_string("msg"));
    json_object_array_add(req, json_object_new_string("type"));
    json_object *ve = prop("object", "ValidationError");
    json_object_object_add(ve, "properties", props);
    json_object_object_add(ve, "required", req);
    json_object_object_add(schemas, "ValidationError", ve);
}

/* ---- operations ---------------------------------------------------------- */

static void
lower(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *s && n + 1 < outlen; s++)
        out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

/* One route's operation object.  *validates: it answers 422 sometimes. */
static json_object *
operation(const evf_route *rt, bool *validates)
{
    json_object *op = json_object_new_object();
    char buf[1400];
    if (rt->tags && rt->tags[0]) {
        json_object *tags = json_object_new_array();
        for (size_t i = 0; rt->tags[i]; i++)
            json_object_array_add(tags, json_object_new_string(rt->tags[i]));
        json_object_object_add(op, "tags", tags);
    }
    const char *hname = rt->handler_name ? rt->handler_name : "handler";
    if (rt->summary)
        json_object_object_add(op, "summary",
                               json_object_new_string(rt->summary));
    else {
        evf_openapi_title(hname, buf, sizeof(buf));
        json_object_object_add(op, "summary", json_object_new_string(buf));
    }
    if (rt->description)
        json_object_object_add(op, "description",
                               json_object_new_string(rt->description));
    if (rt->operation_id)
        json_object_object_add(op, "operationId",
                               json_object_new_string(rt->operation_id));
    else {
        evf_openapi_operation_id(hname, rt->path, rt->method, buf,
                                 sizeof(buf));
        json_object_object_add(op, "operationId",
                               json_object_new_string(buf));
    }

    json_object *params = json_object_new_array();
    size_t n = path_params(rt->path, params);
    for (const evf_query *q = rt->query; q && q->name; q++, n++)
        json_object_array_add(params, query_param(q));
    if (n)
        json_object_object_add(op, "parameters", params);
    else
        json_object_put(params);
    *validates = n > 0;

    if (rt->json_body) {
        json_object *body = json_object_new_object();
        json_object_object_add(body, "content",
                               json_content(json_object_new_object()));
        json_object_object_add(body, "required",
                               json_object_new_boolean(true));
        json_object_object_add(op, "requestBody", body);
        *validates = true;
    }

    json_object *answers = json_object_new_object();
    json_object_object_add(answers, "200",
                           answer("Successful Response",
                                  json_object_new_object()));
    if (*validates)
        json_object_object_add(answers, "422",
                               answer("Validation Error",
                                      ref("HTTPValidationError")));
    json_object_object_add(op, "responses", answers);
    return op;
}

/* False if any value in the tree is NULL (a failed json-c allocation). */
static bool
complete(json_object *o)
{
    if (!o)
        return false;
    switch (json_object_get_type(o)) {
    case json_type_object: {
        json_object_object_foreach(o, k, v) {
            (void)k;
            if (!complete(v))
                return false;
        }
        return true;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (!complete(json_object_array_get_idx(o, i)))
                return false;
        return true;
    default:
        return true;
    }
}

json_object *
evf_openapi_build(const evf_route *routes, const evf_openapi_info_t *info,
                  char *err, size_t errlen)
{
    json_object *doc = json_object_new_object();
    json_object *inf = json_object_new_object();
    json_object *paths = json_object_new_object();
    bool any_validates = false;
    if (!doc || !inf || !paths)
        goto oom;
    json_object_object_add(doc, "openapi", json_object_new_string("3.1.0"));
    json_object_object_add(inf, "title", json_object_new_string(
                               info && info->title ? info->title
                                                   : "evfcgi"));
    if (info && info->description)
        json_object_object_add(inf, "description", json_object_new_string(
                                   info->description));
    json_object_object_add(inf, "version", json_object_new_string(
                               info && info->version ? info->version
                                                     : "0.1.0"));
    json_object_object_add(doc, "info", inf);
    inf = NULL;
    json_object_object_add(doc, "paths", paths);
    for (const evf_route *rt = routes; rt && rt->method; rt++) {
        if (rt->hidden)
            continue;
        char fmt[1024], method[16];
        path_format(rt->path, fmt, sizeof(fmt));
        lower(rt->method, method, sizeof(method));
        json_object *item;
        if (!json_object_object_get_ex(paths, fmt, &item)) {
            item = json_object_new_object();
            if (!item)
                goto oom;
            json_object_object_add(paths, fmt, item);
        }
        bool validates = false;
        json_object_object_add(item, method, operation(rt, &validates));
        any_validates |= validates;
    }
    if (any_validates) {
        json_object *schemas = json_object_new_object();
        json_object *comp = json_object_new_object();
        validation_schemas(schemas);
        json_object_object_add(comp, "schemas", schemas);
        json_object_object_add(doc, "components", comp);
    }
    if (!complete(doc))
        goto oom;
    return doc;
oom:
    json_object_put(inf);
    json_object_put(doc);
    snprintf(err, errlen, "out of memory building the OpenAPI document");
    return NULL;
}

char *
evf_openapi_render(const evf_route *routes, const evf_openapi_info_t *info,
                   size_t *len, char *err, size_t errlen)
{
    json_object *doc = evf_openapi_build(routes, info, err, errlen);
    if (!doc)
        return NULL;
    size_t n;
    const char *s = json_object_to_json_string_length(
        doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
    char *out = s ? evf_malloc(n + 1) : NULL;
    if (out) {
        memcpy(out, s, n + 1);
        *len = n;
    } else {
        snprintf(err, errlen, "out of memory rendering the OpenAPI document");
    }
    json_object_put(doc);
    return out;
}
