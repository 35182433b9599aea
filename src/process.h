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
#include <sys/types.h>

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

/*
 * After binding, as root: chown unix sockets (listen.owner, listen.group),
 * find c->user and c->group (group without user is refused) and give the
 * log files to that user.  The process keeps its identity: the master
 * stays root (to write and remove the pid file and the sockets, and to
 * create log files on USR1); the serving processes call
 * evf_process_become_user() once forked.  0, or -1 after logging why.
 */
int evf_process_prepare_user(const evf_config_t *c);

/* Become the user found by evf_process_prepare_user (if any).  0 or -1. */
int evf_process_become_user(void);

/*
 * chown c's log files to the serving user (when started as root with
 * user set): after they are opened, and after the master reopens them on
 * USR1, so the workers can reopen them too.
 */
void evf_process_give_logs(const evf_config_t *c);

/* USR1: reopen the error and access logs; log any failure. */
void evf_process_reopen_logs(void);

/*
 * A worker whose master died (SIGKILL): remove the pid file written by
 * evf_process_write_pidfile() if it still names the master; logs when it
 * cannot.
 */
void evf_process_master_gone(pid_t master);

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
