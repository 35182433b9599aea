/*
 * builtin: the ping and status pages (see builtin.h).  Their handlers run
 * like any async route's, on the loop thread.
 */
#include "config.h"

#include <string.h>

#include "app.h"
#include "builtin.h"
#include "mem.h"
#include "settings.h"
#include "stats.h"

static struct {
    char *ping_path, *ping_response, *status_path;
    evf_route routes[3];
    evf_app app;
} b;

static void
ping(evf_req *r)
{
    evf_add_header(r, "Cache-Control", "no-store");
    evf_respond(r, 200, "text/plain", b.ping_response,
                strlen(b.ping_response));
}

/* ?text or ?format=text asks for the text page; anything else is JSON. */
static bool
wants_text(const char *qs)
{
    while (qs && *qs) {
        size_t len = strcspn(qs, "&");
        if ((len == 4 && memcmp(qs, "text", 4) == 0) ||
            (len == 5 && memcmp(qs, "text=", 5) == 0) ||
            (len == 11 && memcmp(qs, "format=text", 11) == 0))
            return true;
        qs += len;
        if (*qs == '&')
            qs++;
    }
    return false;
}

static void
status(evf_req *r)
{
    bool json = !wants_text(evf_param(r, "QUERY_STRING"));
    const char *const *labels;
    unsigned n = evf_apps_route_labels(&labels);
    char *body = evf_stats_render(json, labels, n, evf_settings.started,
                                  evf_settings.workers);
    if (!body) {
        evf_raise(r, 503, "Service Unavailable");
        return;
    }
    evf_defer(r, evf_free, body);
    evf_add_header(r, "Cache-Control", "no-store");
    evf_respond(r, 200, json ? "application/json" : "text/plain", body,
                strlen(body));
}

void
evf_builtin_free(void)
{
    evf_free(b.ping_path);
    evf_free(b.ping_response);
    evf_free(b.status_path);
    memset(&b, 0, sizeof(b));
}

int
evf_builtin_register(const char *ping_path, const char *ping_response,
                     const char *status_path)
{
    evf_builtin_free();
    size_t n = 0;
    if (ping_path && *ping_path) {
        b.ping_path = evf_mem_strdup(ping_path);
        b.ping_response = evf_mem_strdup(ping_response ? ping_response
                                                       : "pong");
        if (!b.ping_path || !b.ping_response)
            goto nomem;
        b.routes[n++] = (evf_route)EVF_GET(b.ping_path, ping);
    }
    if (status_path && *status_path) {
        if (!(b.status_path = evf_mem_strdup(status_path)))
            goto nomem;
        b.routes[n++] = (evf_route)EVF_GET(b.status_path, status);
    }
    if (!n)
        return 0;
    b.routes[n] = (evf_route)EVF_END;
    b.app = (evf_app){ .abi = EVF_ABI_VERSION, .name = "evfcgid",
                       .routes = b.routes };
    return evf_app_register(&b.app, "built-in pages");
nomem:
    evf_builtin_free();
    return -1;
}
