/*
 * model: field tables of C structs (include/evfcgi.h, "Models"): checked
 * and compiled when an app loads, request bodies validated into structs
 * with pydantic v2's error objects, structs serialized back to JSON.
 *
 * DESIGN.  FastAPI parses the body with json.loads and validates the
 * Python objects (pydantic's lax "python" mode), so the rules here are
 * those of that mode: an int field takes 5, 5.0, true and "5"; a float
 * field ints, bools and numeric strings; a bool field 0/1 and pydantic's
 * words; a string field strings only.  A field's checks stop at its first
 * error, as pydantic-core's validators do; every field is checked, then
 * the extra keys (forbid_extra).  Defaults are validated by the very same
 * code, once at load (a bad default refuses the app) and again into each
 * struct that lacks the field.  Pure: json-c, regex and libc.
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "mem.h"
#include "model.h"
#include "route.h"
#include "url.h"

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

/* ---- validation -------------------------------------------------------- */

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

static json_object *
loc_of(vctx_t *v)
{
    json_object *loc = json_object_new_array();
    if (!loc)
        return NULL;
    json_object_array_add(loc, json_object_new_string(v->where));
    for (size_t i = 0; i < v->depth; i++)
        json_object_array_add(loc, json_object_get(v->path[i]));
    return loc;
}

/* True when o holds NaN or an infinity (json-c reads NaN, Infinity). */
static bool
has_nonfinite(json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_double:
        return !isfinite(json_object_get_double(o));
    case json_type_array:
        for (size_t i = 0; i < json_object_array_length(o); i++)
            if (has_nonfinite(json_object_array_get_idx(o, i)))
                return true;
        return false;
    case json_type_object: {
        json_object_object_foreach(o, k, v) {
            (void)k;
            if (has_nonfinite(v))
                return true;
        }
        return false;
    }
    default:
        return false;
    }
}

/* A copy of o with NaN and infinities as null: JSON has no such number. */
static json_object *
finite_copy(json_object *o)
{
    json_object *c;
    switch (json_object_get_type(o)) {
    case json_type_double:
        return isfinite(json_object_get_double(o)) ? json_object_get(o)
                                                   : NULL;
    case json_type_array:
        c = json_object_new_array();
        for (size_t i = 0; c && i < json_object_array_length(o); i++)
            json_object_array_add(c, finite_copy(
                                      json_object_array_get_idx(o, i)));
        return c;
    case json_type_object: {
        c = json_object_new_object();
        json_object_object_foreach(o, k, v) {
            if (c)
                json_object_object_add(c, k, finite_copy(v));
        }
        return c;
    }
    default:
        return json_object_get(o);
    }
}

/* Append an error at the current location; takes ctx. */
static void
error(vctx_t *v, const char *type, const char *msg, json_object *input,
      json_object *ctx)
{
    if (!*v->errs && !(*v->errs = json_object_new_array())) {
        v->nomem = true;
        json_object_put(ctx);
        return;
    }
    json_object *e = json_object_new_object();
    if (!e) {
        v->nomem = true;
        json_object_put(ctx);
        return;
    }
    json_object_object_add(e, "type", json_object_new_string(type));
    json_object_object_add(e, "loc", loc_of(v));
    json_object_object_add(e, "msg", json_object_new_string(msg));
    /* Echoed as sent, but NaN and infinities (which the answer could
     * not carry as JSON) as null. */
    json_object_object_add(e, "input", has_nonfinite(input)
                                           ? finite_copy(input)
                                           : json_object_get(input));
    if (ctx)
        json_object_object_add(e, "ctx", ctx);
    json_object_array_add(*v->errs, e);
}

/*
 * Enter seg (a key or an index; taken).  False when out of memory, or
 * past MAX_DEPTH: then an error says so, so that a refusal always comes
 * with a reason (json-c's depth limit keeps bodies well above it).
 */
static bool
push(vctx_t *v, json_object *seg, json_object *in)
{
    if (!seg) {
        v->nomem = true;
        return false;
    }
    if (v->depth == MAX_DEPTH) {
        json_object_put(seg);
        error(v, "recursion_loop", "Recursion error - cyclic reference "
              "detected", in, NULL);
        return false;
    }
    v->path[v->depth++] = seg;
    return true;
}

static void
pop(vctx_t *v)
{
    json_object_put(v->path[--v->depth]);
}

/* The shortest decimal digits that read back as d, and d's exponent. */
static size_t
shortest(double d, char *digits, size_t cap, int *exp, bool *neg)
{
    char e[40];
    for (int prec = 0; prec <= 16; prec++) {
        snprintf(e, sizeof(e), "%.*e", prec, d);
        if (strtod(e, NULL) == d)
            break;
    }
    const char *p = e;
    size_t nd = 0;
    *neg = *p == '-';
    if (*neg)
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p != '.' && nd < cap - 1)
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';
    *exp = *p == 'e' ? atoi(p + 1) : 0;
    return nd;
}

/* Positional: 1.5, 0.0000001, 100 (with frac, integral ones end ".0"). */
static void
positional(const char *digits, size_t nd, int exp, bool neg, bool frac,
           char *buf, size_t len)
{
    size_t o = 0;
#define PUT(c) do { if (o + 1 < len) buf[o++] = (c); } while (0)
    if (neg)
        PUT('-');
    if (exp < 0) {
        PUT('0');
        PUT('.');
        for (int i = -1; i > exp; i--)
            PUT('0');
        for (size_t i = 0; i < nd; i++)
            PUT(digits[i]);
    } else {
        for (int i = 0; i <= exp; i++)
            PUT((size_t)i < nd ? digits[i] : '0');
        if ((size_t)exp + 1 < nd) {
            PUT('.');
            for (size_t i = (size_t)exp + 1; i < nd; i++)
                PUT(digits[i]);
        } else if (frac) {
            PUT('.');
            PUT('0');
        }
    }
#undef PUT
    buf[o] = '\0';
}

void
evf_model_float_repr(double d, char *buf, size_t len)
{
    if (isnan(d) || isinf(d)) {
        snprintf(buf, len, "%s", isnan(d) ? "nan" : d < 0 ? "-inf" : "inf");
        return;
    }
    char digits[24];
    int exp;
    bool neg;
    size_t nd = shortest(d, digits, sizeof(digits), &exp, &neg);
    /* Python writes 1e-05 and 1e+16, but 0.0001 and 1000000000000000.0. */
    if (exp >= -4 && exp < 16) {
        positional(digits, nd, exp, neg, true, buf, len);
        return;
    }
    snprintf(buf, len, "%s%c%s%se%c%02d", neg ? "-" : "", digits[0],
             nd > 1 ? "." : "", digits + 1, exp < 0 ? '-' : '+',
             exp < 0 ? -exp : exp);
}

/*
 * d as Rust's Display writes an f64 (pydantic-core renders its messages
 * so): the shortest digits that read back the same, never an exponent,
 * no ".0" on integral values ("0", "1.5", "0.0000001").
 */
static void
rust_float(double d, char *buf, size_t len)
{
    if (isnan(d) || isinf(d)) {
        snprintf(buf, len, "%s", isnan(d) ? "NaN" : d < 0 ? "-inf" : "inf");
        return;
    }
    char digits[24];
    int exp;
    bool neg;
    size_t nd = shortest(d, digits, sizeof(digits), &exp, &neg);
    positional(digits, nd, exp, neg, false, buf, len);
}

/*
 * A bound as pydantic shows it: int fields keep integers; float fields
 * hold an f64, shown in the message as Rust prints it ("0") and in ctx
 * as Python does (0.0).  Fills text (for the message); returns the ctx
 * value.
 */
static json_object *
bound_json(const evf_field *f, double b, char *text, size_t len)
{
    if (f->type == EVF_FT_INT) {
        snprintf(text, len, "%lld", (long long)b);
        return json_object_new_int64((int64_t)b);
    }
    char repr[40];
    rust_float(b, text, len);
    evf_model_float_repr(b, repr, sizeof(repr));
    return json_object_new_double_s(b, repr);
}

/* The first bound x breaks, in pydantic-core's order (le, lt, ge, gt). */
static void
check_bounds(vctx_t *v, const evf_field *f, double x, json_object *in)
{
    const char *type = NULL, *op = NULL, *key = NULL;
    double b = 0;
    if (f->has_le && !(x <= f->le))
        type = "less_than_equal", op = "less than or equal to", key = "le",
        b = f->le;
    else if (f->has_lt && !(x < f->lt))
        type = "less_than", op = "less than", key = "lt", b = f->lt;
    else if (f->has_ge && !(x >= f->ge))
        type = "greater_than_equal", op = "greater than or equal to",
        key = "ge", b = f->ge;
    else if (f->has_gt && !(x > f->gt))
        type = "greater_than", op = "greater than", key = "gt", b = f->gt;
    if (!type)
        return;
    char num[400], msg[460];
    json_object *ctx = json_object_new_object();
    json_object_object_add(ctx, key, bound_json(f, b, num, sizeof(num)));
    snprintf(msg, sizeof(msg), "Input should be %s %s", op, num);
    error(v, type, msg, in, ctx);
}

static json_object *
ctx1(const char *key, json_object *val)
{
    json_object *c = json_object_new_object();
    json_object_object_add(c, key, val);
    return c;
}

/* Characters (code points) of a UTF-8 string. */
static size_t
utf8_chars(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static bool
check_str(vctx_t *v, const cfield_t *cf, json_object *in, const char **out)
{
    const evf_field *f = cf->f;
    if (!json_object_is_type(in, json_type_string)) {
        error(v, "string_type", "Input should be a valid string", in, NULL);
        return false;
    }
    const char *s = json_object_get_string(in);
    size_t len = (size_t)json_object_get_string_len(in);
    if (memchr(s, '\0', len)) {
        /* A C string would end there: refused, as in paths and queries. */
        error(v, "string_no_nul", "Input should not contain a NUL byte", in,
              NULL);
        return false;
    }
    size_t n = utf8_chars(s, len);
    char msg[128];
    if (n < f->min_length) {
        snprintf(msg, sizeof(msg), "String should have at least %zu "
                 "character%s", f->min_length, f->min_length == 1 ? "" : "s");
        error(v, "string_too_short", msg, in, ctx1("min_length",
              json_object_new_int64((int64_t)f->min_length)));
        return false;
    }
    if (f->max_length && n > f->max_length) {
        snprintf(msg, sizeof(msg), "String should have at most %zu "
                 "character%s", f->max_length, f->max_length == 1 ? "" : "s");
        error(v, "string_too_long", msg, in, ctx1("max_length",
              json_object_new_int64((int64_t)f->max_length)));
        return false;
    }
    if (cf->has_re && regexec(&cf->re, s, 0, NULL, 0) != 0) {
        char *m = malloc(strlen(f->pattern) + 40);
        if (!m) {
            v->nomem = true;
            return false;
        }
        sprintf(m, "String should match pattern '%s'", f->pattern);
        error(v, "string_pattern_mismatch", m, in,
              ctx1("pattern", json_object_new_string(f->pattern)));
        free(m);
        return false;
    }
    char *copy = v->alloc(v->actx, len + 1);
    if (!copy) {
        v->nomem = true;
        return false;
    }
    memcpy(copy, s, len);
    copy[len] = '\0';
    *out = copy;
    return true;
}

static bool
check_int(vctx_t *v, const evf_field *f, json_object *in, int64_t *out)
{
    int64_t x = 0;
    const char *type = NULL, *msg = NULL;
    switch (json_object_get_type(in)) {
    case json_type_int:
        x = json_object_get_int64(in);
        if (x == INT64_MAX && json_object_get_uint64(in) > INT64_MAX)
            type = "int_parsing_size",
            msg = "Unable to parse input string as an integer, exceeded "
                  "maximum size";
        break;
    case json_type_boolean:
        x = json_object_get_boolean(in);
        break;
    case json_type_double: {
        double d = json_object_get_double(in);
        if (!isfinite(d))
            type = "finite_number", msg = "Input should be a finite number";
        else if (d != floor(d))
            type = "int_from_float",
            msg = "Input should be a valid integer, got a number with a "
                  "fractional part";
        else if (d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            type = "int_parsing_size",
            msg = "Unable to parse input string as an integer, exceeded "
                  "maximum size";
        else
            x = (int64_t)d;
        break;
    }
    case json_type_string:
        type = evf_convert_int(json_object_get_string(in),
                               (size_t)json_object_get_string_len(in), &x,
                               &msg);
        break;
    default:
        type = "int_type", msg = "Input should be a valid integer";
    }
    if (type) {
        error(v, type, msg, in, NULL);
        return false;
    }
    size_t before = *v->errs ? json_object_array_length(*v->errs) : 0;
    check_bounds(v, f, (double)x, in);
    if (*v->errs && json_object_array_length(*v->errs) != before)
        return false;
    *out = x;
    return true;
}

static bool
check_float(vctx_t *v, const evf_field *f, json_object *in, double *out)
{
    double x = 0;
    const char *type = NULL, *msg = NULL;
    switch (json_object_get_type(in)) {
    case json_type_int:
        if (json_object_get_int64(in) == INT64_MAX &&
            json_object_get_uint64(in) > INT64_MAX)
            x = (double)json_object_get_uint64(in);
        else
            x = (double)json_object_get_int64(in);
        break;
    case json_type_double:
        x = json_object_get_double(in);
        break;
    case json_type_boolean:
        x = json_object_get_boolean(in);
        break;
    case json_type_string:
        type = evf_convert_float(json_object_get_string(in),
                                 (size_t)json_object_get_string_len(in), &x,
                                 &msg);
        break;
    default:
        type = "float_type", msg = "Input should be a valid number";
    }
    if (type) {
        error(v, type, msg, in, NULL);
        return false;
    }
    size_t before = *v->errs ? json_object_array_length(*v->errs) : 0;
    check_bounds(v, f, x, in);
    if (*v->errs && json_object_array_length(*v->errs) != before)
        return false;
    *out = x;
    return true;
}

static bool
check_bool(vctx_t *v, json_object *in, bool *out)
{
    const char *type = NULL, *msg = "Input should be a valid boolean, "
                                    "unable to interpret input";
    switch (json_object_get_type(in)) {
    case json_type_boolean:
        *out = json_object_get_boolean(in);
        return true;
    case json_type_int: {
        int64_t i = json_object_get_int64(in);
        if (i == 0 || i == 1) {
            *out = i == 1;
            return true;
        }
        type = "bool_parsing";
        break;
    }
    case json_type_double: {
        double d = json_object_get_double(in);
        if (d == 0 || d == 1) {
            *out = d == 1;
            return true;
        }
        type = "bool_parsing";
        break;
    }
    case json_type_string:
        type = evf_convert_bool(json_object_get_string(in),
                                (size_t)json_object_get_string_len(in), out,
                                &msg);
        break;
    default:
        type = "bool_type", msg = "Input should be a valid boolean";
    }
    if (type)
        error(v, type, msg, in, NULL);
    return !type;
}

/* Python's repr of a str, roughly: 'v', or "v" when v holds a '. */
static void
py_repr(char *dst, const char *v)
{
    char q = strchr(v, '\'') && !strchr(v, '"') ? '"' : '\'';
    size_t o = 0;
    dst[o++] = q;
    for (; *v; v++) {
        if (*v == q || *v == '\\')
            dst[o++] = '\\';
        dst[o++] = *v;
    }
    dst[o++] = q;
    dst[o] = '\0';
}

/* "'a', 'b' or 'c'", as pydantic-core lists the expected values. */
static char *
enum_expected(const char *const *vals)
{
    size_t n = 0, len = 1;
    for (; vals[n]; n++)
        len += 2 * strlen(vals[n]) + 6;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(s, i + 1 == n ? " or " : ", ");
        py_repr(s + strlen(s), vals[i]);
    }
    return s;
}

static bool
check_enum(vctx_t *v, const evf_field *f, json_object *in, int *out)
{
    if (json_object_is_type(in, json_type_string)) {
        const char *s = json_object_get_string(in);
        size_t len = (size_t)json_object_get_string_len(in);
        for (int i = 0; f->enum_values[i]; i++)
            if (strlen(f->enum_values[i]) == len &&
                memcmp(f->enum_values[i], s, len) == 0) {
                *out = i;
                return true;
            }
    }
    char *exp = enum_expected(f->enum_values);
    char *msg = exp ? malloc(strlen(exp) + 20) : NULL;
    if (!msg) {
        free(exp);
        v->nomem = true;
        return false;
    }
    sprintf(msg, "Input should be %s", exp);
    error(v, "enum", msg, in, ctx1("expected", json_object_new_string(exp)));
    free(msg);
    free(exp);
    return false;
}

static bool validate_object(vctx_t *v, const evf_cmodel_t *c,
                            json_object *in, void *dst);

static void
model_type_error(vctx_t *v, json_object *in)
{
    error(v, "model_attributes_type", "Input should be a valid dictionary "
          "or object to extract fields from", in, NULL);
}

/* One value (not an array) of field cf into dst, which has the C type of
 * an element: the member itself, or an array slot. */
static bool
check_one(vctx_t *v, const cfield_t *cf, json_object *in, void *dst,
          bool opt)
{
    const evf_field *f = cf->f;
    switch (f->type) {
    case EVF_FT_STR:
        return check_str(v, cf, in, (const char **)dst);
    case EVF_FT_INT:
        if (opt) {
            evf_opt_int *o = dst;
            return (o->has = check_int(v, f, in, &o->v));
        }
        return check_int(v, f, in, dst);
    case EVF_FT_FLOAT:
        if (opt) {
            evf_opt_float *o = dst;
            return (o->has = check_float(v, f, in, &o->v));
        }
        return check_float(v, f, in, dst);
    case EVF_FT_BOOL:
        if (opt) {
            evf_opt_bool *o = dst;
            return (o->has = check_bool(v, in, &o->v));
        }
        return check_bool(v, in, dst);
    case EVF_FT_ENUM:
        return check_enum(v, f, in, dst);
    case EVF_FT_MODEL: {
        if (!json_object_is_type(in, json_type_object)) {
            model_type_error(v, in);
            return false;
        }
        void *sub = v->alloc(v->actx, cf->sub->m->size);
        if (!sub) {
            v->nomem = true;
            return false;
        }
        if (!validate_object(v, cf->sub, in, sub))
            return false;
        if (opt) {
            *(void **)dst = sub;
            return true;
        }
        *(void **)dst = sub;
        return true;
    }
    }
    return false;
}

static size_t
elem_size(const cfield_t *cf)
{
    switch (cf->f->type) {
    case EVF_FT_STR: return sizeof(const char *);
    case EVF_FT_INT: return sizeof(int64_t);
    case EVF_FT_FLOAT: return sizeof(double);
    case EVF_FT_BOOL: return sizeof(bool);
    case EVF_FT_ENUM: return sizeof(int);
    case EVF_FT_MODEL: return cf->sub->m->size;
    }
    return 0;
}

typedef EVF_ARRAY(char) any_array_t;

static bool
check_array(vctx_t *v, const cfield_t *cf, json_object *in, void *dst)
{
    const evf_field *f = cf->f;
    char msg[128];
    if (!json_object_is_type(in, json_type_array)) {
        error(v, "list_type", "Input should be a valid list", in, NULL);
        return false;
    }
    size_t n = json_object_array_length(in);
    if (f->max_length && n > f->max_length) {
        snprintf(msg, sizeof(msg), "List should have at most %zu item%s "
                 "after validation, not %zu", f->max_length,
                 f->max_length == 1 ? "" : "s", n);
        json_object *ctx = json_object_new_object();
        json_object_object_add(ctx, "field_type",
                               json_object_new_string("List"));
        json_object_object_add(ctx, "max_length",
                               json_object_new_int64((int64_t)f->max_length));
        json_object_object_add(ctx, "actual_length",
                               json_object_new_int64((int64_t)n));
        error(v, "too_long", msg, in, ctx);
        return false;
    }
    size_t es = elem_size(cf);
    /* n elements are there already: the size comes from parsed input. */
    char *items = v->alloc(v->actx, n ? n * es : 1);
    if (!items) {
        v->nomem = true;
        return false;
    }
    bool ok = true;
    for (size_t i = 0; i < n && !v->nomem; i++) {
        if (!push(v, json_object_new_int64((int64_t)i), in)) {
            ok = false;
            break;
        }
        json_object *it = json_object_array_get_idx(in, i);
        if (cf->f->type == EVF_FT_MODEL) {
            /* The structs themselves, contiguous. */
            if (!json_object_is_type(it, json_type_object)) {
                model_type_error(v, it);
                ok = false;
            } else if (!validate_object(v, cf->sub, it, items + i * es)) {
                ok = false;
            }
        } else if (!check_one(v, cf, it, items + i * es, false)) {
            ok = false;
        }
        pop(v);
    }
    if (!ok)
        return false;
    if (n < f->min_length) {
        snprintf(msg, sizeof(msg), "List should have at least %zu item%s "
                 "after validation, not %zu", f->min_length,
                 f->min_length == 1 ? "" : "s", n);
        json_object *ctx = json_object_new_object();
        json_object_object_add(ctx, "field_type",
                               json_object_new_string("List"));
        json_object_object_add(ctx, "min_length",
                               json_object_new_int64((int64_t)f->min_length));
        json_object_object_add(ctx, "actual_length",
                               json_object_new_int64((int64_t)n));
        error(v, "too_short", msg, in, ctx);
        return false;
    }
    any_array_t *a = dst;
    a->n = n;
    a->v = items;
    return true;
}

/* Set the member of cf in the struct at base to null. */
static void
set_null(const cfield_t *cf, char *base)
{
    void *dst = base + cf->f->offset;
    memset(dst, 0, cf->f->csize);
    if (!cf->f->array && cf->f->type == EVF_FT_ENUM)
        *(int *)dst = -1;
}

/* The value in (NULL: JSON null) of field cf into the struct at base. */
static bool
check_field(vctx_t *v, const cfield_t *cf, json_object *in, char *base)
{
    const evf_field *f = cf->f;
    if (!in && f->nullable) {
        set_null(cf, base);
        return true;
    }
    if (f->array)
        return check_array(v, cf, in, base + f->offset);
    if (!in && f->type == EVF_FT_MODEL) {
        model_type_error(v, in);
        return false;
    }
    return check_one(v, cf, in, base + f->offset, f->nullable);
}

static bool
validate_object(vctx_t *v, const evf_cmodel_t *c, json_object *in, void *dst)
{
    bool ok = true;
    for (size_t i = 0; i < c->nfields && !v->nomem; i++) {
        const cfield_t *cf = &c->fields[i];
        json_object *val = NULL;
        bool given = json_object_object_get_ex(in, cf->key, &val);
        if (!push(v, json_object_new_string(cf->key), in))
            return false;
        if (given)
            ok &= check_field(v, cf, val, dst);
        else if (cf->has_def)
            ok &= check_field(v, cf, cf->def, dst);
        else {
            error(v, "missing", "Field required", in, NULL);
            ok = false;
        }
        pop(v);
    }
    if (c->m->forbid_extra) {
        json_object_object_foreach(in, key, val) {
            size_t i = 0;
            while (i < c->nfields && strcmp(c->fields[i].key, key) != 0)
                i++;
            if (i < c->nfields)
                continue;
            if (!push(v, json_object_new_string(key), in))
                return false;
            error(v, "extra_forbidden", "Extra inputs are not permitted",
                  val, NULL);
            pop(v);
            ok = false;
        }
    }
    return ok && !v->nomem;
}

int
evf_model_validate(const evf_cmodel_t *c, json_object *in, const char *where,
                   evf_model_alloc_fn alloc, void *ctx, json_object **errs,
                   void **out)
{
    vctx_t v = { .alloc = alloc, .actx = ctx, .errs = errs,
                 .where = where };
    bool ok = false;
    if (!json_object_is_type(in, json_type_object)) {
        model_type_error(&v, in);
    } else {
        void *dst = alloc(ctx, c->m->size);
        if (!dst)
            return -1;
        ok = validate_object(&v, c, in, dst);
        if (ok)
            *out = dst;
    }
    while (v.depth)
        pop(&v);
    return v.nomem ? -1 : ok ? 0 : 1;
}

size_t
evf_model_utf8_error(const char *body, size_t len)
{
    const unsigned char *p = (const unsigned char *)body;
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = evf_utf8_seq(p + i, len - i);
        if (!n)
            return i + 1;
        i += n;
    }
    return 0;
}

/* ---- compiling, when the app loads ------------------------------------- */

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
    bool ok = dst && check_field(&v, cf, cf->def, dst) && !v.nomem;
    if (!ok) {
        json_object *e = json_object_array_get_idx(errs, 0);
        json_object *msg = json_object_object_get(e, "msg");
        snprintf(err, errlen, "model %s: field %s: default %s: %s",
                 c->m->name, cf->key, cf->f->def,
                 msg ? json_object_get_string(msg) : "out of memory");
    }
    while (v.depth)
        pop(&v);
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
