/*
 * server: listening sockets and accepting connections.
 *
 * Parses listen addresses (HOST:PORT, [V6]:PORT, unix:/path), binds them,
 * detects a listening socket inherited on fd 0 (spawn-fcgi), and accepts
 * connections on the thread's loop, pausing when at the connection limit
 * or out of file descriptors.
 */
#ifndef EVF_SERVER_H
#define EVF_SERVER_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Bind and listen on addr.  unix sockets get mode (e.g. 0660).  Returns the
 * descriptor, or -1 with a message in err.
 */
int evf_listen(const char *addr, int backlog, unsigned mode, char *err,
               size_t errlen);

/* Check addr's form and that its host resolves, without binding. */
int evf_listen_check(const char *addr, char *err, size_t errlen);

/* True when fd 0 is a listening socket (as spawn-fcgi hands it over). */
bool evf_listen_inherited(void);

/*
 * Accept TCP connections only from these addresses (space or comma
 * separated, as FCGI_WEB_SERVER_ADDRS); NULL or an empty list: from any.
 * Replaces the list in force, only when all of list parses.  Set before
 * the workers fork (they inherit it).  0, or -1 with a message.
 */
int evf_server_allow(const char *list, char *err, size_t errlen);

/* Check list as evf_server_allow would, changing nothing.  0 or -1. */
int evf_server_allow_check(const char *list, char *err, size_t errlen);

/* Start accepting on fd (made non-blocking) on this thread's loop. */
int evf_server_add(int fd);

/* Stop accepting (graceful stop); the sockets stay open. */
void evf_server_pause(void);

/* Stop accepting and free the watchers; close the sockets if close_fds. */
void evf_server_stop(bool close_fds);

/*
 * True when path is still the socket file this process bound (same device
 * and inode): what may be unlinked at exit without removing another
 * instance's socket.
 */
bool evf_listen_unix_ours(const char *path);

#endif
