/*
 * inputs: what a request brings, for handlers.
 *
 * CGI params, headers, the decoded path, query parameters (parsed on first
 * use), the body; the typed conversion and validation of a matched route's
 * path parameters, declared query parameters and JSON body, answered with
 * FastAPI's 422 list when anything is wrong.  Loop thread, or the pool
 * thread that owns a blocking request.
 */
#include "config.h"

#include <errno.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "convert.h"
#include "model_req.h"
#include "request_int.h"
#include "url.h"

/*
 * A JSON string of s[0..len) as the client sent it: a byte that is not
 * UTF-8 becomes U+FFFD (json-c would write it raw, making the body invalid
 * JSON), a NUL is escaped.  NULL when out of memory.
 */
static json_object *
json_text(const char *s, size_t len)
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

/* Add FastAPI's error item; input[0..ilen) is echoed (NULL: null). */
static void
add_error_len(json_object **errs, const char *type, const char *where,
              const char *name, const char *msg, const char *input,
              size_t ilen)
{
    if (!*errs)
        *errs = json_object_new_array();
    json_object *e = json_object_new_object();
    json_object_object_add(e, "type", json_object_new_string(type));
    json_object *loc = json_object_new_array();
    json_object_array_add(loc, json_object_new_string(where));
    if (name)
        json_object_array_add(loc, json_object_new_string(name));
    json_object_object_add(e, "loc", loc);
    json_object_object_add(e, "msg", json_object_new_string(msg));
    json_object_object_add(e, "input", input ? json_text(input, ilen) : NULL);
    json_object_array_add(*errs, e);
}

static void
add_error(json_object **errs, const char *type, const char *where,
          const char *name, const char *msg, const char *input)
{
    add_error_len(errs, type, where, name, msg, input,
                  input ? strlen(input) : 0);
}

/* Convert v->text by v->type.  NULL when valid, else the error type. */
static const char *
convert(value_t *v, const char **msg)
{
    size_t len = strlen(v->text);
    switch (v->type) {
    case EVF_INT:
        return evf_convert_int(v->text, len, &v->v.i, msg);
    case EVF_FLOAT:
        return evf_convert_float(v->text, len, &v->v.f, msg);
    case EVF_BOOL:
        return evf_convert_bool(v->text, len, &v->v.b, msg);
    default:
        return NULL;
    }
}

static void parse_query(evf_req *r);
static const char *query_raw(evf_req *r, const char *name);
static const pair_t *query_pair(evf_req *r, const char *name);

/*
 * A value whose decoding gave a NUL byte (%00): C strings would cut it
 * short (5%00abc would validate as 5), so it is refused, echoed whole.
 */
static void
nul_error(json_object **errs, const char *where, const char *name,
          const char *text, size_t len)
{
    add_error_len(errs, "string_no_nul", where, name,
                  "Input should not contain a NUL byte", text, len);
}

/* Bounds of a declared query parameter; adds the error if out of them. */
static void
check_bounds(const evf_query *q, value_t *v, json_object **errs)
{
    double x = q->type == EVF_INT ? (double)v->v.i : v->v.f;
    const char *type = NULL, *op = NULL;
    double bound = 0;
    if (q->has_ge && x < q->ge) {
        type = "greater_than_equal", op = "greater than or equal to";
        bound = q->ge;
    } else if (q->has_le && x > q->le) {
        type = "less_than_equal", op = "less than or equal to";
        bound = q->le;
    }
    if (!type)
        return;
    char msg[128], num[48];
    if (q->type == EVF_INT)
        snprintf(num, sizeof(num), "%lld", (long long)bound);
    else
        snprintf(num, sizeof(num), "%.17g", bound);
    snprintf(msg, sizeof(msg), "Input should be %s %s", op, num);
    add_error(errs, type, "query", q->name, msg, v->text);
    json_object *e = json_object_array_get_idx(
        *errs, json_object_array_length(*errs) - 1);
    json_object *ctx = json_object_new_object();
    json_object_object_add(ctx, q->has_ge && x < q->ge ? "ge" : "le",
                           q->type == EVF_INT
                               ? json_object_new_int64((int64_t)bound)
                               : json_object_new_double(bound));
    json_object_object_add(e, "ctx", ctx);
}

static void
put_json(void *obj)
{
    json_object_put(obj);
}

/* Where the JSON whitespace after position end of text stops. */
static size_t
skip_json_ws(const char *text, size_t len, size_t end)
{
    while (end < len && text[end] && strchr(" \t\r\n", text[end]))
        end++;
    return end;
}

/*
 * Whether text is one JSON value followed by more than whitespace (strict
 * parsing only says "unexpected character" there); *at is then where the
 * extra begins, as Python's "Extra data" error places it.
 */
static bool
extra_data(const char *text, size_t len, size_t *at)
{
    if (len > INT_MAX)
        return false;
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok)
        return false;
    json_tokener_set_flags(tok, JSON_TOKENER_VALIDATE_UTF8);
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    bool extra = false;
    if (json_tokener_get_error(tok) == json_tokener_success) {
        size_t end = skip_json_ws(text, len, json_tokener_get_parse_end(tok));
        if (end < len) {
            *at = end;
            extra = true;
        }
    }
    json_object_put(o);
    json_tokener_free(tok);
    return extra;
}

static void
parse_json_body(evf_req *r, json_object **errs)
{
    if (r->body.len == 0) {
        add_error(errs, "missing", "body", NULL, "Field required", NULL);
        return;
    }
    json_tokener *tok = json_tokener_new_ex(32);
    if (!tok)
        return;
    /*
     * JSON as RFC 8259 has it, in UTF-8: by default json-c also takes
     * trailing commas and bytes that are not UTF-8, and the handler would
     * then get (and echo) strings no JSON body may carry.  (Even strict,
     * json-c 0.16 takes single-quoted strings.)
     */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
                           JSON_TOKENER_VALIDATE_UTF8);
    const char *text = (const char *)r->body.data;
    size_t len = r->body.len;
    json_object *obj = NULL;
    enum json_tokener_error jerr = json_tokener_error_size;
    size_t end = 0;
    if (len <= INT_MAX) {       /* json-c takes an int length */
        obj = json_tokener_parse_ex(tok, text, (int)len);
        jerr = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
    }
    if (!obj && jerr == json_tokener_continue && end == len) {
        /* A number or literal ending the body ("5", "null") waits for
         * more: a NUL ends it, as the end of a string would. */
        obj = json_tokener_parse_ex(tok, "", 1);
        jerr = json_tokener_get_error(tok);
    }
    /* Whitespace may follow the value, as json.loads allows. */
    if (jerr == json_tokener_success)
        end = skip_json_ws(text, len, end);
    if (obj && jerr == json_tokener_success && end == len) {
        r->json = obj;
        evf_defer(r, put_json, obj);
    } else if (!obj && jerr == json_tokener_success && end == len) {
        /* The body is JSON's null: FastAPI finds no body there. */
        add_error(errs, "missing", "body", NULL, "Field required", NULL);
    } else {
        json_object_put(obj);
        /* A value followed by more than whitespace: Python's words. */
        const char *desc = jerr == json_tokener_success ? "Extra data" : NULL;
        if (jerr == json_tokener_error_parse_utf8_string)
            desc = "invalid UTF-8";
        else if (!desc && extra_data(text, len, &end))
            desc = "Extra data";
        if (jerr == json_tokener_continue || jerr == json_tokener_success)
            jerr = json_tokener_error_parse_eof;
        if (!*errs)
            *errs = json_object_new_array();
        json_object *e = json_object_new_object();
        json_object_object_add(e, "type", json_object_new_string(
                                   "json_invalid"));
        json_object *loc = json_object_new_array();
        json_object_array_add(loc, json_object_new_string("body"));
        json_object_array_add(loc, json_object_new_int64((int64_t)end));
        json_object_object_add(e, "loc", loc);
        json_object_object_add(e, "msg", json_object_new_string(
                                   "JSON decode error"));
        json_object_object_add(e, "input", json_object_new_object());
        json_object *ctx = json_object_new_object();
        json_object_object_add(ctx, "error", json_object_new_string(
                                   desc ? desc
                                        : json_tokener_error_desc(jerr)));
        json_object_object_add(e, "ctx", ctx);
        json_object_array_add(*errs, e);
    }
    json_tokener_free(tok);
}

int
evf__req_validate(evf_req *r, const evf_match_t *m)
{
    const evf_route *rt = r->route->route;
    json_object *errs = NULL;

    /* A %00 in the path: routed on what came before it. */
    const char *path_end = r->path + r->path_len;
    const char *nul_at = r->path + strlen(r->path);
    if (nul_at == path_end)
        nul_at = NULL;
    r->npvals = m->ncaps;
    if (m->ncaps) {
        r->pvals = evf_alloc(r, m->ncaps * sizeof(value_t));
        if (!r->pvals)
            return -ENOMEM;
    }
    for (size_t i = 0; i < m->ncaps; i++) {
        value_t *v = &r->pvals[i];
        v->name = m->caps[i].name;
        v->type = m->caps[i].type;
        v->text = evf__req_strndup(r, m->caps[i].value, m->caps[i].len);
        if (!v->text)
            goto nomem;
        if (nul_at && m->caps[i].value + m->caps[i].len == nul_at) {
            /* This segment went on past a NUL: refuse it whole. */
            const char *end = memchr(nul_at + 1, '/', path_end - nul_at - 1);
            const char *seg = m->caps[i].value;
            nul_error(&errs, "path", v->name, seg,
                      (size_t)((end ? end : path_end) - seg));
            nul_at = NULL;
            continue;
        }
        const char *msg;
        const char *et = convert(v, &msg);
        if (et)
            add_error(&errs, et, "path", v->name, msg, v->text);
    }
    size_t nq = 0;
    while (rt->query && rt->query[nq].name)
        nq++;
    if (nq) {
        r->qvals = evf_alloc(r, nq * sizeof(value_t));
        if (!r->qvals)
            goto nomem;
        r->nqvals = nq;
    }
    for (size_t i = 0; i < nq; i++) {
        const evf_query *q = &rt->query[i];
        value_t *v = &r->qvals[i];
        memset(v, 0, sizeof(*v));
        v->name = q->name;
        v->type = q->type;
        /* toolkit: lists and choices here, headers and cookies below */
        if (q->in == EVF_IN_QUERY && (q->list || q->choices)) {
            if (evf__params_query(r, q, v, &errs) < 0)
                goto nomem;
            continue;
        }
        if (q->in != EVF_IN_QUERY)
            continue;
        const pair_t *qp = query_pair(r, q->name);
        v->text = qp ? qp->value : NULL;
        bool given = v->text != NULL;
        if (given && strlen(v->text) != qp->vlen) {
            nul_error(&errs, "query", q->name, v->text, qp->vlen);
            continue;
        }
        if (!given)
            v->text = q->def;
        if (!v->text) {
            if (!q->optional)
                add_error(&errs, "missing", "query", q->name,
                          "Field required", NULL);
            continue;
        }
        const char *msg;
        const char *et = convert(v, &msg);
        if (et)
            add_error(&errs, et, "query", q->name, msg, v->text);
        else if (q->type == EVF_INT || q->type == EVF_FLOAT)
            check_bounds(q, v, &errs);
        if (!given)
            v->text = NULL;     /* evf_query_has: it was not given */
    }
    if (nul_at)                 /* past the NUL, not in a parameter */
        nul_error(&errs, "path", NULL, r->path, r->path_len);
    if (nq && evf__params_validate(r, &errs) < 0)  /* toolkit */
        goto nomem;
    if (rt->json_body || rt->body)     /* a body model implies JSON */
        parse_json_body(r, &errs);
    if (rt->body && evf__req_body_model(r, &errs) < 0)
        goto nomem;
    /* Answered (422) after the dependencies, as FastAPI orders them. */
    r->errors = errs;
    return 0;
nomem:
    json_object_put(errs);
    return -ENOMEM;
}

/* ---- accessors --------------------------------------------------------- */

const char *
evf_method(evf_req *r)
{
    return r->method;
}

const char *
evf_path(evf_req *r)
{
    return r->path;
}

/*
 * The value of the CGI param key, or NULL.  The first bytes are compared
 * before strcmp: most names differ there (a header's CGI name from all
 * but the few other HTTP_ ones), and evf_header runs on every request of
 * an app with the request-id middleware or CORS.
 */
static const char *
param_find(const evf_req *r, const char *key)
{
    const pair_t *t = r->params;
    char c0 = key[0];
    for (size_t i = 0, n = r->nparams; i < n; i++)
        if (t[i].name[0] == c0 && strcmp(t[i].name, key) == 0)
            return t[i].value;
    return NULL;
}

const char *
evf_param(evf_req *r, const char *name)
{
    return param_find(r, name);
}

/* True when name, of n bytes, is s in any case (ASCII); s starts with a
 * letter. */
static bool
name_is(const char *name, size_t n, const char *s, size_t sn)
{
    return n == sn && (name[0] | 0x20) == (s[0] | 0x20) &&
           strncasecmp(name, s, n) == 0;
}

/* True when the CGI name a is header name[0..n): upper case in ASCII,
 * '-' as '_'. */
static bool
cgi_is(const char *a, const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '-')
            c = '_';
        else if (c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 'a' + 'A');
        if ((unsigned char)a[i] != c)
            return false;     /* a's NUL included: c is not one */
    }
    return a[n] == '\0';
}

/*
 * A header's CGI param is HTTP_ and the name in upper case with '-' as
 * '_' (Content-Type and Content-Length without the prefix).  The params
 * are matched against the name as it is, without building that string:
 * most fail on their first byte ('H', then the name's first letter).
 */
const char *
evf_header(evf_req *r, const char *name)
{
    size_t n = strlen(name);
    if (n + 6 > 128)
        return NULL;    /* as long a CGI name is refused */
    bool plain = name_is(name, n, "Content-Type", 12) ||
                 name_is(name, n, "Content-Length", 14);
    const pair_t *t = r->params;
    for (size_t i = 0, np = r->nparams; i < np; i++) {
        const char *a = t[i].name;
        if (!plain) {
            if (a[0] != 'H' || a[1] != 'T' || a[2] != 'T' || a[3] != 'P' ||
                a[4] != '_')
                continue;
            a += 5;
        }
        if (cgi_is(a, name, n))
            return t[i].value;
    }
    return NULL;
}

const void *
evf_body(evf_req *r, size_t *len)
{
    if (len)
        *len = r->body.len;
    return r->body.data ? r->body.data : (const void *)"";
}

json_object *
evf_body_json(evf_req *r)
{
    return r->json;
}

static const value_t *
find_value(const value_t *v, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0)
            return &v[i];
    return NULL;
}

int64_t
evf_path_int(evf_req *r, const char *name)
{
    const value_t *v = find_value(r->pvals, r->npvals, name);
    return v && v->type == EVF_INT ? v->v.i : 0;
}

double
evf_path_float(evf_req *r, const char *name)
{
    const value_t *v = find_value(r->pvals, r->npvals, name);
    return v && v->type == EVF_FLOAT ? v->v.f : 0;
}

const char *
evf_path_str(evf_req *r, const char *name)
{
    const value_t *v = find_value(r->pvals, r->npvals, name);
    return v ? v->text : NULL;
}

/* Split QUERY_STRING (url.h) into decoded pairs in the request's arena. */
static void
parse_query(evf_req *r)
{
    r->query_parsed = true;
    const char *qs = req_param(r, "QUERY_STRING");
    if (!qs || !*qs)
        return;
    size_t len = strlen(qs), pos = 0;
    r->query = evf_alloc(r, evf_url_query_max(qs, len) * sizeof(pair_t));
    if (!r->query)
        return;
    evf_url_field_t f;
    while (evf_url_query_next(qs, len, &pos, &f)) {
        char *name = evf_alloc(r, f.nlen + 1);
        char *value = evf_alloc(r, f.vlen + 1);
        if (!name || !value)
            return;
        evf_pct_decode(name, f.name, f.nlen, true);
        size_t vl = evf_pct_decode(value, f.value, f.vlen, true);
        r->query[r->nquery++] = (pair_t){ name, value, vl };
    }
}

static const pair_t *
query_pair(evf_req *r, const char *name)
{
    if (!r->query_parsed)
        parse_query(r);
    for (size_t i = 0; i < r->nquery; i++)
        if (strcmp(r->query[i].name, name) == 0)
            return &r->query[i];
    return NULL;
}

static const char *
query_raw(evf_req *r, const char *name)
{
    const pair_t *p = query_pair(r, name);
    return p ? p->value : NULL;
}

bool
evf_query_has(evf_req *r, const char *name)
{
    const evf_query *d;     /* toolkit: declared header, cookie, list */
    const value_t *v = evf__params_find(r, name, &d);
    if (v)
        return d->list ? v->nitems > 0 : v->text != NULL;
    return query_raw(r, name) != NULL;
}

const char *
evf_query_str(evf_req *r, const char *name)
{
    const evf_query *d;     /* toolkit: declared header, cookie, list */
    const value_t *v = evf__params_find(r, name, &d);
    if (v)
        return d->list || v->text ? v->text : d->def;
    const char *s = query_raw(r, name);
    if (s || !r->route)
        return s;
    for (const evf_query *q = r->route->route->query; q && q->name; q++)
        if (strcmp(q->name, name) == 0)
            return q->def;
    return NULL;
}

/*
 * The query parameter name as type: the validated value of a declared
 * one, else the text converted now (by convert(), as validation does).
 * Zero when absent, invalid or declared with another type.
 */
static value_t
query_value(evf_req *r, const char *name, evf_type type)
{
    value_t z = { .type = type };
    const value_t *v = find_value(r->qvals, r->nqvals, name);
    if (v)
        return v->type == type ? *v : z;
    value_t x = { .name = name, .type = type, .text = query_raw(r, name) };
    const char *msg;
    if (!x.text || convert(&x, &msg))
        return z;
    return x;
}

int64_t
evf_query_int(evf_req *r, const char *name)
{
    return query_value(r, name, EVF_INT).v.i;
}

double
evf_query_float(evf_req *r, const char *name)
{
    return query_value(r, name, EVF_FLOAT).v.f;
}

bool
evf_query_bool(evf_req *r, const char *name)
{
    return query_value(r, name, EVF_BOOL).v.b;
}

/* ---- toolkit (issue 13) ------------------------------------------------ */

const pair_t *
evf__req_query(evf_req *r, size_t *n)
{
    if (!r->query_parsed)
        parse_query(r);
    *n = r->nquery;
    return r->query;
}
