/*
 * docs: each app's OpenAPI document and its two pages, as FastAPI serves
 * them: /openapi.json, /docs (Swagger UI) and /redoc, registered as a
 * built-in app once the apps are loaded.  The document is built once, at
 * registration (openapi.c), and served as bytes; ordinary routes get
 * nothing new on their request path.
 *
 * Which app gets which paths.  An app's own options (its [app NAME]
 * section: openapi_url, docs_url, redoc_url, root_path, title, version,
 * description) come first; the [evfcgid] directives give the rest, and
 * their paths go to the first app that does not name its own (two apps
 * cannot answer one path).  A path that is empty or "off" turns its page
 * off; no openapi_url turns off both pages too.
 *
 * Behind a prefix.  A front-end that mounts the app under /api (SCRIPT_NAME
 * /api, REQUEST_URI without it) gets pages that load /api/openapi.json, and
 * a document whose servers list /api, as FastAPI does with root_path.  The
 * prefix is root_path when set, else SCRIPT_NAME when it differs from the
 * routed path (nginx's usual fastcgi_params send the whole path there).
 */
#ifndef EVF_DOCS_H
#define EVF_DOCS_H

typedef struct evf_docs_conf {
    const char *openapi_url;    /* NULL, "" or "off": none */
    const char *docs_url;
    const char *redoc_url;
    const char *assets_url;     /* NULL: the jsDelivr CDN */
    const char *root_path;      /* NULL: from SCRIPT_NAME */
} evf_docs_conf_t;

/*
 * Build the documents of the apps registered now and register their
 * pages.  Returns 0, or -1 after logging why.  The strings are copied.
 */
int evf_docs_register(const evf_docs_conf_t *c);

/* Free what evf_docs_register kept (after evf_apps_free). */
void evf_docs_free(void);

#endif
