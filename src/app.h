/*
 * app: loading applications and their routes.
 *
 * An app is an evf_app (evfcgi.h): built in (evf_main) or loaded from a
 * shared object with dlopen.  Every app's routes go into one router, and a
 * clash between two routes (of one app or of two) refuses the load with a
 * message naming both.  Lifespan hooks run in each worker process.
 */
#ifndef EVF_APP_H
#define EVF_APP_H

#include "evfcgi.h"
#include "route.h"
#include "router.h"


/* Add an app (loaded or built in).  0, or -1 after logging why. */
int evf_app_register(const evf_app *app, const char *origin);
/*
 * dlopen path and register its evf_app_entry, which must be named expect
 * (unless NULL).  0, or -1 after logging.
 */
int evf_app_load(const char *path, const char *expect);
/* Set an option for the app named app ("key", "value"). */
int evf_app_set_option(const char *app, const char *key, const char *value);

/* Labels of every route, by index; returns how many. */
unsigned evf_apps_route_labels(const char *const **labels);

/*
 * Check what evf_apps_startup would build besides running hooks: each
 * app's middleware chain and CORS options (evfcgid -t).  0, or -1 after
 * logging every bad one.
 */
int evf_apps_check(void);
/* Run every app's startup hook (in order); -1 if one refused. */
int evf_apps_startup(void);
/* Run shutdown hooks in reverse order. */
void evf_apps_shutdown(void);
/* Unload everything (tests, exit). */
void evf_apps_free(void);

/* The router holding every app's routes (NULL before the first app). */
const evf_router_t *evf_apps_router(void);

/* ---- the apps, for the docs pages (docs.c) ---- */
/* How many apps are registered (built-in pages included). */
size_t evf_apps_count(void);
/* App i in registration order and its context (if ctx), or NULL. */
const evf_app *evf_apps_at(size_t i, evf_app_ctx **ctx);

#endif
