/*
 * model_load: models compiled when an app loads: member sizes, types and
 * constraints checked, patterns compiled, defaults parsed and validated
 * by the request code itself (a bad one refuses the app); the compiled
 * set is read-only afterwards.  Pure.
 */
#include "config.h"

#include <json-c/json.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "model_int.h"
#include "route.h"

evf_models_t *
evf_models_new(void)
{
    return evf_calloc(1, sizeof(evf_models_t));
}

void
evf_models_free(evf_models_t *s)
{
    if (!s)
        return;
    while (s->list) {
        evf_cmodel_t *c = s->list;
        s->list = c->next;
        for (size_t i = 0; i < c->nfields; i++) {
            json_object_put(c->fields[i].def);
            if (c->fields[i].has_re)
                regfree(&c->fields[i].re);
        }
        evf_free(c->fields);
        evf_free(c);
    }
    evf_free(s);
}

/* The C size a field's member must have. */
static size_t
member_size(const evf_field *f)
{
    if (f->array)
        return sizeof(any_array_t);
    switch (f->type) {
    case EVF_FT_STR: return sizeof(const char *);
    case EVF_FT_INT:
        return f->nullable ? sizeof(evf_opt_int) : sizeof(int64_t);
    case EVF_FT_FLOAT:
        return f->nullable ? sizeof(evf_opt_float) : sizeof(double);
    case EVF_FT_BOOL:
        return f->nullable ? sizeof(evf_opt_bool) : sizeof(bool);
    case EVF_FT_ENUM: return sizeof(int);
    case EVF_FT_MODEL: return sizeof(void *);
    }
    return 0;
}

/* Scratch memory for checking defaults at load: freed together. */
typedef struct scratch {
    void **v;
    size_t n, cap;
} scratch_t;

static void *
scratch_alloc(void *ctx, size_t size)
{
    scratch_t *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        void **v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return NULL;
        s->v = v, s->cap = cap;
    }
    void *p = calloc(1, size ? size : 1);
    if (p)
        s->v[s->n++] = p;
    return p;
}

static void
scratch_free(scratch_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

/* The field's default, validated as a request's value would be. */
static bool
check_default(const evf_cmodel_t *c, const cfield_t *cf, char *err,
              size_t errlen)
{
    scratch_t s = { 0 };
    json_object *errs = NULL;
    vctx_t v = { .alloc = scratch_alloc, .actx = &s, .errs = &errs,
                 .where = "default" };
    char *dst = scratch_alloc(&s, c->m->size);
    bool ok = dst && evf__model_check_field(&v, cf, cf->def, dst) && !v.nomem;
    if (!ok) {
        json_object *e = json_object_array_get_idx(errs, 0);
        json_object *msg = json_object_object_get(e, "msg");
        snprintf(err, errlen, "model %s: field %s: default %s: %s",
                 c->m->name, cf->key, cf->f->def,
                 msg ? json_object_get_string(msg) : "out of memory");
    }
    evf__model_vctx_end(&v);
    json_object_put(errs);
    scratch_free(&s);
    return ok;
}

#define FAIL(...) do { snprintf(err, errlen, __VA_ARGS__); return NULL; } \
    while (0)

static const evf_cmodel_t *compile(evf_models_t *s, const evf_model *m,
                                   char *err, size_t errlen);

static bool
compile_field(evf_models_t *s, evf_cmodel_t *c, cfield_t *cf, char *err,
              size_t errlen)
{
    const evf_field *f = cf->f;
    const char *mn = c->m->name;
    cf->key = f->alias ? f->alias : f->name;
#define FFAIL(...) do {                                                 \
        int k = snprintf(err, errlen, "model %s: field %s: ", mn,        \
                         cf->key);                                      \
        if (k > 0 && (size_t)k < errlen)                                \
            snprintf(err + k, errlen - (size_t)k, __VA_ARGS__);         \
        return false;                                                   \
    } while (0)
    if (f->type < EVF_FT_STR || f->type > EVF_FT_MODEL)
        FFAIL("unknown type %d", (int)f->type);
    if (f->csize != member_size(f))
        FFAIL("the member's size (%zu) does not fit its type (%zu)",
              f->csize, member_size(f));
    if (f->offset > c->m->size || c->m->size - f->offset < f->csize)
        FFAIL("lies outside the struct");
    if ((!f->has_ge && f->ge) || (!f->has_gt && f->gt) ||
        (!f->has_le && f->le) || (!f->has_lt && f->lt))
        FFAIL("a bound without its has_ flag: use EVF_GE() ...");
    if ((f->has_ge || f->has_gt || f->has_le || f->has_lt) &&
        f->type != EVF_FT_INT && f->type != EVF_FT_FLOAT)
        FFAIL("bounds apply to int and float fields only");
    if ((f->min_length || f->max_length) && !f->array &&
        f->type != EVF_FT_STR)
        FFAIL("lengths apply to strings and arrays only");
    if (f->max_length && f->min_length > f->max_length)
        FFAIL("min_length is above max_length");
    if (f->type == EVF_FT_ENUM && (!f->enum_values || !f->enum_values[0]))
        FFAIL("an enum needs values (EVF_ENUM_VALUES)");
    if (f->pattern) {
        if (f->type != EVF_FT_STR)
            FFAIL("a pattern applies to strings only");
        int rc = regcomp(&cf->re, f->pattern, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[128];
            regerror(rc, &cf->re, why, sizeof(why));
            FFAIL("bad pattern '%s': %s", f->pattern, why);
        }
        cf->has_re = true;
    }
    if (f->type == EVF_FT_MODEL) {
        if (!f->model)
            FFAIL("a nested model field needs its model");
        if (!(cf->sub = compile(s, f->model, err, errlen)))
            return false;
    }
    for (const cfield_t *o = c->fields; o < cf; o++)
        if (strcmp(o->key, cf->key) == 0)
            FFAIL("declared twice");
    if (f->def) {
        enum json_tokener_error jerr;
        cf->def = json_tokener_parse_verbose(f->def, &jerr);
        if (!cf->def && jerr != json_tokener_success)
            FFAIL("default %s is not JSON: %s", f->def,
                  json_tokener_error_desc(jerr));
        cf->has_def = true;
    }
    return true;
#undef FFAIL
}

static const evf_cmodel_t *
compile(evf_models_t *s, const evf_model *m, char *err, size_t errlen)
{
    for (evf_cmodel_t *c = s->list; c; c = c->next)
        if (c->m == m)
            return c;
    if (!m->name || !*m->name)
        FAIL("a model has no name");
    if (!m->fields || !m->fields[0].name)
        FAIL("model %s has no fields", m->name);
    evf_cmodel_t *c = evf_calloc(1, sizeof(*c));
    if (!c)
        FAIL("out of memory");
    c->m = m;
    c->next = s->list;
    s->list = c;
    size_t n = 0;
    while (m->fields[n].name)
        n++;
    if (!(c->fields = evf_calloc(n, sizeof(*c->fields))))
        FAIL("out of memory");
    for (size_t i = 0; i < n; i++) {
        c->fields[i].f = &m->fields[i];
        c->nfields = i + 1;
        if (!compile_field(s, c, &c->fields[i], err, errlen))
            return NULL;
    }
    for (size_t i = 0; i < n; i++)
        if (c->fields[i].has_def &&
            !check_default(c, &c->fields[i], err, errlen))
            return NULL;
    return c;
}

const evf_cmodel_t *
evf_models_add(evf_models_t *s, const evf_model *m, char *err, size_t errlen)
{
    if (!m)
        FAIL("no model");
    return compile(s, m, err, errlen);
}

const evf_model *
evf_cmodel_model(const evf_cmodel_t *c)
{
    return c->m;
}

int
evf__route_models(evf_route_entry_t *e, evf_models_t **set, char *err,
                  size_t errlen)
{
    const evf_route *rt = e->route;
    if (!rt->body && !rt->response_model && !rt->responses)
        return 0;
    if (!*set && !(*set = evf_models_new())) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (rt->body && !(e->body_model = evf_models_add(*set, rt->body, err,
                                                      errlen)))
        return -1;
    if (rt->response_model &&
        !evf_models_add(*set, rt->response_model, err, errlen))
        return -1;
    for (const evf_response_doc *d = rt->responses; d && d->status; d++)
        if (d->model && !evf_models_add(*set, d->model, err, errlen))
            return -1;
    if (rt->status_code && (rt->status_code < 100 || rt->status_code > 599)) {
        snprintf(err, errlen, "status_code %d is not an HTTP status",
                 rt->status_code);
        return -1;
    }
    return 0;
}
