/*
 * docs: /openapi.json, /docs and /redoc for each app (see docs.h).  Their
 * handlers run like any async route's, on the loop thread; each finds its
 * app's page by the path it was routed on (a few string compares, on
 * these three routes only).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "docs.h"
#include "log.h"
#include "mem.h"
#include "openapi.h"

enum { U_JSON, U_DOCS, U_REDOC, U_N };

static const char *const option_names[U_N] = {
    "openapi_url", "docs_url", "redoc_url"
};

/* FastAPI's defaults: the current major versions on jsDelivr. */
#define CDN_SWAGGER_JS \
    "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
#define CDN_SWAGGER_CSS \
    "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
#define CDN_REDOC_JS \
    "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"

typedef struct page {
    char *title;                /* HTML-escaped */
    char *json;                 /* the document, compact */
    size_t json_len;
    char *urls[U_N];            /* NULL: that page is off */
    char *root_path;            /* NULL: from SCRIPT_NAME */
} page_t;

static struct {
    page_t *pages;
    size_t n;
    char *swagger_js, *swagger_css, *redoc_js;     /* HTML-escaped */
    evf_route *routes;
    evf_app app;
} d;

static bool
is_off(const char *s)
{
    return !s || !*s || strcasecmp(s, "off") == 0;
}

/* s with &, <, >, " and ' as entities, from evf_malloc (NULL: no memory). */
static char *
html_escape(const char *s)
{
    size_t n = 1;
    for (const char *p = s; *p; p++)
        n += strchr("&<>\"'", *p) ? 6 : 1;
    char *out = evf_malloc(n), *o = out;
    if (!out)
        return NULL;
    for (; *s; s++) {
        const char *e = NULL;
        switch (*s) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&#39;"; break;
        }
        if (e)
            o += sprintf(o, "%s", e);
        else
            *o++ = *s;
    }
    *o = '\0';
    return out;
}

/*
 * A prefix or page path that can go into a URL, an HTML attribute and a
 * JavaScript string as it is: '/' then unreserved bytes and '/', never
 * "//" (a network path would leave the site).
 */
static bool
plain_path(const char *s, size_t len)
{
    if (len == 0 || s[0] != '/' || (len > 1 && s[1] == '/'))
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("/._~%-", c)))
            return false;
    }
    return true;
}

static void
page_free(page_t *p)
{
    evf_free(p->title);
    evf_free(p->json);
    for (int k = 0; k < U_N; k++)
        evf_free(p->urls[k]);
    evf_free(p->root_path);
}

void
evf_docs_free(void)
{
    for (size_t i = 0; i < d.n; i++)
        page_free(&d.pages[i]);
    evf_free(d.pages);
    evf_free(d.swagger_js);
    evf_free(d.swagger_css);
    evf_free(d.redoc_js);
    evf_free(d.routes);
    memset(&d, 0, sizeof(d));
}

/* ---- serving ------------------------------------------------------------- */

static const page_t *
find(evf_req *r, int kind)
{
    const char *path = evf_path(r);
    for (size_t i = 0; i < d.n; i++)
        if (d.pages[i].urls[kind] && strcmp(d.pages[i].urls[kind], path) == 0)
            return &d.pages[i];
    return NULL;
}

/*
 * The prefix the app is mounted under, "" for none, in request memory:
 * root_path when set, else SCRIPT_NAME without the routed path at its end
 * (nginx's usual fastcgi_params send the whole path as SCRIPT_NAME).  A
 * prefix that is not a plain path is ignored (logged).
 */
static const char *
mount(evf_req *r, const page_t *p)
{
    const char *path = evf_path(r);
    const char *s = p->root_path ? p->root_path
                                 : evf_param(r, "SCRIPT_NAME");
    if (!s)
        return "";
    size_t len = strlen(s), plen = strlen(path);
    if (!p->root_path && len >= plen && strcmp(s + len - plen, path) == 0)
        len -= plen;
    while (len && s[len - 1] == '/')
        len--;
    if (len == 0)
        return "";
    if (!plain_path(s, len)) {
        evf_log(r, EVF_LOG_WARN, "docs: ignoring the prefix '%.*s': not a "
                "plain path", (int)(len > 200 ? 200 : len), s);
        return "";
    }
    char *c = evf_alloc(r, len + 1);
    if (!c)
        return "";
    memcpy(c, s, len);
    c[len] = '\0';
    return c;
}

static void
serve_json(evf_req *r)
{
    const page_t *p = find(r, U_JSON);
    if (!p) {
        evf_raise(r, 404, NULL);
        return;
    }
    const char *pre = mount(r, p);
    if (!*pre) {
        evf_respond(r, 200, "application/json", p->json, p->json_len);
        return;
    }
    /* FastAPI's root_path: the prefix becomes the document's server. */
    size_t cap = p->json_len + strlen(pre) + 32;
    char *s = evf_alloc(r, cap);
    if (!s) {
        evf_raise(r, 503, NULL);
        return;
    }
    int n = snprintf(s, cap, "{\"servers\":[{\"url\":\"%s\"}],%s", pre,
                     p->json + 1);
    evf_respond(r, 200, "application/json", s, (size_t)n);
}

/* Swagger UI: title, css, bundle, then prefix and document path. */
#define SWAGGER_PAGE \
    "<!DOCTYPE html>\n" \
    "<html lang=\"en\">\n" \
    "<head>\n" \
    "<meta charset=\"utf-8\">\n" \
    "<meta name=\"viewport\" content=\"width=device-width, " \
    "initial-scale=1\">\n" \
    "<title>%s - Swagger UI</title>\n" \
    "<link rel=\"stylesheet\" href=\"%s\">\n" \
    "</head>\n" \
    "<body>\n" \
    "<div id=\"swagger-ui\"></div>\n" \
    "<script src=\"%s\"></script>\n" \
    "<script>\n" \
    "window.ui = SwaggerUIBundle({\n" \
    "    url: \"%s%s\",\n" \
    "    dom_id: \"#swagger-ui\",\n" \
    "    layout: \"BaseLayout\",\n" \
    "    deepLinking: true,\n" \
    "    showExtensions: true,\n" \
    "    showCommonExtensions: true,\n" \
    "    presets: [SwaggerUIBundle.presets.apis,\n" \
    "              SwaggerUIBundle.SwaggerUIStandalonePreset]\n" \
    "});\n" \
    "</script>\n" \
    "</body>\n" \
    "</html>\n"

/* ReDoc: title, prefix and document path, then the bundle. */
#define REDOC_PAGE \
    "<!DOCTYPE html>\n" \
    "<html lang=\"en\">\n" \
    "<head>\n" \
    "<meta charset=\"utf-8\">\n" \
    "<meta name=\"viewport\" content=\"width=device-width, " \
    "initial-scale=1\">\n" \
    "<title>%s - ReDoc</title>\n" \
    "<style>body { margin: 0; padding: 0; }</style>\n" \
    "</head>\n" \
    "<body>\n" \
    "<noscript>ReDoc needs JavaScript.</noscript>\n" \
    "<redoc spec-url=\"%s%s\"></redoc>\n" \
    "<script src=\"%s\"></script>\n" \
    "</body>\n" \
    "</html>\n"

static void
serve_html(evf_req *r, int kind)
{
    const page_t *p = find(r, kind);
    if (!p || !p->urls[U_JSON]) {
        evf_raise(r, 404, NULL);
        return;
    }
    const char *pre = mount(r, p);
    const char *a = kind == U_DOCS ? d.swagger_css : d.redoc_js;
    const char *b = kind == U_DOCS ? d.swagger_js : "";
    size_t cap = sizeof(SWAGGER_PAGE) + sizeof(REDOC_PAGE) +
                 strlen(p->title) + strlen(a) + strlen(b) + strlen(pre) +
                 strlen(p->urls[U_JSON]);
    char *s = evf_alloc(r, cap);
    if (!s) {
        evf_raise(r, 503, NULL);
        return;
    }
    int n = kind == U_DOCS
        ? snprintf(s, cap, SWAGGER_PAGE, p->title, a, b, pre,
                   p->urls[U_JSON])
        : snprintf(s, cap, REDOC_PAGE, p->title, pre, p->urls[U_JSON], a);
    evf_respond(r, 200, "text/html; charset=utf-8", s, (size_t)n);
}

static void
serve_docs(evf_req *r)
{
    evf_add_header(r, "Cache-Control", "no-store");
    serve_html(r, U_DOCS);
}

static void
serve_redoc(evf_req *r)
{
    evf_add_header(r, "Cache-Control", "no-store");
    serve_html(r, U_REDOC);
}

/* ---- registration -------------------------------------------------------- */

static int
set_assets(const char *base)
{
    char buf[2048];
    const char *v[3] = { CDN_SWAGGER_JS, CDN_SWAGGER_CSS, CDN_REDOC_JS };
    static const char *const files[3] = {
        "swagger-ui-dist/swagger-ui-bundle.js",
        "swagger-ui-dist/swagger-ui.css",
        "redoc/bundles/redoc.standalone.js",
    };
    char *out[3] = { NULL, NULL, NULL };
    for (int k = 0; k < 3; k++) {
        if (!is_off(base)) {
            size_t len = strlen(base);
            while (len && base[len - 1] == '/')
                len--;
            snprintf(buf, sizeof(buf), "%.*s/%s", (int)len, base, files[k]);
            v[k] = buf;
        }
        if (!(out[k] = html_escape(v[k])))
            return -1;
    }
    d.swagger_js = out[0];
    d.swagger_css = out[1];
    d.redoc_js = out[2];
    return 0;
}

/* One app's page: its paths (options over the directives), document. */
static int
add_page(const evf_app *app, evf_app_ctx *ctx, const evf_docs_conf_t *c,
         bool taken[U_N])
{
    const char *global[U_N] = { c->openapi_url, c->docs_url, c->redoc_url };
    page_t *p = &d.pages[d.n];
    char err[256];
    memset(p, 0, sizeof(*p));
    for (int k = 0; k < U_N; k++) {
        const char *v = evf_app_option(ctx, option_names[k]);
        if (!v) {
            if (taken[k])
                continue;
            v = global[k];
            taken[k] = !is_off(v);
        }
        if (is_off(v))
            continue;
        if (!plain_path(v, strlen(v))) {
            evf_log_error("app '%s': %s '%s' is not a plain path (want "
                          "/name, with letters, digits and /._~%%-)",
                          app->name, option_names[k], v);
            return -1;
        }
        if (!(p->urls[k] = evf_mem_strdup(v)))
            goto nomem;
    }
    if (!p->urls[U_JSON]) {
        /* The pages show the document: without it they are off. */
        page_free(p);
        memset(p, 0, sizeof(*p));
        return 0;
    }
    const char *root = evf_app_option(ctx, "root_path");
    if (!root)
        root = c->root_path;
    if (root) {
        if (*root && !plain_path(root, strlen(root))) {
            evf_log_error("app '%s': root_path '%s' is not a plain path",
                          app->name, root);
            page_free(p);
            return -1;
        }
        if (!(p->root_path = evf_mem_strdup(root)))
            goto nomem;
    }
    evf_openapi_info_t info = {
        .title = evf_app_option(ctx, "title"),
        .version = evf_app_option(ctx, "version"),
        .description = evf_app_option(ctx, "description"),
    };
    if (!info.title)
        info.title = app->name;
    if (!(p->title = html_escape(info.title)))
        goto nomem;
    p->json = evf_openapi_render(app->routes, &info, &p->json_len, err,
                                 sizeof(err));
    if (!p->json) {
        evf_log_error("app '%s': %s", app->name, err);
        page_free(p);
        return -1;
    }
    d.n++;
    return 0;
nomem:
    evf_log_error("app '%s': out of memory for its docs pages", app->name);
    page_free(p);
    return -1;
}

int
evf_docs_register(const evf_docs_conf_t *c)
{
    static const evf_handler_fn handlers[U_N] = {
        serve_json, serve_docs, serve_redoc
    };
    bool taken[U_N] = { false, false, false };
    size_t napps = evf_apps_count();
    evf_docs_free();
    if (!napps)
        return 0;
    d.pages = evf_calloc(napps, sizeof(*d.pages));
    d.routes = evf_calloc(napps * U_N + 1, sizeof(*d.routes));
    if (!d.pages || !d.routes || set_assets(c->assets_url) < 0) {
        evf_log_error("out of memory for the docs pages");
        goto fail;
    }
    for (size_t i = 0; i < napps; i++) {
        evf_app_ctx *ctx;
        const evf_app *app = evf_apps_at(i, &ctx);
        /* The daemon's own pages (builtin.c) are no app's API. */
        if (strcmp(app->name, "evfcgid") == 0)
            continue;
        if (add_page(app, ctx, c, taken) < 0)
            goto fail;
    }
    size_t n = 0;
    for (size_t i = 0; i < d.n; i++)
        for (int k = 0; k < U_N; k++)
            if (d.pages[i].urls[k])
                d.routes[n++] = (evf_route)EVF_GET(d.pages[i].urls[k],
                                                   handlers[k],
                                                   .hidden = true);
    if (!n)
        return 0;
    d.routes[n] = (evf_route)EVF_END;
    d.app = (evf_app){ .abi = EVF_ABI_VERSION, .name = "evfcgid docs",
                       .routes = d.routes };
    if (evf_app_register(&d.app, "built-in docs pages") < 0)
        goto fail;
    return 0;
fail:
    evf_docs_free();
    return -1;
}
