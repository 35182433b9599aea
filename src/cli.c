/*
 * cli: the command line (see cli.h).  The long options are built from
 * conf.c's directive rows; only the actions and -a/-o are written here.
 */
#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "conf.h"
#include "mem.h"

enum { OPT_DIRECTIVES = 256, OPT_ROW = 1000 };

static void
usage(FILE *f)
{
    fprintf(f,
"Usage: evfcgid [options]\n"
"FastCGI application server: serves the routes of evfcgi apps.\n"
"\n"
"  -c, --config FILE      read FILE (INI; see evfcgid.conf(5)); options\n"
"                         given on the command line win over it\n"
"  -l, --listen ADDR      listen on HOST:PORT, [V6]:PORT or unix:/path\n"
"                         (repeatable; default: the socket on fd 0, as\n"
"                         spawn-fcgi passes it)\n"
"  -a, --app FILE.so      load an app (repeatable)\n"
"  -o, --app-option APP:KEY=VALUE\n"
"                         set an option an app reads (repeatable)\n"
"  -w, --workers N        worker processes (default 1; 0: a single process\n"
"                         without a master)\n"
"  -T, --threads N        threads of the blocking pool (default 40)\n"
"  -m, --socket-mode MODE mode of unix sockets (octal, default 0660)\n"
"  -b, --backlog N        listen backlog (default: the system maximum)\n"
"  -p, --pid-file FILE    write the master's pid to FILE once listening\n"
"  -t, --test             check the configuration and apps, then exit\n"
"  -d, --daemonize        detach from the terminal (default: foreground)\n"
"  -V, --version          print the version and exit\n"
"  -h, --help             print this help and exit\n"
"      --directives       list the configuration directives\n"
"  --NAME VALUE           every directive of evfcgid.conf(5), '_' and '.'\n"
"                         written '-', e.g. --max-body 10m, --queue 100,\n"
"                         --deadline 5, --slow-callback-ms 50,\n"
"                         --log-level info\n"
"\n"
"Signals: TERM/INT stop now; QUIT stops gracefully; HUP reloads;\n"
"USR1 reopens the log files.\n");
}

static const struct option actions[] = {
    { "config", required_argument, NULL, 'c' },
    { "app", required_argument, NULL, 'a' },
    { "app-option", required_argument, NULL, 'o' },
    { "test", no_argument, NULL, 't' },
    { "daemonize", no_argument, NULL, 'd' },
    { "version", no_argument, NULL, 'V' },
    { "help", no_argument, NULL, 'h' },
    { "directives", no_argument, NULL, OPT_DIRECTIVES },
};

#define NACTIONS (sizeof(actions) / sizeof(actions[0]))
#define MAX_OPTS 128

/*
 * The option table: the actions, then each directive row's long option
 * and alias (val OPT_ROW + row).  Fills shorts with getopt's short option
 * string.
 */
static void
build_options(struct option *opts, char *shorts, size_t slen)
{
    size_t n = 0, s = 0;
    memcpy(opts, actions, sizeof(actions));
    n = NACTIONS;
    s = (size_t)snprintf(shorts, slen, ":c:a:o:tdVh");
    for (size_t i = 0; i < evf_config_count() && n + 3 < MAX_OPTS; i++) {
        const char *name, *lopt, *alias;
        int sopt;
        evf_config_option(i, &name, &lopt, &alias, &sopt);
        opts[n++] = (struct option){ lopt, required_argument, NULL,
                                     OPT_ROW + (int)i };
        if (alias)
            opts[n++] = (struct option){ alias, required_argument, NULL,
                                         OPT_ROW + (int)i };
        if (sopt && s + 3 < slen) {
            shorts[s++] = (char)sopt;
            shorts[s++] = ':';
            shorts[s] = '\0';
        }
    }
    opts[n] = (struct option){ NULL, 0, NULL, 0 };
}

/* The row of short option ch, or -1. */
static int
row_of_short(int ch)
{
    for (size_t i = 0; i < evf_config_count(); i++) {
        const char *name, *lopt, *alias;
        int sopt;
        evf_config_option(i, &name, &lopt, &alias, &sopt);
        if (sopt == ch)
            return (int)i;
    }
    return -1;
}

/* -o APP:KEY=VALUE */
static int
app_option(evf_config_t *c, const char *arg, char *err, size_t errlen)
{
    const char *colon = strchr(arg, ':');
    const char *eq = colon ? strchr(colon, '=') : NULL;
    if (!colon || !eq || colon == arg || eq == colon + 1) {
        snprintf(err, errlen, "-o wants APP:KEY=VALUE, got '%s'", arg);
        return -1;
    }
    char app[128], key[128];
    snprintf(app, sizeof(app), "%.*s", (int)(colon - arg), arg);
    snprintf(key, sizeof(key), "%.*s", (int)(eq - colon - 1), colon + 1);
    if (evf_config_add_option(c, app, key, eq + 1) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int
evf_cli_read(int argc, char **argv, evf_config_t *c, bool *test,
             char *err, size_t errlen)
{
    struct option opts[MAX_OPTS];
    char shorts[128];
    const char *path = NULL;
    int ch, rc = EVF_CLI_ERROR;

    build_options(opts, shorts, sizeof(shorts));
    if (evf_config_init(c) < 0) {
        snprintf(err, errlen, "out of memory");
        return EVF_CLI_ERROR;
    }
    opterr = 0;
    optind = 0;
    while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1)
        if (ch == 'c')
            path = optarg;
    if (path && evf_config_load(c, path, err, errlen) < 0)
        goto out;

    optind = 0;
    bool cli_listen = false;
    while ((ch = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        int row = ch >= OPT_ROW ? ch - OPT_ROW : row_of_short(ch);
        switch (ch) {
        case 'c':
            continue;
        case 'a':
            if (evf_config_add_app(c, NULL, optarg, 0, err, errlen) < 0)
                goto out;
            continue;
        case 'o':
            if (app_option(c, optarg, err, errlen) < 0)
                goto out;
            continue;
        case 't':
            *test = true;
            continue;
        case 'd':
            c->daemonize = true;
            continue;
        case 'V':
            printf("evfcgid %s\n", PACKAGE_VERSION);
            rc = EVF_CLI_EXIT;
            goto out;
        case 'h':
            usage(stdout);
            rc = EVF_CLI_EXIT;
            goto out;
        case OPT_DIRECTIVES:
            evf_config_list(stdout);
            rc = EVF_CLI_EXIT;
            goto out;
        case ':':
            snprintf(err, errlen, "option '%s' wants a value",
                     argv[optind - 1]);
            goto out;
        case '?':
            snprintf(err, errlen, "unrecognized option '%s' (evfcgid -h "
                     "lists them)", argv[optind - 1]);
            goto out;
        default:
            break;
        }
        if (row < 0) {
            snprintf(err, errlen, "unrecognized option '%s'",
                     argv[optind - 1]);
            goto out;
        }
        const char *name, *lopt, *alias;
        int sopt;
        evf_config_option((size_t)row, &name, &lopt, &alias, &sopt);
        /* The command line's addresses replace the file's. */
        if (strcmp(name, "listen") == 0 && !cli_listen) {
            for (size_t i = 0; i < c->nlisten; i++)
                evf_free(c->listen[i]);
            c->nlisten = 0;
            cli_listen = true;
        }
        if (evf_config_set(c, name, optarg, err, errlen) < 0)
            goto out;
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        goto out;
    }
    return EVF_CLI_RUN;
out:
    evf_config_free(c);
    return rc;
}
