/*
 * conn: one FastCGI connection from the web server.
 *
 * Owns the socket, its read and write watchers, the record parser state,
 * the output queue (with backpressure: a stream writer waits above the
 * high-water mark) and the table of requests open on it, keyed by request
 * id.  Feeds parser events to requests and answers management records.
 *
 * Connections are closed in a deferred step: anything that may run user
 * code holds the connection, and it is destroyed only when the last hold
 * is released (so no callback ever returns into freed memory).
 */
#ifndef EVF_CONN_H
#define EVF_CONN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct evf_conn evf_conn_t;

/* Adopt a connected, non-blocking socket and start reading it. */
evf_conn_t *evf_conn_new(int fd);

/* Connections open on this thread. */
size_t evf_conn_count(void);

/* Called (if set) each time a connection is destroyed. */
void evf_conn_on_close(void (*cb)(void));

/*
 * Graceful stop: connections with no open request are closed now, the
 * others once their requests are done (no new request is read).
 */
void evf_conn_drain_all(void);
/* Write what every connection has buffered, without blocking (the rest
 * goes out as the sockets drain); true when nothing is left to write. */
bool evf_conn_flush_all(void);

/* Fast stop: every connection is closed and its requests cancelled. */
void evf_conn_close_all(void);

/*
 * Bytes read from all connections per loop iteration, at most (plus one
 * read of 64 KiB); 0 restores the default (64 KiB).  For tests.
 */
void evf_conn_set_read_budget(size_t bytes);

#endif
