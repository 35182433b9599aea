/*
 * conn_int.h: the connection's layout, private to the connection layer:
 * conn.c (records, the request table, output) and conn_timeout.c
 * (idle_timeout, request_timeout).  Nothing else includes it.
 */
#ifndef EVF_CONN_INT_H
#define EVF_CONN_INT_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "conn.h"
#include "fcgi_parser.h"
#include "request.h"
#include "turns.h"

#define SMALL_IDS 8

struct evf_conn {
    ev_io rio;
    ev_io wio;
    int fd;
    unsigned long id;
    unsigned holds;         /* runs of user code under way */
    bool gone;              /* peer gone or I/O error: no more output */
    bool closing;           /* read nothing more; close once flushed */
    evf_fcgi_parser_t parser;
    evf_buf_t out;
    evf_buf_t mgmt;         /* content of the current management record */
    evf_req *small[SMALL_IDS];  /* request ids 1..8: nginx and Apache use 1 */
    evf_req ***pages;           /* other ids: pages[id >> 8][id & 255] */
    unsigned nreqs;
    uint64_t ended_low;         /* ids below LOW_IDS that ended */
    uint64_t *ended_high;       /* ID_WORDS words, for the other ids */
    evf_req *drain_waiters;
    evf_conn_t *prev, *next;
    ev_tstamp active;           /* bytes moved or a request finished */
    ev_tstamp partial;          /* a record began; 0: between records */
    ev_tstamp intake;           /* <= oldest BEGIN still receiving; 0: none */
    evf_conn_t *next_dirty;     /* on the flush list: output waits */
    bool queued;                /* on the flush list */
    evf_turn_t turn;            /* readable, waiting its turn unread */
};

/* conn.c, for conn_timeout.c. */

/* This thread's first connection (the others follow through next). */
evf_conn_t *evf__conn_first(void);
/* The request open on c with this id, or NULL. */
evf_req *evf__conn_lookup(evf_conn_t *c, uint16_t id);
/* Log why, close c and cancel its requests (may destroy c). */
void evf__conn_expire(evf_conn_t *c, const char *why);

/* conn_timeout.c, for conn.c: the sweep runs while connections exist. */
void evf__conn_sweep_start(struct ev_loop *loop);
void evf__conn_sweep_stop(struct ev_loop *loop);

#endif
