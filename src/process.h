/*
 * process: setting up the daemon's process, before it serves.
 *
 * Detaching from the terminal, the pid file, the open-files limit,
 * handing unix sockets over and dropping privileges, the checks of
 * `evfcgid -t` (what a start would otherwise find out too late), and
 * removing the files a start made.  Main thread only, before the master
 * or the worker runs (cleanup: after).
 */
#ifndef EVF_PROCESS_H
#define EVF_PROCESS_H

#include <stddef.h>

#include "conf.h"

/*
 * Fork to the background, start a session, chdir /, stdin/out/err to
 * /dev/null.  Listeners on fds 0-2 move to higher numbers (fds updated).
 * Returns 0 (in the child), or -1 with errno.
 */
int evf_process_detach(int *fds, size_t nfds);

/* Write our pid to path.  0, or -1 after logging why. */
int evf_process_write_pidfile(const char *path);

/*
 * Set the open-files limit (want; 0: raise the soft limit to the hard),
 * then evf_process_limit_conns().
 */
void evf_process_set_nofile(unsigned long want);

/* Lower evf_settings.max_conns to what the open-files limit allows. */
void evf_process_limit_conns(void);

/* After binding: chown unix sockets, then become c->user.  0 or -1. */
int evf_process_drop_privileges(const evf_config_t *c);

/*
 * `evfcgid -t`: what can be checked without binding or changing anything
 * (addresses, users and groups, the directories of the log files, the
 * pid file and the unix sockets).  0, or -1 after logging the first
 * problem.
 */
int evf_process_check(const evf_config_t *c);

/* Remove the unix socket files of c's listen addresses. */
void evf_process_unlink_sockets(const evf_config_t *c, size_t n);

#endif
