/*
 * fcgi_conn.h: one FastCGI connection of the raw test client
 * (fcgi_client.c), driven by poll: queued output written while waiting,
 * whole records handed out one at a time (next_record), and the checks on
 * the records of one request (resp_rec, resp_ok, wait_end).  Every wait is
 * bounded by the caller's timeout.  Included by fcgi_client.c only, after
 * tests/common/fcgi_req.h.
 */
#ifndef EVF_TESTS_FCGI_CONN_H
#define EVF_TESTS_FCGI_CONN_H

/* ---- one connection driven by poll ---- */

struct conn {
    int fd;
    struct fw_buf out;         /* bytes queued for the server */
    size_t out_off;         /* how many of them are written */
    uint8_t *in;            /* INCAP bytes */
    size_t in_len;
    size_t in_off;          /* consumed prefix of in */
    int eof;                /* server closed or reset the connection */
    int rerr;               /* errno of the failing read, 0 on clean EOF */
    int werr;               /* errno of a failed write; output dropped */
};

static int
conn_open(struct conn *c, const char *addr, int timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->fd = sock_open(addr, timeout_ms);
    if (c->fd < 0)
        return -1;
    c->in = xrealloc(NULL, INCAP);
    return 0;
}

static void
conn_close(struct conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->in);
    free(c->out.p);
}

static void
conn_write(struct conn *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out_off,
                         c->out.len - c->out_off, MSG_NOSIGNAL);

        if (n > 0) {
            c->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            /* Keep reading: the server may have answered before closing. */
            c->werr = n < 0 ? errno : EPIPE;
            break;
        }
    }
    c->out.len = 0;
    c->out_off = 0;
}

static void
conn_read(struct conn *c)
{
    ssize_t n;

    if (c->in_off > 0) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    if (c->in_len == INCAP)
        return;
    do
        n = read(c->fd, c->in + c->in_len, INCAP - c->in_len);
    while (n < 0 && errno == EINTR);
    if (n > 0) {
        c->in_len += (size_t)n;
    } else if (n == 0) {
        c->eof = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        c->eof = 1;
        c->rerr = errno;
    }
}

/*
 * One poll round: writes queued output and reads what arrived.  Returns 1
 * if the socket was ready, 0 on timeout, -1 if there is nothing to wait
 * for (EOF and no output) or poll failed.
 */
static int
conn_io(struct conn *c, int timeout_ms)
{
    struct pollfd pfd;
    int n;

    pfd.fd = c->fd;
    pfd.events = 0;
    if (!c->eof && c->in_len - c->in_off < INCAP)
        pfd.events |= POLLIN;
    if (c->out_off < c->out.len)
        pfd.events |= POLLOUT;
    if (pfd.events == 0)
        return -1;
    do
        n = poll(&pfd, 1, timeout_ms);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        msg("poll: %s", strerror(errno));
        return -1;
    }
    if (n == 0)
        return 0;
    if ((pfd.revents & (POLLOUT | POLLERR | POLLHUP)) &&
        (pfd.events & POLLOUT))
        conn_write(c);
    if ((pfd.revents & (POLLIN | POLLERR | POLLHUP)) &&
        (pfd.events & POLLIN))
        conn_read(c);
    return 1;
}

/* Writes all queued output.  Returns 1 when done, 0 on timeout, -1 on
 * write error (c->werr). */
static int
conn_flush(struct conn *c, int timeout_ms)
{
    while (c->out_off < c->out.len) {
        int n = conn_io(c, timeout_ms);

        if (n == 0)
            return 0;
        if (n < 0)
            return -1;
    }
    return c->werr ? -1 : 1;
}

/*
 * Returns the next complete record (version checked) with its content in
 * *content, valid until the next call; keeps writing queued output while
 * waiting.  Returns 1, 0 on EOF at a record boundary, -1 on error
 * (reported) and -2 if nothing happened for timeout_ms.
 */
static int
next_record(struct conn *c, struct fw_rec *r, const uint8_t **content,
            int timeout_ms)
{
    for (;;) {
        size_t avail = c->in_len - c->in_off;
        int n;

        if (avail >= FCGI_HEADER_LEN) {
            fw_hdr_get(c->in + c->in_off, r);
            if (r->ver != FCGI_VERSION_1) {
                msg("record with version %d (type %d, id %u)", r->ver,
                    r->type, r->id);
                return -1;
            }
            if (avail >= FCGI_HEADER_LEN + r->clen + r->plen) {
                *content = c->in + c->in_off + FCGI_HEADER_LEN;
                c->in_off += FCGI_HEADER_LEN + r->clen + r->plen;
                return 1;
            }
        }
        if (c->eof) {
            if (avail > 0) {
                msg("connection closed inside a record (%zu bytes left)",
                    avail);
                return -1;
            }
            return 0;
        }
        n = conn_io(c, timeout_ms);
        if (n == 0)
            return -2;
        if (n < 0)
            return -1;
    }
}

/* Reports why next_record() returned n <= 0 and returns -1. */
static int
rec_fail(const struct conn *c, int n, int timeout_ms, const char *what)
{
    if (n == -2)
        msg("timed out after %.3g s waiting for %s", timeout_ms / 1000.0,
            what);
    else if (n == 0)
        msg("server closed the connection before %s%s%s", what,
            c->rerr ? ": " : "", c->rerr ? strerror(c->rerr) : "");
    if (n >= -2 && n <= 0 && c->werr)
        msg("(an earlier write failed: %s)", strerror(c->werr));
    return -1;
}


/* ---- response of one request ---- */

#define RS_OUT_CLOSED 0x01  /* empty STDOUT record seen */
#define RS_ERR_CLOSED 0x02  /* empty STDERR record seen */
#define RS_ENDED      0x04

struct resp {
    struct hscan hs;
    uint64_t out_bytes;
    uint32_t app_status;
    int pstatus;
    uint8_t flags;
};

/*
 * Applies one server record for this request: STDOUT data goes to the
 * header scanner and, if out is not NULL, verbatim to out; STDERR data to
 * err if not NULL.  Returns 1 after END_REQUEST, 0 to go on, -1 on a
 * protocol error (reported).
 */
static int
resp_rec(struct resp *rs, const struct fw_rec *r, const uint8_t *p, FILE *out,
         FILE *err)
{
    switch (r->type) {
    case FCGI_STDOUT:
    case FCGI_STDERR: {
        int out_p = r->type == FCGI_STDOUT;
        uint8_t closed = out_p ? RS_OUT_CLOSED : RS_ERR_CLOSED;
        FILE *f = out_p ? out : err;

        if (rs->flags & closed) {
            msg("request %u: %s record after the stream's end", r->id,
                out_p ? "STDOUT" : "STDERR");
            return -1;
        }
        if (r->clen == 0) {
            rs->flags |= closed;
            return 0;
        }
        if (out_p) {
            rs->out_bytes += r->clen;
            hs_feed(&rs->hs, p, r->clen);
        }
        if (f != NULL && fwrite(p, 1, r->clen, f) != r->clen) {
            msg("writing output: %s", strerror(errno));
            return -1;
        }
        return 0;
    }
    case FCGI_END_REQUEST:
        if (r->clen != 8) {
            msg("request %u: END_REQUEST with content length %zu, not 8",
                r->id, r->clen);
            return -1;
        }
        rs->app_status = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
                         (uint32_t)p[2] << 8 | p[3];
        rs->pstatus = p[4];
        rs->flags |= RS_ENDED;
        return 1;
    }
    msg("request %u: unexpected record type %d", r->id, r->type);
    return -1;
}

/*
 * Checks an ended request: STDOUT terminated, REQUEST_COMPLETE and, if
 * need_hdr, a well-formed CGI header block.  Returns 0 or -1 (reported).
 */
static int
resp_ok(const struct resp *rs, unsigned id, int need_hdr)
{
    /* A rejected request (CANT_MPX_CONN etc.) has no stream to check. */
    if (rs->pstatus != FCGI_REQUEST_COMPLETE) {
        msg("request %u: protocolStatus %d (%s), appStatus %" PRIu32, id,
            rs->pstatus, fw_pstatus_name(rs->pstatus), rs->app_status);
        return -1;
    }
    if (!(rs->flags & RS_OUT_CLOSED)) {
        msg("request %u: END_REQUEST before the empty STDOUT record", id);
        return -1;
    }
    if (need_hdr && (rs->hs.flags & (HS_DONE | HS_BAD)) != HS_DONE) {
        msg("request %u: malformed or unterminated CGI header block", id);
        return -1;
    }
    return 0;
}

/* Reads records until END_REQUEST for id; other ids are errors. */
static int
wait_end(struct conn *c, unsigned id, struct resp *rs, FILE *out,
         int timeout_ms)
{
    for (;;) {
        struct fw_rec r;
        const uint8_t *p;
        int n = next_record(c, &r, &p, timeout_ms);

        if (n <= 0)
            return rec_fail(c, n, timeout_ms, "END_REQUEST");
        if (r.id != id) {
            msg("record type %d for request id %u, expected id %u", r.type,
                r.id, id);
            return -1;
        }
        n = resp_rec(rs, &r, p, out, stderr);
        if (n != 0)
            return n < 0 ? -1 : 0;
    }
}

#endif
