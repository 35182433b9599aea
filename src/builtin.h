/*
 * builtin: the daemon's own pages, ping and status, served as a built-in
 * app (so dispatch has no special cases, and the router reports a clash
 * with an app's route like any other).  Registered by the process that
 * loads the apps, before them.
 */
#ifndef EVF_BUILTIN_H
#define EVF_BUILTIN_H

/*
 * Register the pages that are configured (a NULL path: that page is off;
 * ping_response NULL: "pong").  Returns 0 (also when both are off), or -1
 * after logging why.  The strings are copied.
 */
int evf_builtin_register(const char *ping_path, const char *ping_response,
                         const char *status_path);

/* Free what evf_builtin_register kept (after evf_apps_free). */
void evf_builtin_free(void);

#endif
