/*
 * router: segment trie of routes (see router.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "router.h"

typedef struct method_entry {
    char *method;
    void *data;
    char *owner;
    char *path;             /* the template, for messages */
} method_entry_t;

typedef struct node node_t;
struct node {
    char *seg;              /* literal children: the segment text */
    node_t **lit;           /* sorted by seg */
    size_t nlit;
    node_t *param;          /* {name[:type]} child */
    char *param_name;
    evf_type param_type;
    node_t *rest;           /* {name:path} child: terminal */
    char *rest_name;
    method_entry_t *methods;
    size_t nmethods;
};

struct evf_router {
    node_t root;
    size_t count;
    const void *fallback;       /* toolkit: see evf_router_fallback */
};

evf_router_t *
evf_router_new(void)
{
    return evf_calloc(1, sizeof(evf_router_t));
}

static void
node_free(node_t *n, bool self)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nlit; i++)
        node_free(n->lit[i], true);
    evf_free(n->lit);
    node_free(n->param, true);
    node_free(n->rest, true);
    for (size_t i = 0; i < n->nmethods; i++) {
        evf_free(n->methods[i].method);
        evf_free(n->methods[i].owner);
        evf_free(n->methods[i].path);
    }
    evf_free(n->methods);
    evf_free(n->seg);
    evf_free(n->param_name);
    evf_free(n->rest_name);
    if (self)
        evf_free(n);
}

void
evf_router_free(evf_router_t *rt)
{
    if (!rt)
        return;
    node_free(&rt->root, false);
    evf_free(rt);
}

size_t
evf_router_count(const evf_router_t *rt)
{
    return rt->count;
}

static char *
dupn(const char *s, size_t n)
{
    char *d = evf_malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static int
seg_cmp(const char *a, size_t alen, const char *b)
{
    int c = strncmp(a, b, alen);
    if (c)
        return c;
    return b[alen] ? -1 : 0;
}

/* Index of the literal child equal to s[0..len), or where it would go. */
static size_t
lit_find(const node_t *n, const char *s, size_t len, bool *found)
{
    size_t lo = 0, hi = n->nlit;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = seg_cmp(s, len, n->lit[mid]->seg);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *found = false;
    return lo;
}

/* Parse "{name[:type]}" in s[0..len).  0, or -1 with a message. */
static int
parse_param(const char *s, size_t len, char **name, evf_type *type,
            char *err, size_t errlen)
{
    if (len < 3 || s[0] != '{' || s[len - 1] != '}') {
        snprintf(err, errlen, "a parameter must fill its segment: '%.*s'",
                 (int)len, s);
        return -1;
    }
    const char *body = s + 1;
    size_t blen = len - 2;
    const char *colon = memchr(body, ':', blen);
    size_t nlen = colon ? (size_t)(colon - body) : blen;
    if (nlen == 0) {
        snprintf(err, errlen, "parameter without a name: '%.*s'", (int)len, s);
        return -1;
    }
    for (size_t i = 0; i < nlen; i++)
        if (!isalnum((unsigned char)body[i]) && body[i] != '_') {
            snprintf(err, errlen, "bad parameter name: '%.*s'", (int)len, s);
            return -1;
        }
    *type = EVF_STR;
    if (colon) {
        const char *t = colon + 1;
        size_t tlen = blen - nlen - 1;
        static const struct { const char *n; evf_type t; } types[] = {
            { "str", EVF_STR }, { "int", EVF_INT }, { "float", EVF_FLOAT },
            { "bool", EVF_BOOL }, { "path", EVF_PATH },
        };
        size_t i;
        for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
            if (strlen(types[i].n) == tlen && !memcmp(t, types[i].n, tlen))
                break;
        if (i == sizeof(types) / sizeof(types[0])) {
            snprintf(err, errlen,
                     "unknown parameter type '%.*s' (str, int, float, bool, "
                     "path)", (int)tlen, t);
            return -1;
        }
        *type = types[i].t;
    }
    *name = dupn(body, nlen);
    return *name ? 0 : -1;
}

static node_t *
lit_child(node_t *n, const char *s, size_t len)
{
    bool found;
    size_t at = lit_find(n, s, len, &found);
    if (found)
        return n->lit[at];
    node_t *c = evf_calloc(1, sizeof(*c));
    node_t **v = evf_realloc(n->lit, (n->nlit + 1) * sizeof(*v));
    char *seg = dupn(s, len);
    if (!c || !v || !seg) {
        evf_free(c);
        evf_free(seg);
        if (v)
            n->lit = v;
        return NULL;
    }
    n->lit = v;
    memmove(v + at + 1, v + at, (n->nlit - at) * sizeof(*v));
    c->seg = seg;
    v[at] = c;
    n->nlit++;
    return c;
}

/*
 * Check a whole template before the trie is touched, so that a refused
 * route leaves nothing behind.  0, or -1 with a message.
 */
static int
check_template(const char *path, char *err, size_t errlen)
{
    const char *p = path + 1;
    size_t ncaps = 0;

    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len && p[0] == '{') {
            char *name;
            evf_type type;
            if (parse_param(p, len, &name, &type, err, errlen) < 0)
                return -1;
            evf_free(name);
            if (++ncaps > EVF_ROUTER_MAX_CAPS) {
                snprintf(err, errlen, "more than %d parameters in '%s'",
                         EVF_ROUTER_MAX_CAPS, path);
                return -1;
            }
            if (type == EVF_PATH && slash) {
                snprintf(err, errlen,
                         "{%.*s} must be the last segment of '%s'",
                         (int)(len - 2), p + 1, path);
                return -1;
            }
        } else if (memchr(p, '{', len) || memchr(p, '}', len)) {
            snprintf(err, errlen, "a parameter must fill its segment: '%s'",
                     path);
            return -1;
        }
        if (!slash)
            return 0;
        p = slash + 1;
    }
}

int
evf_router_add(evf_router_t *rt, const char *method, const char *path,
               void *data, const char *owner, char *err, size_t errlen)
{
    node_t *n = &rt->root;
    size_t ncaps = 0;

    if (!path || path[0] != '/') {
        snprintf(err, errlen, "route path must start with '/': '%s'",
                 path ? path : "(null)");
        return -1;
    }
    /* The message when memory runs out; every other refusal has its own. */
    snprintf(err, errlen, "out of memory");
    if (check_template(path, err, errlen) < 0)
        return -1;
    const char *p = path + 1;
    bool at_end = path[1] == '\0';     /* "/" is the root itself */
    while (!at_end) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        at_end = !slash;
        if (len && p[0] == '{') {
            char *name;
            evf_type type;
            if (parse_param(p, len, &name, &type, err, errlen) < 0)
                return -1;
            if (++ncaps > EVF_ROUTER_MAX_CAPS) {
                evf_free(name);
                snprintf(err, errlen, "more than %d parameters in '%s'",
                         EVF_ROUTER_MAX_CAPS, path);
                return -1;
            }
            if (type == EVF_PATH) {
                if (!at_end) {
                    snprintf(err, errlen,
                             "{%s:path} must be the last segment of '%s'",
                             name, path);
                    evf_free(name);
                    return -1;
                }
                if (n->rest && strcmp(n->rest_name, name)) {
                    snprintf(err, errlen, "'%s': parameter {%s:path} "
                             "conflicts with {%s:path} of another route",
                             path, name, n->rest_name);
                    evf_free(name);
                    return -1;
                }
                if (!n->rest && !(n->rest = evf_calloc(1, sizeof(node_t)))) {
                    evf_free(name);
                    return -1;
                }
                if (!n->rest_name)
                    n->rest_name = name;
                else
                    evf_free(name);
                n = n->rest;
                break;
            }
            if (n->param && (strcmp(n->param_name, name) ||
                             n->param_type != type)) {
                snprintf(err, errlen, "'%s': parameter {%s} at this "
                         "position conflicts with {%s} of another route",
                         path, name, n->param_name);
                evf_free(name);
                return -1;
            }
            if (!n->param && !(n->param = evf_calloc(1, sizeof(node_t)))) {
                evf_free(name);
                return -1;
            }
            if (!n->param_name) {
                n->param_name = name;
                n->param_type = type;
            } else {
                evf_free(name);
            }
            n = n->param;
        } else {
            if (memchr(p, '{', len) || memchr(p, '}', len)) {
                snprintf(err, errlen,
                         "a parameter must fill its segment: '%s'", path);
                return -1;
            }
            n = lit_child(n, p, len);
            if (!n) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        p = slash ? slash + 1 : p + len;
    }
    for (size_t i = 0; i < n->nmethods; i++)
        if (strcmp(n->methods[i].method, method) == 0) {
            snprintf(err, errlen, "route clash: %s %s (app %s) and %s %s "
                     "(app %s) match the same requests", method, path,
                     owner ? owner : "?", method, n->methods[i].path,
                     n->methods[i].owner ? n->methods[i].owner : "?");
            return -1;
        }
    method_entry_t *v = evf_realloc(n->methods,
                                    (n->nmethods + 1) * sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n->methods = v;
    v[n->nmethods] = (method_entry_t){
        .method = evf_mem_strdup(method), .data = data,
        .owner = owner ? evf_mem_strdup(owner) : NULL,
        .path = evf_mem_strdup(path),
    };
    method_entry_t *e = &v[n->nmethods];
    if (!e->method || !e->path || (owner && !e->owner)) {
        evf_free(e->method);
        evf_free(e->owner);
        evf_free(e->path);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    n->nmethods++;
    rt->count++;
    return 0;
}

/*
 * Depth-first match of p against n.  Returns true on a full match (path
 * and method).  A path-only match is remembered in m (first one wins) for
 * the 405 answer.
 */
static bool
walk(const node_t *n, const char *p, const char *method, evf_match_t *m,
     bool *path_seen)
{
    if (*p == '\0') {
        if (!n->nmethods)
            return false;
        for (size_t i = 0; i < n->nmethods; i++)
            if (strcmp(n->methods[i].method, method) == 0) {
                m->data = n->methods[i].data;
                return true;
            }
        if (!*path_seen) {
            *path_seen = true;
            size_t off = 0;
            m->allow[0] = '\0';
            for (size_t i = 0; i < n->nmethods; i++) {
                int k = snprintf(m->allow + off, sizeof(m->allow) - off,
                                 "%s%s", i ? ", " : "", n->methods[i].method);
                if (k < 0 || (size_t)k >= sizeof(m->allow) - off)
                    break;
                off += (size_t)k;
            }
        }
        return false;
    }
    /* p points just after a '/': the segment runs to the next '/'. */
    const char *slash = strchr(p, '/');
    size_t len = slash ? (size_t)(slash - p) : strlen(p);
    const char *next = slash ? slash + 1 : p + len;
    /* "/a/" has an empty last segment: it only matches a literal "". */
    bool last_empty = slash && slash[1] == '\0';

    if (n->nlit) {
        bool found;
        size_t at = lit_find(n, p, len, &found);
        if (found) {
            const node_t *c = n->lit[at];
            if (slash && !last_empty) {
                if (walk(c, next, method, m, path_seen))
                    return true;
            } else if (last_empty) {
                const node_t *e = NULL;
                bool f2;
                size_t a2 = c->nlit ? lit_find(c, "", 0, &f2) : 0;
                if (c->nlit && f2)
                    e = c->lit[a2];
                if (e && walk(e, "", method, m, path_seen))
                    return true;
            } else if (walk(c, "", method, m, path_seen)) {
                return true;
            }
        }
    }
    if (n->param && len > 0 && m->ncaps < EVF_ROUTER_MAX_CAPS) {
        size_t k = m->ncaps++;
        m->caps[k] = (evf_capture_t){ n->param_name, n->param_type, p, len };
        bool ok;
        if (slash && !last_empty)
            ok = walk(n->param, next, method, m, path_seen);
        else if (last_empty)
            ok = false;
        else
            ok = walk(n->param, "", method, m, path_seen);
        if (ok)
            return true;
        m->ncaps = k;
    }
    if (n->rest && *p && m->ncaps < EVF_ROUTER_MAX_CAPS) {
        size_t k = m->ncaps++;
        m->caps[k] = (evf_capture_t){ n->rest_name, EVF_PATH, p, strlen(p) };
        if (walk(n->rest, "", method, m, path_seen))
            return true;
        m->ncaps = k;
    }
    return false;
}

void
evf_router_match(const evf_router_t *rt, const char *method,
                 const char *path, evf_match_t *m)
{
    bool path_seen = false;

    m->data = NULL;
    m->ncaps = 0;
    m->allow[0] = '\0';
    if (path[0] != '/') {
        m->status = 404;
        return;
    }
    if (walk(&rt->root, path + 1, method, m, &path_seen)) {
        m->status = 0;
        return;
    }
    m->ncaps = 0;
    m->status = path_seen ? 405 : 404;
}

/* ---- toolkit (issue 13) ------------------------------------------------ */

void
evf_router_set_fallback(evf_router_t *rt, const void *data)
{
    rt->fallback = data;
}

const void *
evf_router_fallback(const evf_router_t *rt)
{
    return rt ? rt->fallback : NULL;
}
