/*
 * deps_graph: dependency-graph checks at load (see deps_graph.h).
 *
 * A depth-first walk keeps the current path: meeting a dependency already
 * on it is a cycle, and the path from there is the message.
 */
#include "config.h"

#include <stdio.h>

#include "deps_graph.h"

typedef struct walk {
    const evf_dep *path[EVF_DEPS_MAX_DEPTH];
    size_t depth;
    char *msg;
    size_t len;
} walk_t;

static int
visit(walk_t *w, const evf_dep *d)
{
    for (size_t i = 0; i < w->depth; i++)
        if (w->path[i] == d) {
            size_t off = 0;
            for (size_t k = i; k < w->depth && off < w->len; k++)
                off += (size_t)snprintf(w->msg + off, w->len - off, "%s -> ",
                                        w->path[k]->name ? w->path[k]->name
                                                         : "?");
            if (off < w->len)
                snprintf(w->msg + off, w->len - off, "%s",
                         d->name ? d->name : "?");
            return -1;
        }
    if (w->depth == EVF_DEPS_MAX_DEPTH) {
        snprintf(w->msg, w->len, "dependencies nested deeper than %d",
                 EVF_DEPS_MAX_DEPTH);
        return -1;
    }
    w->path[w->depth++] = d;
    for (const evf_dep *const *c = d->deps; c && *c; c++)
        if (visit(w, *c) < 0)
            return -1;
    w->depth--;
    return 0;
}

int
evf_deps_find_cycle(const evf_dep *const *a, const evf_dep *const *b,
                    char *msg, size_t len)
{
    walk_t w = { .depth = 0, .msg = msg, .len = len };
    for (const evf_dep *const *d = a; d && *d; d++)
        if (visit(&w, *d) < 0)
            return -1;
    for (const evf_dep *const *d = b; d && *d; d++)
        if (visit(&w, *d) < 0)
            return -1;
    return 0;
}
