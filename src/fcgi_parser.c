/*
 * fcgi_parser: FastCGI 1.0 record parser (see fcgi_parser.h).
 *
 * The state machine has four states: reading the 8-byte header, reading the
 * 8-byte BEGIN_REQUEST body, passing content through, and skipping padding.
 * Header and BEGIN body are the only bytes it copies (into the fixed arrays
 * of the state struct), so a record split anywhere costs nothing extra and
 * no claimed length ever sizes an allocation.
 */
#include "config.h"

#include <fastcgi.h>
#include <string.h>

#include "fcgi_parser.h"

enum { ST_HEADER = 0, ST_BEGIN_BODY, ST_CONTENT, ST_PADDING };

static void
after_content(evf_fcgi_parser_t *p)
{
    p->skip = p->padding;
    p->state = p->skip ? ST_PADDING : ST_HEADER;
    p->have = 0;
}

/*
 * A complete header was gathered: validate what a header alone can show
 * and choose the next state.  Returns 0, or a negative EVF_FCGI_E*.
 */
static int
on_header(evf_fcgi_parser_t *p)
{
    const uint8_t *h = p->hdr;

    if (h[0] != FCGI_VERSION_1)
        return EVF_FCGI_EVERSION;
    p->type = h[1];
    p->request_id = (uint16_t)(h[2] << 8 | h[3]);
    p->content_length = (uint16_t)(h[4] << 8 | h[5]);
    p->padding = h[6];
    p->remaining = p->content_length;
    p->started = false;
    p->have = 0;

    switch (p->type) {
    case FCGI_BEGIN_REQUEST:
        if (p->content_length != sizeof(FCGI_BeginRequestBody))
            return EVF_FCGI_ELENGTH;
        if (p->request_id == FCGI_NULL_REQUEST_ID)
            return EVF_FCGI_EREQID;
        p->state = ST_BEGIN_BODY;
        return 0;
    case FCGI_ABORT_REQUEST:
        if (p->content_length != 0)
            return EVF_FCGI_ELENGTH;
        if (p->request_id == FCGI_NULL_REQUEST_ID)
            return EVF_FCGI_EREQID;
        return 0;
    default:
        p->state = ST_CONTENT;
        return 0;
    }
}

ssize_t
evf_fcgi_parse(evf_fcgi_parser_t *p, const uint8_t *buf, size_t len,
               evf_fcgi_event_t *ev)
{
    size_t pos = 0;

    ev->kind = EVF_FCGI_EV_NONE;
    for (;;) {
        switch (p->state) {
        case ST_HEADER: {
            size_t n = sizeof(p->hdr) - p->have;
            if (n > len - pos)
                n = len - pos;
            memcpy(p->hdr + p->have, buf + pos, n);
            p->have += (uint8_t)n;
            pos += n;
            if (p->have < sizeof(p->hdr))
                return (ssize_t)pos;
            int rc = on_header(p);
            if (rc < 0)
                return rc;
            if (p->type == FCGI_ABORT_REQUEST) {
                ev->kind = EVF_FCGI_EV_ABORT;
                ev->type = p->type;
                ev->request_id = p->request_id;
                after_content(p);
                return (ssize_t)pos;
            }
            /* An empty record is reported at once: it ends a stream. */
            if (p->state == ST_CONTENT && p->content_length == 0) {
                ev->kind = EVF_FCGI_EV_CONTENT;
                ev->type = p->type;
                ev->request_id = p->request_id;
                ev->data = buf + pos;
                ev->len = 0;
                ev->first = ev->last = true;
                ev->content_length = 0;
                after_content(p);
                return (ssize_t)pos;
            }
            break;
        }
        case ST_BEGIN_BODY: {
            size_t n = sizeof(p->body) - p->have;
            if (n > len - pos)
                n = len - pos;
            memcpy(p->body + p->have, buf + pos, n);
            p->have += (uint8_t)n;
            pos += n;
            if (p->have < sizeof(p->body))
                return (ssize_t)pos;
            ev->kind = EVF_FCGI_EV_BEGIN;
            ev->type = p->type;
            ev->request_id = p->request_id;
            ev->role = (uint16_t)(p->body[0] << 8 | p->body[1]);
            ev->flags = p->body[2];
            after_content(p);
            return (ssize_t)pos;
        }
        case ST_CONTENT: {
            if (pos == len)
                return (ssize_t)pos;
            size_t n = p->remaining;
            if (n > len - pos)
                n = len - pos;
            ev->kind = EVF_FCGI_EV_CONTENT;
            ev->type = p->type;
            ev->request_id = p->request_id;
            ev->data = buf + pos;
            ev->len = n;
            ev->first = !p->started;
            ev->content_length = p->content_length;
            p->started = true;
            p->remaining -= (uint16_t)n;
            pos += n;
            ev->last = p->remaining == 0;
            if (ev->last)
                after_content(p);
            return (ssize_t)pos;
        }
        case ST_PADDING: {
            size_t n = p->skip;
            if (n > len - pos)
                n = len - pos;
            p->skip -= (uint8_t)n;
            pos += n;
            if (p->skip)
                return (ssize_t)pos;
            p->state = ST_HEADER;
            p->have = 0;
            break;
        }
        }
        if (pos == len && p->state == ST_HEADER)
            return (ssize_t)pos;
    }
}

const char *
evf_fcgi_strerror(int err)
{
    switch (err) {
    case EVF_FCGI_EVERSION:
        return "unsupported FastCGI version";
    case EVF_FCGI_ELENGTH:
        return "record content length not allowed for its type";
    case EVF_FCGI_EREQID:
        return "request record on the management request id 0";
    default:
        return "unknown FastCGI protocol error";
    }
}

bool
evf_fcgi_parser_idle(const evf_fcgi_parser_t *p)
{
    return p->state == ST_HEADER && p->have == 0;
}
