/*
 * params: declared header, cookie and list parameters, and cookies.
 *
 * inputs.c validates the path and the plain query parameters; it hands
 * this module the declared query lists and choices (in declaration order,
 * so the 422 list keeps FastAPI's order), then the header and cookie
 * parameters (evf__params_validate: headers, then cookies, each in
 * declaration order).  Values go into the request's qvals, one per
 * declaration, so the evf_query_* accessors read any declared parameter
 * by its name.  The Cookie header is parsed only when a route declares a
 * cookie parameter or a handler asks for a cookie.  Loop thread, or the
 * pool thread that owns a blocking request.
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "convert.h"
#include "cookie.h"
#include "request_int.h"
#include "url.h"

/* ---- errors ------------------------------------------------------------ */

/* A JSON string of s[0..len), bytes that are not UTF-8 as U+FFFD. */
static json_object *
text_json(const char *s, size_t len)
{
    char small[256];
    char *t = len < sizeof(small) / 3 ? small : malloc(3 * len + 1);
    if (!t)
        return NULL;
    size_t n = evf_utf8_scrub(t, s, len);
    json_object *o = json_object_new_string_len(t, (int)n);
    if (t != small)
        free(t);
    return o;
}

static const char *
where_of(evf_in in)
{
    return in == EVF_IN_HEADER ? "header"
           : in == EVF_IN_COOKIE ? "cookie" : "query";
}

/* The name errors show: the alias, or the declared name (as FastAPI). */
static const char *
loc_name(const evf_query *q)
{
    return q->alias ? q->alias : q->name;
}

/*
 * Append FastAPI's error item to *errs: loc is [where, name] or, with
 * idx >= 0, [where, name, idx]; input (taken) may be NULL (null).
 * Returns the item (borrowed), to add a ctx to.
 */
static json_object *
add_error(json_object **errs, const char *type, const evf_query *q,
          long idx, const char *msg, json_object *input)
{
    if (!*errs)
        *errs = json_object_new_array();
    json_object *e = json_object_new_object();
    json_object_object_add(e, "type", json_object_new_string(type));
    json_object *loc = json_object_new_array();
    json_object_array_add(loc, json_object_new_string(where_of(q->in)));
    json_object_array_add(loc, json_object_new_string(loc_name(q)));
    if (idx >= 0)
        json_object_array_add(loc, json_object_new_int64(idx));
    json_object_object_add(e, "loc", loc);
    json_object_object_add(e, "msg", json_object_new_string(msg));
    json_object_object_add(e, "input", input);
    json_object_array_add(*errs, e);
    return e;
}

/* pydantic's "'a', 'b' or 'c'" for the allowed values. */
static void
expected(char *dst, size_t cap, const char *const *choices)
{
    size_t n = 0, k = 0;
    while (choices[k])
        k++;
    dst[0] = '\0';
    for (size_t i = 0; i < k && n < cap; i++) {
        const char *sep = i == 0 ? "" : i + 1 == k ? " or " : ", ";
        int w = snprintf(dst + n, cap - n, "%s'%s'", sep, choices[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

/*
 * Convert, choose and bound v (text given), as path/query values are;
 * adds the error (loc idx >= 0 for a list item) and returns false when
 * it is refused.
 */
static bool
check_value(const evf_query *q, value_t *v, size_t len, long idx,
            json_object **errs)
{
    const char *msg = NULL, *type = NULL;
    if (strlen(v->text) != len) {
        add_error(errs, "string_no_nul", q, idx,
                  "Input should not contain a NUL byte",
                  text_json(v->text, len));
        return false;
    }
    switch (v->type) {
    case EVF_INT:
        type = evf_convert_int(v->text, len, &v->v.i, &msg);
        break;
    case EVF_FLOAT:
        type = evf_convert_float(v->text, len, &v->v.f, &msg);
        break;
    case EVF_BOOL:
        type = evf_convert_bool(v->text, len, &v->v.b, &msg);
        break;
    default:
        break;
    }
    if (type) {
        add_error(errs, type, q, idx, msg, text_json(v->text, len));
        return false;
    }
    if (q->choices) {
        bool ok = false;
        for (const char *const *c = q->choices; *c && !ok; c++)
            ok = strcmp(*c, v->text) == 0;
        if (!ok) {
            char exp[512], m[600];
            expected(exp, sizeof(exp), q->choices);
            snprintf(m, sizeof(m), "Input should be %s", exp);
            json_object *e = add_error(errs, "enum", q, idx, m,
                                       text_json(v->text, len));
            json_object *ctx = json_object_new_object();
            json_object_object_add(ctx, "expected",
                                   json_object_new_string(exp));
            json_object_object_add(e, "ctx", ctx);
            return false;
        }
    }
    if (v->type != EVF_INT && v->type != EVF_FLOAT)
        return true;
    double x = v->type == EVF_INT ? (double)v->v.i : v->v.f;
    bool low = q->has_ge && x < q->ge, high = !low && q->has_le && x > q->le;
    if (!low && !high)
        return true;
    double bound = low ? q->ge : q->le;
    char num[48], m[128];
    if (v->type == EVF_INT)
        snprintf(num, sizeof(num), "%lld", (long long)bound);
    else
        snprintf(num, sizeof(num), "%.17g", bound);
    snprintf(m, sizeof(m), "Input should be %s %s",
             low ? "greater than or equal to" : "less than or equal to", num);
    json_object *e = add_error(errs, low ? "greater_than_equal"
                                         : "less_than_equal",
                               q, idx, m, text_json(v->text, len));
    json_object *ctx = json_object_new_object();
    json_object_object_add(ctx, low ? "ge" : "le",
                           v->type == EVF_INT
                               ? json_object_new_int64((int64_t)bound)
                               : json_object_new_double(bound));
    json_object_object_add(e, "ctx", ctx);
    return false;
}

/*
 * A scalar: text[0..len) as given (NULL: absent); the default, missing
 * or optional otherwise.  text stays NULL when it was not given, so
 * evf_query_has says so.
 */
static void
scalar(const evf_query *q, value_t *v, const char *text, size_t len,
       json_object **errs)
{
    bool given = text != NULL;
    v->text = given ? text : q->def;
    if (!v->text) {
        if (!q->optional)
            add_error(errs, "missing", q, -1, "Field required", NULL);
        return;
    }
    check_value(q, v, given ? len : strlen(v->text), -1, errs);
    if (!given)
        v->text = NULL;
}

/* ---- query lists and choices ------------------------------------------ */

/* The list's values as a JSON array (for too_long / too_short). */
static json_object *
items_json(const value_t *v)
{
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < v->nitems; i++)
        json_object_array_add(a, text_json(v->items[i].text,
                                           strlen(v->items[i].text)));
    return a;
}

static void
count_error(const evf_query *q, const value_t *v, bool too_long,
            json_object **errs)
{
    size_t bound = too_long ? q->max_items : q->min_items;
    char m[160];
    snprintf(m, sizeof(m), "List should have at %s %zu item%s after "
             "validation, not %zu", too_long ? "most" : "least", bound,
             bound == 1 ? "" : "s", v->nitems);
    json_object *e = add_error(errs, too_long ? "too_long" : "too_short", q,
                               -1, m, items_json(v));
    json_object *ctx = json_object_new_object();
    json_object_object_add(ctx, "field_type", json_object_new_string("List"));
    json_object_object_add(ctx, too_long ? "max_length" : "min_length",
                           json_object_new_int64((int64_t)bound));
    json_object_object_add(ctx, "actual_length",
                           json_object_new_int64((int64_t)v->nitems));
    json_object_object_add(e, "ctx", ctx);
}

int
evf__params_query(evf_req *r, const evf_query *q, value_t *v,
                  json_object **errs)
{
    size_t n;
    const pair_t *p = evf__req_query(r, &n);
    if (!q->list) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(p[i].name, q->name) == 0) {
                scalar(q, v, p[i].value, p[i].vlen, errs);
                return 0;
            }
        scalar(q, v, NULL, 0, errs);
        return 0;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += strcmp(p[i].name, q->name) == 0;
    if (k == 0) {
        if (!q->optional)
            add_error(errs, "missing", q, -1, "Field required", NULL);
        return 0;
    }
    v->items = evf_alloc(r, k * sizeof(value_t));
    if (!v->items)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        if (strcmp(p[i].name, q->name) == 0)
            v->items[v->nitems++] = (value_t){ .name = q->name,
                                               .type = q->type,
                                               .text = p[i].value };
    if (q->max_items && k > q->max_items) {
        count_error(q, v, true, errs);
        return 0;
    }
    bool ok = true;
    for (size_t i = 0, j = 0; i < n; i++)
        if (strcmp(p[i].name, q->name) == 0) {
            ok &= check_value(q, &v->items[j], p[i].vlen, (long)j, errs);
            j++;
        }
    if (ok && k < q->min_items)
        count_error(q, v, false, errs);
    v->text = v->items[0].text;
    v->v = v->items[0].v;
    return 0;
}

/* ---- cookies ------------------------------------------------------------ */

static void
parse_cookies(evf_req *r)
{
    r->cookies_parsed = true;
    const char *h = req_param(r, "HTTP_COOKIE");
    if (!h || !*h)
        return;
    size_t len = strlen(h), pos = 0;
    r->cookies = evf_alloc(r, evf_cookie_max(h, len) * sizeof(pair_t));
    if (!r->cookies)
        return;
    evf_cookie_field_t f;
    while (evf_cookie_next(h, len, &pos, &f)) {
        char *name = evf__req_strndup(r, f.name, f.nlen);
        char *value = evf_alloc(r, f.vlen + 1);
        if (!name || !value)
            return;
        size_t vl = evf_cookie_unquote(value, f.value, f.vlen);
        size_t i = 0;
        while (i < r->ncookies && strcmp(r->cookies[i].name, name) != 0)
            i++;
        r->cookies[i] = (pair_t){ name, value, vl };   /* later one wins */
        if (i == r->ncookies)
            r->ncookies++;
    }
}

static const pair_t *
cookie_pair(evf_req *r, const char *name)
{
    if (!r->cookies_parsed)
        parse_cookies(r);
    for (size_t i = 0; i < r->ncookies; i++)
        if (strcmp(r->cookies[i].name, name) == 0)
            return &r->cookies[i];
    return NULL;
}

const char *
evf_cookie(evf_req *r, const char *name)
{
    const pair_t *p = name ? cookie_pair(r, name) : NULL;
    return p ? p->value : NULL;
}

int
evf_set_cookie(evf_req *r, const char *name, const char *value,
               const evf_cookie_opts *o)
{
    char small[512];
    if (r->answered || !name || !value)
        return EVF_EINVAL;
    size_t cap = strlen(name) + strlen(value) + 256 +
                 (o && o->path ? strlen(o->path) : 0) +
                 (o && o->domain ? strlen(o->domain) : 0);
    char *buf = cap <= sizeof(small) ? small : evf_alloc(r, cap);
    if (!buf)
        return EVF_EINVAL;
    if (evf_cookie_format(buf, cap, name, value, o) < 0)
        return EVF_EINVAL;
    return evf_add_header(r, "Set-Cookie", buf);
}

int
evf_delete_cookie(evf_req *r, const char *name, const evf_cookie_opts *o)
{
    evf_cookie_opts d = o ? *o : (evf_cookie_opts){ 0 };
    d.has_max_age = true;
    d.max_age = 0;
    d.expires = 1;          /* Thu, 01 Jan 1970 00:00:01 GMT */
    return evf_set_cookie(r, name, "", &d);
}

/* ---- headers and cookies ------------------------------------------------ */

/* The header a parameter reads: alias, or name with '_' as '-'. */
static const char *
header_of(const evf_query *q, char *buf, size_t cap)
{
    if (q->alias)
        return q->alias;
    size_t n = strlen(q->name);
    if (n >= cap)
        return NULL;
    for (size_t i = 0; i <= n; i++)
        buf[i] = q->name[i] == '_' ? '-' : q->name[i];
    return buf;
}

int
evf__params_validate(evf_req *r, json_object **errs)
{
    const evf_query *decl = r->route->route->query;
    for (int pass = EVF_IN_HEADER; pass <= EVF_IN_COOKIE; pass++)
        for (size_t i = 0; i < r->nqvals; i++) {
            const evf_query *q = &decl[i];
            if ((int)q->in != pass)
                continue;
            value_t *v = &r->qvals[i];
            const char *text = NULL;
            size_t len = 0;
            if (pass == EVF_IN_HEADER) {
                char buf[128];
                const char *h = header_of(q, buf, sizeof(buf));
                text = h ? evf_header(r, h) : NULL;
                len = text ? strlen(text) : 0;
            } else {
                const pair_t *p = cookie_pair(r, loc_name(q));
                if (p)
                    text = p->value, len = p->vlen;
            }
            scalar(q, v, text, len, errs);
        }
    return 0;
}

const value_t *
evf__params_find(evf_req *r, const char *name, const evf_query **decl)
{
    if (!r->route || !r->nqvals)
        return NULL;
    const evf_query *q = r->route->route->query;
    for (size_t i = 0; i < r->nqvals; i++)
        if ((q[i].in != EVF_IN_QUERY || q[i].list) &&
            strcmp(q[i].name, name) == 0) {
            *decl = &q[i];
            return &r->qvals[i];
        }
    return NULL;
}

/* ---- list accessors ----------------------------------------------------- */

static const value_t *
item(evf_req *r, const char *name, size_t i, evf_type type)
{
    const evf_query *d;
    const value_t *v = evf__params_find(r, name, &d);
    if (!v || !d->list || i >= v->nitems || v->items[i].type != type)
        return NULL;
    return &v->items[i];
}

size_t
evf_query_count(evf_req *r, const char *name)
{
    const evf_query *d;
    const value_t *v = evf__params_find(r, name, &d);
    return v && d->list ? v->nitems : 0;
}

const char *
evf_query_str_at(evf_req *r, const char *name, size_t i)
{
    const evf_query *d;
    const value_t *v = evf__params_find(r, name, &d);
    return v && d->list && i < v->nitems ? v->items[i].text : NULL;
}

int64_t
evf_query_int_at(evf_req *r, const char *name, size_t i)
{
    const value_t *v = item(r, name, i, EVF_INT);
    return v ? v->v.i : 0;
}

double
evf_query_float_at(evf_req *r, const char *name, size_t i)
{
    const value_t *v = item(r, name, i, EVF_FLOAT);
    return v ? v->v.f : 0;
}

bool
evf_query_bool_at(evf_req *r, const char *name, size_t i)
{
    const value_t *v = item(r, name, i, EVF_BOOL);
    return v ? v->v.b : false;
}

/* ---- route data, app state ---------------------------------------------- */

void *
evf_route_data(evf_req *r)
{
    return r->route ? r->route->route->data : NULL;
}

void *
evf_app_state(evf_req *r)
{
    return r->route && r->route->shared ? r->route->shared->state : NULL;
}
