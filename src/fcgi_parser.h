/*
 * fcgi_parser: FastCGI 1.0 record parser, pure and resumable.
 *
 * Bytes in, events out.  The parser owns no buffer: it is fed whatever the
 * socket gave, in pieces of any size, and reports one event at a time.
 * Content events point into the caller's buffer and are valid only until
 * the caller reuses it.  It allocates nothing, does no I/O, and knows
 * nothing of requests: whether a request id is known, or a stream is in
 * the right order, is the connection layer's business.  What it checks is
 * what a record alone can show: the version byte, and the content length
 * of records whose length the spec fixes (BEGIN_REQUEST, ABORT_REQUEST).
 *
 * A zero-filled evf_fcgi_parser_t is ready to use.
 */
#ifndef EVF_FCGI_PARSER_H
#define EVF_FCGI_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum evf_fcgi_ev_kind {
    EVF_FCGI_EV_NONE = 0,   /* input used up; feed more */
    EVF_FCGI_EV_BEGIN,      /* BEGIN_REQUEST: role, flags */
    EVF_FCGI_EV_ABORT,      /* ABORT_REQUEST */
    EVF_FCGI_EV_CONTENT     /* a piece of any other record's content */
};

/* Protocol errors (negative returns of evf_fcgi_parse). */
#define EVF_FCGI_EVERSION   (-1001)     /* version byte is not 1 */
#define EVF_FCGI_ELENGTH    (-1002)     /* content length the spec forbids */
#define EVF_FCGI_EREQID     (-1003)     /* BEGIN/ABORT on request id 0 */

typedef struct evf_fcgi_event {
    int kind;               /* enum evf_fcgi_ev_kind */
    uint8_t type;           /* record type, FCGI_* */
    uint16_t request_id;
    uint16_t role;          /* BEGIN */
    uint8_t flags;          /* BEGIN */
    /*
     * CONTENT: data/len is the next piece of the record's content (len may
     * be 0 for an empty record).  first: it is the record's first piece;
     * last: the record's content ends with it.  content_length is the
     * record's whole content length.
     */
    const uint8_t *data;
    size_t len;
    bool first, last;
    uint16_t content_length;
} evf_fcgi_event_t;

typedef struct evf_fcgi_parser {
    /* private */
    uint8_t state;
    uint8_t have;           /* header or BEGIN body bytes gathered */
    uint8_t hdr[8];
    uint8_t body[8];
    uint8_t type;
    uint8_t padding;
    uint16_t request_id;
    uint16_t content_length;
    uint16_t remaining;     /* content bytes still to come */
    uint8_t skip;           /* padding bytes still to come */
    bool started;           /* first content piece already reported */
} evf_fcgi_parser_t;

/*
 * Parse from buf[0..len).  Returns the number of bytes consumed (0..len) and
 * fills *ev; ev->kind is EVF_FCGI_EV_NONE when everything was consumed
 * without completing an event.  Call again with the rest of the buffer
 * after each event.  Returns a negative EVF_FCGI_E* on a protocol error,
 * after which the parser must not be used again (close the connection).
 */
ssize_t evf_fcgi_parse(evf_fcgi_parser_t *p, const uint8_t *buf, size_t len,
                       evf_fcgi_event_t *ev);

/* True between records (no part of a record gathered yet). */
bool evf_fcgi_parser_idle(const evf_fcgi_parser_t *p);

/* A short description of a negative result, for the log. */
const char *evf_fcgi_strerror(int err);

#endif
