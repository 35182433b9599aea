/*
 * conf: evfcgid's configuration, from the file (-c) and the command line.
 *
 * The file is INI (read with inih): a [evfcgid] section of directives and
 * one [app NAME] section per app (its `path`, then any options the app
 * reads with evf_app_option).  Every directive is one row of a table: its
 * name, command-line option, type, bounds, typed default and apply step.
 * The rows drive the parser, the command line's long options,
 * `evfcgid --directives` and the man page's check.
 *
 * DESIGN.  Reading has no side effects: evf_config_load() and
 * evf_config_set() only fill an evf_config_t (a staging copy), and
 * evf_config_apply() makes a complete one live in a separate step (the
 * runtime settings, the log level, the coroutine stack size).  A file that
 * fails half-way leaves everything running as it was.  Errors read
 * "file:line: message".  Single-threaded (the daemon's main thread).
 */
#ifndef EVF_CONF_H
#define EVF_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "settings.h"

#define EVF_CONF_MAX_LISTEN 8
#define EVF_CONF_MAX_APPS 64

typedef struct evf_conf_app {
    char *name;             /* section name; NULL for -a apps */
    char *path;
    int line;               /* of its `path` in the file; 0: command line */
} evf_conf_app_t;

typedef struct evf_conf_option {
    char *app, *key, *value;
} evf_conf_option_t;

/*
 * One configuration.  Every pointer is owned by it (evf_config_free).  The
 * directives that become runtime settings are kept in set (numbers) and
 * in the strings below; evf_config_apply() copies them to evf_settings.
 */
typedef struct evf_config {
    evf_settings_t set;
    int log_level;
    size_t stack_size;
    char *listen[EVF_CONF_MAX_LISTEN];
    size_t nlisten;
    unsigned listen_mode;
    char *listen_owner, *listen_group;
    char *allowed_clients;      /* space/comma separated addresses */
    double grace;
    char *log;
    char *access_log;
    char *access_log_format;    /* NULL: the built-in format */
    char *pid_file;
    char *user, *group;
    unsigned long rlimit_files; /* 0: raise the soft limit to the hard */
    char *status_path;
    char *ping_path;
    char *ping_response;
    char *upload_dir;           /* forms and uploads; NULL: $TMPDIR */
    evf_conf_app_t apps[EVF_CONF_MAX_APPS];
    size_t napps;
    evf_conf_option_t *opts;    /* app options, in the order given */
    size_t nopts;
    bool daemonize;
    char *path;                 /* the file read, or NULL */
    /* ---- the OpenAPI document and its pages (docs.c) ---- */
    char *openapi_url, *docs_url, *redoc_url;  /* "off": none */
    char *docs_assets_url;      /* NULL: the jsDelivr CDN */
    char *root_path;            /* NULL: from SCRIPT_NAME */
} evf_config_t;

/* Every directive at its default.  0, or -1 when out of memory. */
int evf_config_init(evf_config_t *c);
void evf_config_free(evf_config_t *c);

/*
 * Read path into c (on top of what c holds).  Returns 0, or -1 with
 * "path:line: message" (or "path: message") in err.  Touches nothing but
 * c, which the caller frees in both cases.
 */
int evf_config_load(evf_config_t *c, const char *path, char *err,
                    size_t errlen);

/*
 * Set one directive by name (the command line's long options use this
 * too).  Returns 0, or -1 with a message in err.  Touches nothing but c.
 */
int evf_config_set(evf_config_t *c, const char *name, const char *value,
                   char *err, size_t errlen);

/* Add an app (name may be NULL), or an app's option.  0, or -1 + err. */
int evf_config_add_app(evf_config_t *c, const char *name, const char *path,
                       int line, char *err, size_t errlen);
int evf_config_add_option(evf_config_t *c, const char *app, const char *key,
                          const char *value);

/*
 * Make c live: run every directive's apply step (evf_settings, the log
 * level, the coroutine stack size).  c must outlive the settings: the
 * string settings point into it.
 */
void evf_config_apply(const evf_config_t *c);

/* The access log format used when none is set. */
const char *evf_config_default_access_format(void);

/* Print every directive, its real default and its help, one per line. */
void evf_config_list(FILE *f);

/*
 * The command line's view of the rows: how many there are, and directive
 * i's name, long option (its name with '_' and '.' as '-'), older alias
 * (or NULL) and short option (or 0).
 */
size_t evf_config_count(void);
void evf_config_option(size_t i, const char **name, const char **longopt,
                       const char **alias, int *shortopt);

#endif
