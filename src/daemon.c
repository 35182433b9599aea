/*
 * daemon: evf_main(), the start and the end of evfcgid.
 *
 * evf_main() is both evfcgid's main and the entry point of programs that
 * link libevfcgi with an app of their own.  It reads the configuration
 * (cli.c: the file, then the command line), builds the first generation
 * (master.c: the apps), checks (-t) or applies it, binds the listeners
 * (or takes fd 0 from spawn-fcgi), sets the process up (process.c:
 * limits, privileges, detach, pid file), then runs a master that forks
 * the workers (master.c), or with workers = 0 one process that serves
 * alone (worker.c).  At the end it removes what it made: the unix socket
 * files and the pid file, also when the start fails half-way.
 *
 * Signals, as nginx: TERM/INT stop at once; QUIT stops gracefully; HUP
 * reloads (master.c); USR1 reopens the log files.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "access.h"
#include "app.h"
#include "builtin.h"
#include "docs.h"
#include "cli.h"
#include "conf.h"
#include "coro.h"
#include "evfcgi.h"
#include "http_client.h"
#include "log.h"
#include "master.h"
#include "process.h"
#include "server.h"
#include "settings.h"
#include "worker.h"

/* Open the logs and the listeners.  0, or -1 after logging why. */
static int
open_everything(const evf_config_t *c, int *fds, size_t *nfds,
                size_t *nbound)
{
    char err[256];
    /* allowed_clients: set by evf_gen_apply (master.c). */
    if (c->log) {
        int lrc = evf_log_open(c->log);
        if (lrc < 0) {
            evf_log_error("log %s: %s", c->log, strerror(-lrc));
            return -1;
        }
    }
    int arc = evf_access_open(c->access_log, c->access_log_format);
    if (arc < 0) {
        evf_log_error("access_log %s: %s", c->access_log, strerror(-arc));
        return -1;
    }
    for (size_t i = 0; i < c->nlisten; i++) {
        int fd = evf_listen(c->listen[i], evf_settings.backlog,
                            c->listen_mode, err, sizeof(err));
        if (fd < 0) {
            evf_log_error("%s", err);
            return -1;
        }
        fds[(*nfds)++] = fd;
        *nbound = i + 1;
    }
    if (!*nfds) {
        if (!evf_listen_inherited()) {
            evf_log_error("nothing to listen on: give -l ADDR (or listen "
                          "in the configuration), or start evfcgid under "
                          "spawn-fcgi (listening socket on fd 0)");
            return -1;
        }
        fds[(*nfds)++] = 0;
    }
    return 0;
}

int
evf_main(int argc, char **argv, const evf_app *builtin)
{
    evf_config_t conf;
    evf_gen_t *gen = NULL;
    bool test = false, pid_written = false;
    char err[512];
    int fds[EVF_CONF_MAX_LISTEN];
    size_t nfds = 0, nbound = 0;
    int rc = 1;

    signal(SIGPIPE, SIG_IGN);
    evf_settings.started = ev_time();
    switch (evf_cli_read(argc, argv, &conf, &test, err, sizeof(err))) {
    case EVF_CLI_RUN:
        break;
    case EVF_CLI_EXIT:
        return 0;
    default:
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    gen = evf_gen_build(&conf, builtin, err, sizeof(err));
    if (!gen) {
        evf_log_error("%s", err);
        evf_apps_free();
        return 1;
    }
    const evf_config_t *c = evf_gen_conf(gen);
    if (test) {
        if (evf_process_check(c) < 0)
            goto out;
        if (evf_apps_check() < 0)   /* the apps' cors_* options */
            goto out;
        printf("evfcgid: configuration and apps are valid\n");
        rc = 0;
        goto out;
    }
    evf_process_set_nofile(c->rlimit_files);
    evf_gen_apply(gen);
    if (open_everything(c, fds, &nfds, &nbound) < 0)
        goto out;
    if (evf_process_prepare_user(c) < 0)
        goto out;
    if (evf_http_global_init() < 0) {
        evf_log_error("cannot initialise libcurl");
        goto out;
    }
    if (c->daemonize && evf_process_detach(fds, nfds) < 0) {
        evf_log_error("cannot detach: %s", strerror(errno));
        goto out;
    }
    if (c->pid_file) {
        if (evf_process_write_pidfile(c->pid_file) < 0)
            goto out;
        pid_written = true;
    }
    /*
     * Root-only work is done (listeners, log files, pid file): the serving
     * processes take the configured user.  The master keeps root, as
     * nginx's does, to remove the pid file and the sockets at stop and to
     * create log files on USR1; it runs no request.  A single process
     * (workers = 0) drops here.
     */
    if (c->set.workers == 0 && evf_process_become_user() < 0)
        goto out;
    for (size_t i = 0; i < c->nlisten; i++)
        evf_log_notice("listening on %s", c->listen[i]);
    if (!c->nlisten)
        evf_log_notice("listening on the socket inherited on fd 0");

    if (c->set.workers > 0)
        rc = evf_master_run(&gen, fds, nfds, argc, argv, builtin);
    else
        rc = evf_worker_run(fds, nfds, c->grace, -1);
    c = evf_gen_conf(gen);
out:
    /* What we made goes, whether we served or failed to start. */
    evf_process_unlink_sockets(c, nbound);
    if (pid_written)
        unlink(c->pid_file);
    evf_apps_free();
    evf_builtin_free();
    evf_docs_free();
    evf_gen_free(gen);
    evf_access_close();
    evf_coro_pool_destroy();
    return rc;
}
