/*
 * deps_graph: dependency-graph checks at load (see deps_graph.h).
 *
 * DESIGN.  A depth-first walk keeps the current path: meeting a dependency
 * already on it is a cycle, and the path from there is the message.  A
 * dependency whose walk finished is remembered with its height (the
 * longest chain it starts), so that a dependency shared by many others is
 * walked once: without that, a ladder of shared dependencies has 2^depth
 * paths.  Meeting a finished one again cannot close a cycle (everything
 * below it was walked and found none), and the nesting through it is the
 * current depth plus its height.
 */
#include "config.h"

#include <stdio.h>

#include "deps_graph.h"
#include "mem.h"

typedef struct done {
    const evf_dep *dep;
    size_t height;
} done_t;

typedef struct walk {
    const evf_dep *path[EVF_DEPS_MAX_DEPTH];
    size_t depth;
    done_t *done;               /* finished dependencies */
    size_t ndone, cap;
    char *msg;
    size_t len;
} walk_t;

static int
too_deep(walk_t *w)
{
    snprintf(w->msg, w->len, "dependencies nested deeper than %d",
             EVF_DEPS_MAX_DEPTH);
    return -1;
}

/* Walk d at w->depth; 0 with d's height in *height, or -1 (msg set). */
static int
visit(walk_t *w, const evf_dep *d, size_t *height)
{
    for (size_t i = 0; i < w->ndone; i++)
        if (w->done[i].dep == d) {
            if (w->depth + w->done[i].height > EVF_DEPS_MAX_DEPTH)
                return too_deep(w);
            *height = w->done[i].height;
            return 0;
        }
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
    if (w->depth == EVF_DEPS_MAX_DEPTH)
        return too_deep(w);
    w->path[w->depth++] = d;
    size_t h = 0;
    for (const evf_dep *const *c = d->deps; c && *c; c++) {
        size_t ch;
        if (visit(w, *c, &ch) < 0)
            return -1;
        if (ch > h)
            h = ch;
    }
    w->depth--;
    if (w->ndone == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        done_t *v = evf_realloc(w->done, cap * sizeof(*v));
        if (!v) {
            snprintf(w->msg, w->len, "out of memory");
            return -1;
        }
        w->done = v;
        w->cap = cap;
    }
    w->done[w->ndone++] = (done_t){ d, h + 1 };
    *height = h + 1;
    return 0;
}

static int
walk_list(walk_t *w, const evf_dep *const *list)
{
    size_t h;
    for (const evf_dep *const *d = list; d && *d; d++)
        if (visit(w, *d, &h) < 0)
            return -1;
    return 0;
}

int
evf_deps_find_cycle(const evf_dep *const *a, const evf_dep *const *b,
                    char *msg, size_t len)
{
    walk_t w = { .depth = 0, .msg = msg, .len = len };
    int rc = walk_list(&w, a) < 0 || walk_list(&w, b) < 0 ? -1 : 0;
    evf_free(w.done);
    return rc;
}
