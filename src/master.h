/*
 * master: generations of configuration and apps, and the master process
 * that runs workers from the live one.
 *
 * A generation is a configuration, the settings it gives, and its apps
 * (loaded in the app registry, and held open here so that they can be
 * registered again from memory).  The master forks its workers from the
 * live generation.  On SIGHUP it builds the next generation beside the
 * live one (the file and command line read into a staging configuration,
 * the apps loaded), starts workers from it, and switches only when they
 * are all ready; if anything fails on the way (a refused file, an app
 * that does not load, a new worker that dies before it is ready) the live
 * generation is put back exactly as it was (apps, settings, log level,
 * stack size), the reason is logged (FILE:LINE: message) and shown on the
 * status page, and workers started later come from it.
 */
#ifndef EVF_MASTER_H
#define EVF_MASTER_H

#include <stddef.h>

#include "conf.h"
#include "evfcgi.h"

typedef struct evf_gen evf_gen_t;

/*
 * Build a generation from conf (taken: emptied, also on failure): the app
 * registry is emptied, then conf's app options, builtin (may be NULL) and
 * apps go in.  Settings are not touched (see evf_gen_apply).  Returns the
 * generation, or NULL with the reason in err; the registry is then empty
 * (evf_gen_restore() puts a previous generation back).
 */
evf_gen_t *evf_gen_build(evf_config_t *conf, const evf_app *builtin,
                         char *err, size_t errlen);

/* Make g's settings live, and remember them as g's. */
void evf_gen_apply(evf_gen_t *g);

/*
 * Put g back: its apps (registered again from memory, not read from
 * disk), its settings, log level and stack size.  0, or -1 after logging
 * (out of memory: the registry may be incomplete).
 */
int evf_gen_restore(evf_gen_t *g);

/* g's configuration (owned by g). */
const evf_config_t *evf_gen_conf(const evf_gen_t *g);

void evf_gen_free(evf_gen_t *g);

/*
 * Run the master: fork the live generation's workers on fds, replace them
 * when they die or retire, reload on SIGHUP (argv read again), stop on
 * TERM/INT/QUIT.  *live may be replaced by a reload; the caller frees it.
 * Returns the exit status.
 */
int evf_master_run(evf_gen_t **live, const int *fds, size_t nfds, int argc,
                   char **argv, const evf_app *builtin);

#endif
