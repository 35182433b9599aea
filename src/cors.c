/*
 * cors: the CORS policy and the middleware chain (see cors.h).
 *
 * The policy keeps what Starlette computes once: the allowed origins (or
 * "*"), the compiled regex, the method list, the allowed headers (the
 * CORS-safelisted ones added, sorted; a lowercased copy to check requests
 * against) and the joined header values, so that answering a request only
 * compares strings.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cors.h"
#include "mem.h"

typedef struct list {
    char **v;
    size_t n;
} list_t;

struct evf_cors_cfg {
    list_t origins;
    bool all_origins;
    bool has_re;
    regex_t re;
    list_t methods;
    char *methods_joined;
    list_t headers;             /* lowercased, for the check */
    char *headers_joined;       /* as given, sorted: the preflight's */
    bool all_headers;
    bool credentials;
    char *expose_joined;        /* NULL: none */
    char max_age[24];
    bool explicit_origin;       /* preflight echoes the origin */
};

static const char *const all_methods[] = {
    "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", NULL
};

/* Starlette's SAFELISTED_HEADERS, always allowed. */
static const char *const safelisted[] = {
    "Accept", "Accept-Language", "Content-Language", "Content-Type", NULL
};

static void
list_free(list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        evf_free(l->v[i]);
    evf_free(l->v);
    l->v = NULL;
    l->n = 0;
}

static bool
list_has(const list_t *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

/* Add s[0..len), trimmed of blanks; an empty item is skipped.  0 or -1. */
static int
list_add(list_t *l, const char *s, size_t len)
{
    while (len && isspace((unsigned char)*s))
        s++, len--;
    while (len && isspace((unsigned char)s[len - 1]))
        len--;
    if (!len)
        return 0;
    char **v = evf_realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v)
        return -1;
    l->v = v;
    if (!(v[l->n] = evf_malloc(len + 1)))
        return -1;
    memcpy(v[l->n], s, len);
    v[l->n][len] = '\0';
    l->n++;
    return 0;
}

/* The list from the option text (comma-separated) or else from spec. */
static int
list_from(list_t *l, const char *text, const char *const *spec)
{
    if (text) {
        for (const char *p = text;;) {
            const char *c = strchr(p, ',');
            size_t n = c ? (size_t)(c - p) : strlen(p);
            if (list_add(l, p, n) < 0)
                return -1;
            if (!c)
                break;
            p = c + 1;
        }
        return 0;
    }
    for (const char *const *s = spec; s && *s; s++)
        if (list_add(l, *s, strlen(*s)) < 0)
            return -1;
    return 0;
}

/* "a, b, c" (NULL when the list is empty or out of memory). */
static char *
list_join(const list_t *l)
{
    size_t need = 1;
    for (size_t i = 0; i < l->n; i++)
        need += strlen(l->v[i]) + 2;
    if (!l->n)
        return NULL;
    char *s = evf_malloc(need), *p = s;
    if (!s)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        size_t k = strlen(l->v[i]);
        if (i) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, l->v[i], k);
        p += k;
    }
    *p = '\0';
    return s;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
parse_bool(const char *s, bool *v)
{
    static const char *const yes[] = { "true", "yes", "on", "1", NULL };
    static const char *const no[] = { "false", "no", "off", "0", NULL };
    for (size_t i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *v = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *v = false, 0;
    }
    return -1;
}

void
evf__cors_free(evf_cors_cfg_t *c)
{
    if (!c)
        return;
    list_free(&c->origins);
    list_free(&c->methods);
    list_free(&c->headers);
    if (c->has_re)
        regfree(&c->re);
    evf_free(c->methods_joined);
    evf_free(c->headers_joined);
    evf_free(c->expose_joined);
    evf_free(c);
}

#define OPT(key) (opt ? opt(ud, key) : NULL)

int
evf__cors_build(const evf_cors *spec, evf_cors_opt_fn opt, void *ud,
                evf_cors_cfg_t **out, char *err, size_t errlen)
{
    static const evf_cors none;
    static const char *const keys[] = {
        "cors_allow_origins", "cors_allow_origin_regex",
        "cors_allow_methods", "cors_allow_headers", "cors_allow_credentials",
        "cors_expose_headers", "cors_max_age", NULL
    };
    *out = NULL;
    bool any = spec != NULL;
    for (size_t i = 0; keys[i] && !any; i++)
        any = OPT(keys[i]) != NULL;
    if (!any)
        return 0;
    if (!spec)
        spec = &none;

    evf_cors_cfg_t *c = evf_calloc(1, sizeof(*c));
    list_t given = { 0 }, expose = { 0 };
    if (!c)
        goto nomem;

    if (list_from(&c->origins, OPT("cors_allow_origins"),
                  spec->allow_origins) < 0)
        goto nomem;
    c->all_origins = list_has(&c->origins, "*");

    const char *re = OPT("cors_allow_origin_regex");
    if (!re)
        re = spec->allow_origin_regex;
    if (re) {
        size_t n = strlen(re) + 5;
        char *full = evf_malloc(n);
        if (!full)
            goto nomem;
        snprintf(full, n, "^(%s)$", re);
        int rc = regcomp(&c->re, full, REG_EXTENDED | REG_NOSUB);
        evf_free(full);
        if (rc != 0) {
            snprintf(err, errlen, "cors_allow_origin_regex: not a POSIX "
                     "extended regular expression: %s", re);
            goto fail;
        }
        c->has_re = true;
    }

    if (list_from(&c->methods, OPT("cors_allow_methods"),
                  spec->allow_methods ? spec->allow_methods
                                      : EVF_STRS("GET")) < 0)
        goto nomem;
    if (list_has(&c->methods, "*")) {
        list_free(&c->methods);
        if (list_from(&c->methods, NULL, all_methods) < 0)
            goto nomem;
    }
    if (!(c->methods_joined = list_join(&c->methods)) && c->methods.n)
        goto nomem;

    /* Headers: the given ones and the safelisted ones, once, sorted. */
    if (list_from(&given, OPT("cors_allow_headers"),
                  spec->allow_headers) < 0 ||
        list_from(&given, NULL, safelisted) < 0)
        goto nomem;
    c->all_headers = list_has(&given, "*");
    qsort(given.v, given.n, sizeof(*given.v), cmp_str);
    size_t k = 0;
    for (size_t i = 0; i < given.n; i++) {
        if (k && strcmp(given.v[k - 1], given.v[i]) == 0) {
            evf_free(given.v[i]);
            continue;
        }
        given.v[k++] = given.v[i];
    }
    given.n = k;
    if (!(c->headers_joined = list_join(&given)))
        goto nomem;
    for (size_t i = 0; i < given.n; i++) {
        for (char *p = given.v[i]; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    }
    c->headers = given;
    given = (list_t){ 0 };

    c->credentials = spec->allow_credentials;
    const char *cr = OPT("cors_allow_credentials");
    if (cr && parse_bool(cr, &c->credentials) < 0) {
        snprintf(err, errlen, "cors_allow_credentials: want true or false, "
                 "not '%s'", cr);
        goto fail;
    }

    if (list_from(&expose, OPT("cors_expose_headers"),
                  spec->expose_headers) < 0)
        goto nomem;
    if (expose.n && !(c->expose_joined = list_join(&expose)))
        goto nomem;
    list_free(&expose);

    long age = spec->max_age == 0 ? 600 : spec->max_age < 0 ? 0
                                                            : spec->max_age;
    const char *ma = OPT("cors_max_age");
    if (ma) {
        char *end;
        errno = 0;
        age = strtol(ma, &end, 10);
        if (errno || end == ma || *end || age < 0 || age > 86400 * 365) {
            snprintf(err, errlen, "cors_max_age: want seconds (0 to "
                     "31536000), not '%s'", ma);
            goto fail;
        }
    }
    snprintf(c->max_age, sizeof(c->max_age), "%ld", age);
    c->explicit_origin = !c->all_origins || c->credentials;
    *out = c;
    return 0;

nomem:
    snprintf(err, errlen, "out of memory building the CORS policy");
fail:
    list_free(&given);
    list_free(&expose);
    evf__cors_free(c);
    return -1;
}

#undef OPT

static bool
origin_allowed(const evf_cors_cfg_t *c, const char *origin)
{
    if (c->all_origins)
        return true;
    if (c->has_re && regexec(&c->re, origin, 0, NULL, 0) == 0)
        return true;
    return list_has(&c->origins, origin);
}

static void
put(evf_cors_res_t *res, const char *name, const char *value)
{
    /* A name set twice keeps its place and takes the new value. */
    for (size_t i = 0; i < res->n; i++)
        if (strcmp(res->h[i].name, name) == 0) {
            res->h[i].value = value;
            return;
        }
    if (res->n < EVF_CORS_MAX_HDRS)
        res->h[res->n++] = (evf_cors_hdr_t){ name, value };
}

bool
evf__cors_is_preflight(const char *method, const char *origin,
                       const char *request_method)
{
    return origin && request_method && method &&
           strcmp(method, "OPTIONS") == 0;
}

/* True when every comma-separated item of list, lowercased and trimmed, is
 * an allowed header (an empty item is not). */
static bool
headers_allowed(const evf_cors_cfg_t *c, const char *list)
{
    for (const char *p = list;;) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        const char *s = p;
        while (n && isspace((unsigned char)*s))
            s++, n--;
        while (n && isspace((unsigned char)s[n - 1]))
            n--;
        bool found = false;
        for (size_t i = 0; i < c->headers.n && !found; i++)
            found = strlen(c->headers.v[i]) == n &&
                    strncasecmp(c->headers.v[i], s, n) == 0;
        if (!found)
            return false;
        if (!e)
            return true;
        p = e + 1;
    }
}

void
evf__cors_preflight(const evf_cors_cfg_t *c, const char *origin,
                    const char *request_method, const char *request_headers,
                    evf_cors_res_t *res)
{
    const char *fail[3];
    size_t nfail = 0;
    res->n = 0;
    if (c->explicit_origin)
        put(res, "Vary", "Origin");
    else
        put(res, "Access-Control-Allow-Origin", "*");
    if (c->methods_joined)
        put(res, "Access-Control-Allow-Methods", c->methods_joined);
    put(res, "Access-Control-Max-Age", c->max_age);
    if (!c->all_headers)
        put(res, "Access-Control-Allow-Headers", c->headers_joined);
    if (c->credentials)
        put(res, "Access-Control-Allow-Credentials", "true");

    if (origin_allowed(c, origin)) {
        if (c->explicit_origin)
            put(res, "Access-Control-Allow-Origin", origin);
    } else {
        fail[nfail++] = "origin";
    }
    if (!list_has(&c->methods, request_method))
        fail[nfail++] = "method";
    if (c->all_headers && request_headers)
        put(res, "Access-Control-Allow-Headers", request_headers);
    else if (request_headers && !headers_allowed(c, request_headers))
        fail[nfail++] = "headers";

    if (!nfail) {
        res->status = 200;
        snprintf(res->body, sizeof(res->body), "OK");
        return;
    }
    res->status = 400;
    size_t o = (size_t)snprintf(res->body, sizeof(res->body),
                                "Disallowed CORS");
    for (size_t i = 0; i < nfail; i++)
        o += (size_t)snprintf(res->body + o, sizeof(res->body) - o, "%s %s",
                              i ? "," : "", fail[i]);
}

void
evf__cors_simple(const evf_cors_cfg_t *c, const char *origin,
                 bool has_cookie, evf_cors_res_t *res)
{
    res->n = 0;
    res->status = 0;
    if (!origin_allowed(c, origin))
        return;
    if (c->all_origins && !has_cookie && !c->credentials) {
        put(res, "Access-Control-Allow-Origin", "*");
    } else {
        put(res, "Access-Control-Allow-Origin", origin);
        put(res, "Vary", "Origin");
    }
    if (c->credentials)
        put(res, "Access-Control-Allow-Credentials", "true");
    if (c->expose_joined)
        put(res, "Access-Control-Expose-Headers", c->expose_joined);
}

/* ---- the chain ---------------------------------------------------------- */

int
evf__mw_chain_build(const evf_middleware *const *mw, const evf_cors *cors,
                    evf_cors_opt_fn opt, void *ud, evf_mw_chain_t **out,
                    char *err, size_t errlen)
{
    evf_cors_cfg_t *cfg;
    *out = NULL;
    if (evf__cors_build(cors, opt, ud, &cfg, err, errlen) < 0)
        return -1;
    size_t n = 0;
    while (mw && mw[n])
        n++;
    if (!n && !cfg)
        return 0;
    evf_mw_chain_t *c = evf_calloc(1, sizeof(*c));
    if (!c) {
        evf__cors_free(cfg);
        snprintf(err, errlen, "out of memory building the middleware");
        return -1;
    }
    c->mw = mw;
    c->n = n;
    c->cors = cfg;
    *out = c;
    return 0;
}

void
evf__mw_chain_free(evf_mw_chain_t *c)
{
    if (!c)
        return;
    evf__cors_free(c->cors);
    evf_free(c);
}
