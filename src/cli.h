/*
 * cli: evfcgid's command line, read into a configuration.
 *
 * The options: -c FILE (read first), then the directives' long options
 * (each row of conf.c's table is --its-name VALUE, some with a short form
 * or an older alias), -a/-o for apps, and the actions -t -d -V -h
 * --directives.  Like conf, it touches nothing but the configuration it
 * fills: the master calls it again on reload.
 */
#ifndef EVF_CLI_H
#define EVF_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"

enum {
    EVF_CLI_RUN = 0,        /* c holds the configuration to run */
    EVF_CLI_EXIT = 1,       /* -V, -h or --directives: printed; exit 0 */
    EVF_CLI_ERROR = -1      /* err says why (FILE:LINE: message) */
};

/*
 * Initialise c and fill it from the file named by -c, then the rest of
 * argv on top.  *test is set for -t.  Returns EVF_CLI_RUN (the caller
 * owns c), EVF_CLI_EXIT or EVF_CLI_ERROR (c already freed).
 */
int evf_cli_read(int argc, char **argv, evf_config_t *c, bool *test,
                 char *err, size_t errlen);

#endif
