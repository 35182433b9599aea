/*
 * conf: evfcgid's configuration, from the file (-c) and the command line.
 *
 * The file is INI (read with inih): a [evfcgid] section of directives and
 * one [app NAME] section per app (its `path`, then any options the app
 * reads with evf_app_option).  Every directive is one row of a table that
 * drives the parser, `evfcgid --directives` and the man page's check.
 * Errors read "file:line: message".
 */
#ifndef EVF_CONF_H
#define EVF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define EVF_CONF_MAX_LISTEN 8
#define EVF_CONF_MAX_APPS 64

typedef struct evf_conf_app {
    char *name;             /* section name; NULL for -a apps */
    char *path;
} evf_conf_app_t;

typedef struct evf_config {
    char *listen[EVF_CONF_MAX_LISTEN];
    size_t nlisten;
    unsigned listen_mode;
    char *listen_owner, *listen_group;
    char *allowed_clients;      /* space/comma separated addresses */
    unsigned workers;           /* 0: no master, one process */
    unsigned max_requests;      /* recycle a worker after this many */
    double grace;
    char *log;
    char *access_log;
    char *access_log_format;
    char *pid_file;
    char *user, *group;
    unsigned long rlimit_files;
    char *status_path;
    char *ping_path;
    char *ping_response;
    evf_conf_app_t apps[EVF_CONF_MAX_APPS];
    size_t napps;
    bool daemonize;
} evf_config_t;

/* Defaults (also of evf_settings). */
void evf_config_init(evf_config_t *c);
void evf_config_free(evf_config_t *c);

/*
 * Read path into c (and evf_settings).  Returns 0, or -1 after printing
 * "path:line: message" to stderr.
 */
int evf_config_load(evf_config_t *c, const char *path);

/*
 * Set one directive by name (the command line's long options use this
 * too).  Returns 0, or -1 with a message in err.
 */
int evf_config_set(evf_config_t *c, const char *name, const char *value,
                   char *err, size_t errlen);

/* The access log format used when none is set. */
const char *evf_config_default_access_format(void);

/* Print every directive, its default and its help, one per line. */
void evf_config_list(FILE *f);

#endif
