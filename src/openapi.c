/*
 * openapi: the OpenAPI 3.1 document of a route table (see openapi.h).
 *
 * DESIGN.  The document follows what FastAPI emits for the same app, so
 * that tools and habits carry over: operationIds and summaries derived
 * from the handler's name, parameter schemas titled from their names,
 * "Successful Response" and "Validation Error" answers, and the two
 * validation schemas under components.  Parameters come from the path,
 * the query, headers and cookies (one switch, loc_name); forms become the
 * request body; the security schemes of a route's dependencies go under
 * components/securitySchemes and the operation's security.  Everything is built with json-c
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
#include "http_status.h"
#include "mem.h"
#include "openapi.h"
#include "openapi_int.h"

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

json_object *
evf__oa_type(evf_type t)
{
    json_object *s = json_object_new_object();
    const char *name = "string";
    switch (t) {
    case EVF_INT: name = "integer"; break;
    case EVF_FLOAT: name = "number"; break;
    case EVF_BOOL: name = "boolean"; break;
    case EVF_STR:
    case EVF_PATH: name = "string"; break;
    case EVF_FILE:
        json_object_object_add(s, "format", json_object_new_string("binary"));
        break;
    }
    json_object_object_add(s, "type", json_object_new_string(name));
    return s;
}

json_object *
evf__oa_null(void)
{
    json_object *s = json_object_new_object();
    json_object_object_add(s, "type", json_object_new_string("null"));
    return s;
}

/* A number as the schema writes it: integral values of int params as
 * integers, the rest as doubles. */
json_object *
evf__oa_number(evf_type t, double x)
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

/* The schema of one declared parameter or form field. */
static json_object *
param_schema(const evf_query *q, bool *required)
{
    json_object *s = evf__oa_type(q->type);
    if (q->has_ge)
        json_object_object_add(s, "minimum", evf__oa_number(q->type, q->ge));
    if (q->has_le)
        json_object_object_add(s, "maximum", evf__oa_number(q->type, q->le));
    if (q->choices) {
        json_object *e = json_object_new_array();
        for (const char *const *c = q->choices; *c; c++)
            json_object_array_add(e, json_object_new_string(*c));
        json_object_object_add(s, "enum", e);
    }
    if (q->list) {
        /* List[T], with its bounds: a default does not apply. */
        json_object *a = json_object_new_object();
        json_object_object_add(a, "type", json_object_new_string("array"));
        json_object_object_add(a, "items", s);
        if (q->min_items)
            json_object_object_add(a, "minItems", json_object_new_int64(
                                       (int64_t)q->min_items));
        if (q->max_items)
            json_object_object_add(a, "maxItems", json_object_new_int64(
                                       (int64_t)q->max_items));
        *required = !q->optional;
        return a;
    }
    *required = !q->def && !q->optional;
    if (q->def) {
        json_object *d = default_value(q->type, q->def);
        if (d)
            json_object_object_add(s, "default", d);
    } else if (q->optional) {
        /* Optional[T] = None, as pydantic v2 writes it. */
        json_object *any = json_object_new_array();
        json_object_array_add(any, s);
        json_object_array_add(any, evf__oa_null());
        s = json_object_new_object();
        json_object_object_add(s, "anyOf", any);
    }
    return s;
}

static json_object *
query_param(const evf_query *q)
{
    bool required;
    json_object *s = param_schema(q, &required);
    enum loc where = q->in == EVF_IN_HEADER ? LOC_HEADER
                     : q->in == EVF_IN_COOKIE ? LOC_COOKIE : LOC_QUERY;
    /* The name on the wire: a header's declared name with '-' for '_'
     * (FastAPI's convert_underscores), unless an alias says otherwise. */
    char wire[256];
    const char *name = q->alias ? q->alias : q->name;
    if (where == LOC_HEADER && !q->alias) {
        size_t i = 0;
        for (; q->name[i] && i + 1 < sizeof(wire); i++)
            wire[i] = q->name[i] == '_' ? '-' : q->name[i];
        wire[i] = '\0';
        name = wire;
    }
    return param_obj(name, where, required, s);
}

/*
 * A route's form (urlencoded, or multipart/form-data when it takes
 * files), as one object schema.
 */
static json_object *
form_body(const evf_query *form)
{
    bool files = false;
    json_object *props = json_object_new_object();
    json_object *req = json_object_new_array();
    for (const evf_query *q = form; q->name; q++) {
        bool required;
        char title[256];
        json_object *s = param_schema(q, &required);
        evf_openapi_title(q->name, title, sizeof(title));
        json_object_object_add(s, "title", json_object_new_string(title));
        json_object_object_add(props, q->name, s);
        if (required)
            json_object_array_add(req, json_object_new_string(q->name));
        files |= q->type == EVF_FILE;
    }
    json_object *schema = json_object_new_object();
    json_object_object_add(schema, "type", json_object_new_string("object"));
    json_object_object_add(schema, "properties", props);
    if (json_object_array_length(req))
        json_object_object_add(schema, "required", req);
    else
        json_object_put(req);
    json_object *media = json_object_new_object();
    json_object_object_add(media, "schema", schema);
    json_object *c = json_object_new_object();
    json_object_object_add(c, files ? "multipart/form-data"
                                    : "application/x-www-form-urlencoded",
                           media);
    return c;
}

/*
 * The security schemes of deps and their sub-dependencies: each added to
 * b's securitySchemes (once) and to the operation's requirements.
 */
static void
security_of(build_t *b, const evf_dep *const *deps, json_object *reqs,
            unsigned depth)
{
    for (; deps && *deps && depth < 64; deps++) {
        const evf_security *sec = (*deps)->security;
        if (sec && sec->scheme_name) {
            if (!json_object_object_get_ex(b->security, sec->scheme_name,
                                           NULL)) {
                json_object *o = json_object_new_object();
                json_object_object_add(o, "type", json_object_new_string(
                                           sec->type ? sec->type : "http"));
                if (sec->scheme)
                    json_object_object_add(o, "scheme",
                                           json_object_new_string(
                                               sec->scheme));
                if (sec->bearer_format)
                    json_object_object_add(o, "bearerFormat",
                                           json_object_new_string(
                                               sec->bearer_format));
                if (sec->type && strcmp(sec->type, "apiKey") == 0) {
                    json_object_object_add(o, "in", json_object_new_string(
                        loc_name(sec->in == EVF_IN_COOKIE ? LOC_COOKIE
                                 : sec->in == EVF_IN_QUERY ? LOC_QUERY
                                                           : LOC_HEADER)));
                    json_object_object_add(o, "name", json_object_new_string(
                                               sec->name ? sec->name : ""));
                }
                if (sec->description)
                    json_object_object_add(o, "description",
                                           json_object_new_string(
                                               sec->description));
                json_object_object_add(b->security, sec->scheme_name, o);
            }
            json_object *r = json_object_new_object();
            json_object_object_add(r, sec->scheme_name,
                                   json_object_new_array());
            json_object_array_add(reqs, r);
        }
        security_of(b, (*deps)->deps, reqs, depth + 1);
    }
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
                                                evf__oa_type(t)));
        n++;
        s = end;
    }
    return n;
}

json_object *
evf__oa_ref(const char *name)
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

json_object *
evf__oa_prop(const char *type, const char *title)
{
    json_object *o = json_object_new_object();
    if (type)
        json_object_object_add(o, "type", json_object_new_string(type));
    json_object_object_add(o, "title", json_object_new_string(title));
    return o;
}


static void
lower(const char *s, char *out, size_t outlen)
{
    size_t n = 0;
    for (; *s && n + 1 < outlen; s++)
        out[n++] = (char)tolower((unsigned char)*s);
    out[n] = '\0';
}

/* ---- operations --------------------------------------------------------- */

static void
status_key(int status, char *out, size_t outlen)
{
    snprintf(out, outlen, "%d", status);
}

/* The route's answers: its own, its documented others, and the 422. */
static json_object *
answers(build_t *b, const evf_route *rt, bool validates)
{
    char key[16];
    json_object *all = json_object_new_object();
    status_key(rt->status_code ? rt->status_code : 200, key, sizeof(key));
    json_object *ok = rt->response_model
        ? evf__oa_model_ref(b, rt->response_model) : json_object_new_object();
    json_object_object_add(all, key, answer("Successful Response", ok));
    for (const evf_response_doc *d = rt->responses; d && d->status; d++) {
        const char *text = d->description;
        if (!text)
            text = evf_http_reason(d->status);
        json_object *schema;
        if (d->model) {
            schema = evf__oa_model_ref(b, d->model);
        } else {
            schema = evf__oa_ref("HTTPError");
            b->http_error = true;
        }
        status_key(d->status, key, sizeof(key));
        json_object_object_add(all, key, answer(text ? text : "Response",
                                                schema));
    }
    if (validates)
        json_object_object_add(all, "422",
                               answer("Validation Error",
                                      evf__oa_ref("HTTPValidationError")));
    return all;
}

/* One route's operation object. */
static json_object *
operation(build_t *b, const evf_route *rt)
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
    bool validates = n > 0;

    if (rt->form && rt->form[0].name) {
        json_object *body = json_object_new_object();
        json_object_object_add(body, "content", form_body(rt->form));
        json_object_object_add(body, "required",
                               json_object_new_boolean(true));
        json_object_object_add(op, "requestBody", body);
        validates = true;
    } else if (rt->body || rt->json_body) {
        json_object *body = json_object_new_object();
        json_object_object_add(body, "content", json_content(
                                   rt->body ? evf__oa_model_ref(b, rt->body)
                                            : json_object_new_object()));
        json_object_object_add(body, "required",
                               json_object_new_boolean(true));
        json_object_object_add(op, "requestBody", body);
        validates = true;
    }
    json_object_object_add(op, "responses", answers(b, rt, validates));
    json_object *reqs = json_object_new_array();
    security_of(b, rt->deps, reqs, 0);
    if (json_object_array_length(reqs))
        json_object_object_add(op, "security", reqs);
    else
        json_object_put(reqs);
    b->validates |= validates;
    return op;
}

/*
 * False if a value in the tree is NULL where JSON null cannot be meant (a
 * failed json-c allocation): nulls are only written as defaults and
 * examples.
 */
static bool
complete(json_object *o, bool null_ok)
{
    if (!o)
        return null_ok;
    switch (json_object_get_type(o)) {
    case json_type_object: {
        json_object_object_foreach(o, k, v) {
            bool value = strcmp(k, "default") == 0 ||
                         strcmp(k, "examples") == 0;
            if (!complete(v, value))
                return false;
        }
        return true;
    }
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (!complete(json_object_array_get_idx(o, i), null_ok))
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
    build_t b = { .schemas = json_object_new_object(), .err = err,
                  .errlen = errlen, .security = json_object_new_object() };
    json_object *doc = json_object_new_object();
    json_object *inf = json_object_new_object();
    json_object *paths = json_object_new_object();
    if (!doc || !inf || !paths || !b.schemas || !b.security)
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
    paths = NULL;
    json_object *all = json_object_object_get(doc, "paths");
    for (const evf_route *rt = routes; rt && rt->method; rt++) {
        if (rt->hidden)
            continue;
        char fmt[1024], method[16];
        path_format(rt->path, fmt, sizeof(fmt));
        lower(rt->method, method, sizeof(method));
        json_object *item;
        if (!json_object_object_get_ex(all, fmt, &item)) {
            item = json_object_new_object();
            if (!item)
                goto oom;
            json_object_object_add(all, fmt, item);
        }
        json_object_object_add(item, method, operation(&b, rt));
    }
    if (b.failed)
        goto fail;
    if (b.validates)
        evf__oa_validation_schemas(b.schemas);
    if (b.http_error)
        json_object_object_add(b.schemas, "HTTPError", evf__oa_http_error());
    if (json_object_object_length(b.schemas) ||
        json_object_object_length(b.security)) {
        json_object *comp = json_object_new_object();
        if (json_object_object_length(b.schemas)) {
            json_object_object_add(comp, "schemas", b.schemas);
            b.schemas = NULL;
        }
        if (json_object_object_length(b.security)) {
            json_object_object_add(comp, "securitySchemes", b.security);
            b.security = NULL;
        }
        json_object_object_add(doc, "components", comp);
    }
    if (!complete(doc, false))
        goto oom;
    json_object_put(b.schemas);
    json_object_put(b.security);
    evf_free(b.models);
    return doc;
oom:
    snprintf(err, errlen, "out of memory building the OpenAPI document");
fail:
    json_object_put(b.schemas);
    json_object_put(b.security);
    json_object_put(inf);
    json_object_put(paths);
    json_object_put(doc);
    evf_free(b.models);
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
