/*
 * fcgi_client.c -- raw FastCGI client for evfcgi tests and benchmarks.
 *
 * Talks FastCGI straight to evfcgid, with no web server in between, so the
 * test suite can exercise protocol corner cases (multiplexing, aborts,
 * malformed input) and benchmarks can keep many requests in flight on a
 * few connections.  Depends only on libc and the wire constants of
 * <fastcgi.h>; every record is encoded and decoded byte by byte here,
 * never by laying a struct over a buffer.
 *
 * Subcommands: request, get-values, unknown-type, multiplex, abort,
 * garbage, load (see usage() and tests/tools/README).  Results go to
 * stdout, diagnostics to stderr.  Exit status: 0 success, 1 assertion or
 * protocol failure (including timeouts), 2 usage, connect or local error.
 * Every wait for the server is bounded by poll() with the -t timeout
 * (default 10 s): a silent server fails a test instead of hanging it.  The
 * only deliberate idle wait is load --hold, which ends on a signal, after
 * -d seconds, or when the server closes a connection.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <fastcgi.h>

#define RC_OK       0       /* success */
#define RC_FAIL     1       /* assertion or protocol failure, timeout */
#define RC_USAGE    2       /* usage, connect or local resource error */

/* Input buffer size; must exceed the largest record (8 + 65535 + 255). */
#define INCAP       (256 * 1024)

static const char *prog = "fcgi-client";

struct opts {
    int timeout_ms;         /* -t: bound on every wait */
    uint64_t seed;          /* -s: PRNG seed for garbage random */
    int keep;               /* -k: FCGI_KEEP_CONN on request */
    int summary;            /* -r: print status=/bytes= instead of body */
    int hold;               /* --hold (load) */
    const char *body;       /* -b: body file, "-" for stdin */
    const char *nopt;       /* -n: next URI (abort) or PENDING (load) */
    const char *method;     /* -m: method for multiplex and load */
    long conns;             /* -c (load) */
    double duration;        /* -d (load), < 0 when not given */
    long long total;        /* -N (load), 0 when not given */
    char **hdrs;            /* -H 'Name: value' */
    int nhdrs;
    char **params;          /* -p NAME=VALUE */
    int nparams;
    char **pos;             /* positional arguments, pos[0] = subcommand */
    int npos;
};

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
msg(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        msg("out of memory");
        exit(RC_USAGE);
    }
    return p;
}

static int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Parses a whole decimal integer in [lo, hi]; returns 0 or -1. */
static int
num(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* ---- growable byte buffer ---- */

struct buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

/* Ensures room for n more bytes and returns where they go. */
static uint8_t *
buf_room(struct buf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;

        while (cap - b->len < n)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    return b->p + b->len;
}

static void
buf_add(struct buf *b, const void *d, size_t n)
{
    if (n > 0) {
        memcpy(buf_room(b, n), d, n);
        b->len += n;
    }
}

/* ---- FastCGI wire format ---- */

struct rec {
    int ver;
    int type;
    unsigned id;
    size_t clen;
    size_t plen;
};

static void
hdr_put(uint8_t *p, int ver, int type, unsigned id, size_t clen, size_t plen)
{
    p[0] = (uint8_t)ver;
    p[1] = (uint8_t)type;
    p[2] = (uint8_t)(id >> 8);
    p[3] = (uint8_t)id;
    p[4] = (uint8_t)(clen >> 8);
    p[5] = (uint8_t)clen;
    p[6] = (uint8_t)plen;
    p[7] = 0;
}

static void
hdr_get(const uint8_t *p, struct rec *r)
{
    r->ver = p[0];
    r->type = p[1];
    r->id = (unsigned)p[2] << 8 | p[3];
    r->clen = (size_t)p[4] << 8 | p[5];
    r->plen = p[6];
}

/* Padding that brings a content length to a multiple of 8, as nginx does. */
static size_t
pad8(size_t n)
{
    return (8 - (n & 7)) & 7;
}

/* Appends one record.  Contract: n <= FCGI_MAX_LENGTH, pad <= 255. */
static void
rec_add(struct buf *b, int type, unsigned id, const void *d, size_t n,
        size_t pad)
{
    uint8_t *p = buf_room(b, FCGI_HEADER_LEN + n + pad);

    hdr_put(p, FCGI_VERSION_1, type, id, n, pad);
    if (n > 0)
        memcpy(p + FCGI_HEADER_LEN, d, n);
    memset(p + FCGI_HEADER_LEN + n, 0, pad);
    b->len += FCGI_HEADER_LEN + n + pad;
}

/* Appends stream data as records of at most 65535 bytes; no terminator. */
static void
stream_add(struct buf *b, int type, unsigned id, const uint8_t *d, size_t n)
{
    while (n > 0) {
        size_t k = n < FCGI_MAX_LENGTH ? n : FCGI_MAX_LENGTH;

        rec_add(b, type, id, d, k, pad8(k));
        d += k;
        n -= k;
    }
}

static void
begin_add(struct buf *b, unsigned id, int role, int flags)
{
    uint8_t body[8] = { 0 };

    body[0] = (uint8_t)(role >> 8);
    body[1] = (uint8_t)role;
    body[2] = (uint8_t)flags;
    rec_add(b, FCGI_BEGIN_REQUEST, id, body, sizeof body, 0);
}

/* Name-value lengths: one byte below 128, else four with the top bit set. */
static uint8_t *
nv_putlen(uint8_t *p, size_t n)
{
    if (n < 128) {
        *p++ = (uint8_t)n;
        return p;
    }
    *p++ = (uint8_t)(n >> 24 | 0x80);
    *p++ = (uint8_t)(n >> 16);
    *p++ = (uint8_t)(n >> 8);
    *p++ = (uint8_t)n;
    return p;
}

static void
nv_add(struct buf *b, const char *name, size_t nl, const char *val, size_t vl)
{
    uint8_t *p = buf_room(b, 8 + nl + vl), *q;

    q = nv_putlen(p, nl);
    q = nv_putlen(q, vl);
    memcpy(q, name, nl);
    q += nl;
    if (vl > 0)
        memcpy(q, val, vl);
    q += vl;
    b->len += (size_t)(q - p);
}

static int
nv_getlen(const uint8_t *p, size_t len, size_t *off, size_t *out)
{
    if (*off >= len)
        return -1;
    if (p[*off] < 128) {
        *out = p[(*off)++];
        return 0;
    }
    if (len - *off < 4)
        return -1;
    *out = (size_t)(p[*off] & 0x7f) << 24 | (size_t)p[*off + 1] << 16 |
           (size_t)p[*off + 2] << 8 | p[*off + 3];
    *off += 4;
    return 0;
}

/*
 * Decodes the pair at *off within p[0..len).  Returns 1 and advances *off,
 * 0 at the end of the data, -1 if the pair is truncated.
 */
static int
nv_get(const uint8_t *p, size_t len, size_t *off, const uint8_t **name,
       size_t *nl, const uint8_t **val, size_t *vl)
{
    if (*off == len)
        return 0;
    if (nv_getlen(p, len, off, nl) < 0 || nv_getlen(p, len, off, vl) < 0)
        return -1;
    if (*nl > len - *off || *vl > len - *off - *nl)
        return -1;
    *name = p + *off;
    *val = p + *off + *nl;
    *off += *nl + *vl;
    return 1;
}

static const char *
pstatus_name(int s)
{
    switch (s) {
    case FCGI_REQUEST_COMPLETE:
        return "REQUEST_COMPLETE";
    case FCGI_CANT_MPX_CONN:
        return "CANT_MPX_CONN";
    case FCGI_OVERLOADED:
        return "OVERLOADED";
    case FCGI_UNKNOWN_ROLE:
        return "UNKNOWN_ROLE";
    }
    return "unknown";
}

/* ---- connecting ---- */

union addr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
};

/* Fills a from HOST:PORT, [V6]:PORT or unix:/path; returns length or 0. */
static socklen_t
addr_parse(const char *s, union addr *a)
{
    char host[256];
    const char *colon;
    size_t hl;
    long long port;

    memset(a, 0, sizeof *a);
    if (strncmp(s, "unix:", 5) == 0) {
        if (s[5] == '\0' || strlen(s + 5) >= sizeof a->un.sun_path)
            return 0;
        a->un.sun_family = AF_UNIX;
        strcpy(a->un.sun_path, s + 5);
        return sizeof a->un;
    }
    if (s[0] == '[') {
        const char *rb = strchr(s, ']');

        if (rb == NULL || rb[1] != ':')
            return 0;
        hl = (size_t)(rb - s - 1);
        colon = rb + 1;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL)
            return 0;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= sizeof host || num(colon + 1, 1, 65535, &port) < 0)
        return 0;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (s[-1] == '[') {
        a->in6.sin6_family = AF_INET6;
        a->in6.sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->in6.sin6_addr) != 1)
            return 0;
        return sizeof a->in6;
    }
    a->in.sin_family = AF_INET;
    a->in.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a->in.sin_addr) != 1) {
        struct addrinfo hints, *res;

        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        if (getaddrinfo(host, NULL, &hints, &res) != 0)
            return 0;
        a->in.sin_addr = ((struct sockaddr_in *)res->ai_addr)->sin_addr;
        freeaddrinfo(res);
    }
    return sizeof a->in;
}

/* Returns a connected non-blocking socket, or -1 after reporting why. */
static int
sock_open(const char *addr, int timeout_ms)
{
    union addr a;
    socklen_t sl = addr_parse(addr, &a);
    struct pollfd pfd;
    int fd, err = 0, one = 1;
    socklen_t el = sizeof err;

    if (sl == 0) {
        msg("bad address '%s' (want HOST:PORT, [V6]:PORT or unix:/path)",
            addr);
        return -1;
    }
    fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                0);
    if (fd < 0) {
        msg("socket: %s", strerror(errno));
        return -1;
    }
    if (connect(fd, &a.sa, sl) < 0) {
        if (errno != EINPROGRESS) {
            err = errno;
        } else {
            pfd.fd = fd;
            pfd.events = POLLOUT;
            if (poll(&pfd, 1, timeout_ms) <= 0)
                err = ETIMEDOUT;
            else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
                err = errno;
        }
    }
    if (err != 0) {
        msg("connect %s: %s", addr, strerror(err));
        close(fd);
        return -1;
    }
    if (a.sa.sa_family != AF_UNIX)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* ---- one connection driven by poll (all subcommands but load) ---- */

struct conn {
    int fd;
    struct buf out;         /* bytes queued for the server */
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
next_record(struct conn *c, struct rec *r, const uint8_t **content,
            int timeout_ms)
{
    for (;;) {
        size_t avail = c->in_len - c->in_off;
        int n;

        if (avail >= FCGI_HEADER_LEN) {
            hdr_get(c->in + c->in_off, r);
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

/* ---- CGI response header scanning ---- */

#define HS_DONE     0x01    /* blank line seen; later bytes are body */
#define HS_STATUS   0x02
#define HS_CTYPE    0x04
#define HS_LOCATION 0x08
#define HS_BAD      0x10    /* malformed header block; scanning stopped */

#define HS_LINECAP  24      /* enough for "Content-Type:", "Status: NNN" */
#define HS_MAXHDR   (1024 * 1024)

/*
 * Incremental scanner for the CGI header block of a STDOUT stream.  Small
 * on purpose (load keeps one per request in flight): only the first
 * HS_LINECAP bytes of each line are kept, which is all that's inspected.
 */
struct hscan {
    uint64_t body;          /* bytes after the header block */
    uint32_t hbytes;        /* bytes of header block seen */
    uint32_t llen;          /* length of the current line so far */
    uint16_t status;
    uint8_t flags;
    char line[HS_LINECAP];
};

static int
hs_is(const struct hscan *h, const char *name)
{
    size_t n = strlen(name);

    return h->llen >= n && strncasecmp(h->line, name, n) == 0;
}

static void
hs_line(struct hscan *h)
{
    size_t have = h->llen < HS_LINECAP ? h->llen : HS_LINECAP;

    if (hs_is(h, "status:")) {
        size_t i = 7;

        while (i < have && (h->line[i] == ' ' || h->line[i] == '\t'))
            i++;
        if (i + 3 > have || !isdigit((unsigned char)h->line[i]) ||
            !isdigit((unsigned char)h->line[i + 1]) ||
            !isdigit((unsigned char)h->line[i + 2]) ||
            (i + 3 < have && isdigit((unsigned char)h->line[i + 3]))) {
            h->flags |= HS_BAD;
            return;
        }
        h->status = (uint16_t)((h->line[i] - '0') * 100 +
                               (h->line[i + 1] - '0') * 10 +
                               (h->line[i + 2] - '0'));
        h->flags |= HS_STATUS;
    } else if (hs_is(h, "content-type:")) {
        h->flags |= HS_CTYPE;
    } else if (hs_is(h, "location:")) {
        h->flags |= HS_LOCATION;
    } else if (h->llen <= HS_LINECAP && memchr(h->line, ':', have) == NULL) {
        h->flags |= HS_BAD;         /* not a header line */
    }
}

static void
hs_feed(struct hscan *h, const uint8_t *p, size_t n)
{
    size_t i;

    if (h->flags & HS_DONE) {
        h->body += n;
        return;
    }
    if (h->flags & HS_BAD)
        return;
    for (i = 0; i < n; i++) {
        if (p[i] != '\n') {
            if (h->llen < HS_LINECAP)
                h->line[h->llen] = (char)p[i];
            if (h->llen < UINT32_MAX)
                h->llen++;
            continue;
        }
        if (h->llen == 0 || (h->llen == 1 && h->line[0] == '\r')) {
            h->flags |= HS_DONE;
            h->body += n - i - 1;
            return;
        }
        hs_line(h);
        if (h->flags & HS_BAD)
            return;
        h->llen = 0;
    }
    if (n > HS_MAXHDR - h->hbytes)
        h->flags |= HS_BAD;
    else
        h->hbytes += (uint32_t)n;
}

/* The CGI status: Status header, else 302 with Location, else 200. */
static int
hs_status(const struct hscan *h)
{
    if (h->flags & HS_STATUS)
        return h->status;
    return (h->flags & HS_LOCATION) ? 302 : 200;
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
resp_rec(struct resp *rs, const struct rec *r, const uint8_t *p, FILE *out,
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
            rs->pstatus, pstatus_name(rs->pstatus), rs->app_status);
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
        struct rec r;
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

/* ---- request encoding ---- */

struct spec {
    const char *method;
    const char *uri;
    char **hdrs;
    int nhdrs;
    char **params;
    int nparams;
    int has_body;
    size_t body_len;
};

/* A -p pair replaces the default parameter of the same name. */
static int
overridden(const struct spec *s, const char *name, size_t nl)
{
    int i;

    for (i = 0; i < s->nparams; i++)
        if (strncmp(s->params[i], name, nl) == 0 && s->params[i][nl] == '=')
            return 1;
    return 0;
}

static void
param(struct buf *b, const struct spec *s, const char *name, const char *v,
      size_t vl)
{
    size_t nl = strlen(name);

    if (!overridden(s, name, nl))
        nv_add(b, name, nl, v, vl);
}

static void
params(struct buf *b, const struct spec *s, const char *name, const char *v)
{
    param(b, s, name, v, strlen(v));
}

/* Value of the -H header called name, with leading blanks skipped. */
static const char *
hdr_value(const struct spec *s, const char *name)
{
    size_t nl = strlen(name);
    int i;

    for (i = 0; i < s->nhdrs; i++) {
        const char *h = s->hdrs[i];

        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            h += nl + 1;
            while (*h == ' ' || *h == '\t')
                h++;
            return h;
        }
    }
    return NULL;
}

/*
 * Encodes the PARAMS stream content the way nginx's fastcgi_params does
 * (minus values that need a real front end), then HTTP_* for each -H and
 * the -p pairs last.
 */
static void
params_build(struct buf *b, const struct spec *s)
{
    const char *q = strchr(s->uri, '?');
    size_t pl = q ? (size_t)(q - s->uri) : strlen(s->uri);
    const char *ct = hdr_value(s, "Content-Type");
    struct buf name = { 0 };
    char len[32];
    int i;

    params(b, s, "QUERY_STRING", q ? q + 1 : "");
    params(b, s, "REQUEST_METHOD", s->method);
    if (s->has_body || ct != NULL)
        params(b, s, "CONTENT_TYPE", ct ? ct : "application/octet-stream");
    if (s->has_body) {
        snprintf(len, sizeof len, "%zu", s->body_len);
        params(b, s, "CONTENT_LENGTH", len);
    }
    param(b, s, "SCRIPT_NAME", s->uri, pl);
    params(b, s, "REQUEST_URI", s->uri);
    param(b, s, "DOCUMENT_URI", s->uri, pl);
    params(b, s, "SERVER_PROTOCOL", "HTTP/1.1");
    params(b, s, "REQUEST_SCHEME", "http");
    params(b, s, "GATEWAY_INTERFACE", "CGI/1.1");
    params(b, s, "SERVER_SOFTWARE", "fcgi-client");
    params(b, s, "REMOTE_ADDR", "127.0.0.1");
    params(b, s, "SERVER_ADDR", "127.0.0.1");
    params(b, s, "SERVER_PORT", "80");
    params(b, s, "SERVER_NAME", "localhost");
    for (i = 0; i < s->nhdrs; i++) {
        const char *h = s->hdrs[i], *colon = strchr(h, ':'), *v = colon + 1;

        name.len = 0;
        buf_add(&name, "HTTP_", 5);
        for (; h < colon; h++) {
            uint8_t ch = (uint8_t)toupper((unsigned char)*h);

            buf_add(&name, ch == '-' ? "_" : (const char *)&ch, 1);
        }
        buf_add(&name, "", 1);
        while (*v == ' ' || *v == '\t')
            v++;
        params(b, s, (const char *)name.p, v);
    }
    for (i = 0; i < s->nparams; i++) {
        const char *eq = strchr(s->params[i], '=');

        nv_add(b, s->params[i], (size_t)(eq - s->params[i]), eq + 1,
               strlen(eq + 1));
    }
    free(name.p);
}

/* Appends a whole RESPONDER request: BEGIN, PARAMS, STDIN, terminators. */
static void
req_encode(struct buf *out, unsigned id, int flags, const struct spec *s,
           const uint8_t *body, size_t blen)
{
    struct buf pb = { 0 };

    begin_add(out, id, FCGI_RESPONDER, flags);
    params_build(&pb, s);
    stream_add(out, FCGI_PARAMS, id, pb.p, pb.len);
    rec_add(out, FCGI_PARAMS, id, NULL, 0, 0);
    stream_add(out, FCGI_STDIN, id, body, blen);
    rec_add(out, FCGI_STDIN, id, NULL, 0, 0);
    free(pb.p);
}

static void
spec_init(struct spec *s, const struct opts *o, const char *method,
          const char *uri)
{
    memset(s, 0, sizeof *s);
    s->method = method;
    s->uri = uri;
    s->hdrs = o->hdrs;
    s->nhdrs = o->nhdrs;
    s->params = o->params;
    s->nparams = o->nparams;
}

/* Reads the -b body ("-" is stdin) into b; returns 0 or -1 (reported). */
static int
body_read(const char *path, struct buf *b)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        msg("%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, buf_room(b, 65536), 65536);

        if (n > 0) {
            b->len += (size_t)n;
        } else if (n == 0) {
            break;
        } else if (errno != EINTR) {
            msg("%s: %s", path, strerror(errno));
            return -1;
        }
    }
    if (fd != 0)
        close(fd);
    return 0;
}

/* ---- subcommands ---- */

static int
cmd_request(struct opts *o)
{
    struct spec s;
    struct buf body = { 0 };
    struct resp rs;
    struct conn c;
    int rc = RC_FAIL;

    spec_init(&s, o, o->pos[2], o->pos[3]);
    if (o->body != NULL) {
        if (body_read(o->body, &body) < 0)
            return RC_USAGE;
        s.has_body = 1;
        s.body_len = body.len;
    }
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0) {
        free(body.p);
        return RC_USAGE;
    }
    req_encode(&c.out, 1, o->keep ? FCGI_KEEP_CONN : 0, &s, body.p,
               body.len);
    free(body.p);
    memset(&rs, 0, sizeof rs);
    if (wait_end(&c, 1, &rs, o->summary ? NULL : stdout, o->timeout_ms) < 0 ||
        resp_ok(&rs, 1, o->summary) < 0)
        goto out;
    if (o->summary)
        printf("status=%d bytes=%" PRIu64 "\n", hs_status(&rs.hs),
               rs.hs.body);
    rc = RC_OK;
out:
    if (fflush(stdout) != 0) {
        msg("writing stdout: %s", strerror(errno));
        rc = RC_FAIL;
    }
    conn_close(&c);
    return rc;
}

static int
cmd_values(struct opts *o)
{
    static const char *const names[] = {
        FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS
    };
    struct buf q = { 0 };
    struct conn c;
    struct rec r;
    const uint8_t *p, *nm, *val;
    size_t off = 0, nl, vl, i;
    int n, rc = RC_OK;

    for (i = 0; i < 3; i++)
        nv_add(&q, names[i], strlen(names[i]), "", 0);
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0)
        return RC_USAGE;
    rec_add(&c.out, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, q.p, q.len,
            pad8(q.len));
    free(q.p);
    n = next_record(&c, &r, &p, o->timeout_ms);
    if (n <= 0) {
        rec_fail(&c, n, o->timeout_ms, "GET_VALUES_RESULT");
        rc = RC_FAIL;
    } else if (r.type != FCGI_GET_VALUES_RESULT || r.id != 0) {
        msg("got record type %d id %u, expected GET_VALUES_RESULT id 0",
            r.type, r.id);
        rc = RC_FAIL;
    }
    while (rc == RC_OK && (n = nv_get(p, r.clen, &off, &nm, &nl, &val,
                                      &vl)) != 0) {
        if (n < 0) {
            msg("truncated name-value pair in GET_VALUES_RESULT");
            rc = RC_FAIL;
            break;
        }
        printf("%.*s=%.*s\n", (int)nl, (const char *)nm, (int)vl,
               (const char *)val);
        for (i = 0; i < 3; i++)
            if (strlen(names[i]) == nl && memcmp(names[i], nm, nl) == 0)
                break;
        if (i == 3) {
            msg("GET_VALUES_RESULT has unrequested name '%.*s'", (int)nl,
                (const char *)nm);
            rc = RC_FAIL;
        }
    }
    conn_close(&c);
    return rc;
}

static int
cmd_unktype(struct opts *o)
{
    static const uint8_t junk[] = { 'p', 'r', 'o', 'b', 'e', 0, 0xff };
    long long type = 99;
    struct conn c;
    struct rec r;
    const uint8_t *p;
    int n, rc = RC_FAIL;

    if (o->npos > 2 && num(o->pos[2], 0, 255, &type) < 0) {
        msg("TYPE must be 0..255");
        return RC_USAGE;
    }
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0)
        return RC_USAGE;
    rec_add(&c.out, (int)type, FCGI_NULL_REQUEST_ID, junk, sizeof junk,
            pad8(sizeof junk));
    n = next_record(&c, &r, &p, o->timeout_ms);
    if (n <= 0)
        rec_fail(&c, n, o->timeout_ms, "UNKNOWN_TYPE");
    else if (r.type != FCGI_UNKNOWN_TYPE || r.id != 0 || r.clen != 8)
        msg("got record type %d id %u length %zu, expected UNKNOWN_TYPE "
            "id 0 length 8", r.type, r.id, r.clen);
    else if (p[0] != type)
        msg("UNKNOWN_TYPE names type %d, sent %lld", p[0], type);
    else
        rc = RC_OK;
    if (rc == RC_OK)
        printf("unknown_type %lld\n", type);
    conn_close(&c);
    return rc;
}

/*
 * N requests on one KEEP_CONN connection, records interleaved round-robin
 * so that the server must demultiplex: PARAMS of each request cut into
 * small records of varying size and padding (so pairs straddle records),
 * with a 4-byte-length pair in every other request.
 */
static int
cmd_mpx(struct opts *o)
{
    static char pad[300];
    long long n;
    struct spec s;
    struct buf base = { 0 }, pb = { 0 }, body = { 0 }, *recs;
    size_t *cur;
    struct resp *rs, next;
    struct conn c;
    unsigned char seen[1000] = { 0 };
    unsigned i, ended = 0;
    int any, rc = RC_FAIL;

    if (num(o->pos[2], 1, 65535, &n) < 0) {
        msg("N must be 1..65535");
        return RC_USAGE;
    }
    spec_init(&s, o, o->method ? o->method : "GET", o->pos[3]);
    if (o->body != NULL) {
        if (body_read(o->body, &body) < 0)
            return RC_USAGE;
        s.has_body = 1;
        s.body_len = body.len;
    }
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0)
        return RC_USAGE;
    memset(pad, 'x', sizeof pad);
    params_build(&base, &s);
    recs = xrealloc(NULL, sizeof *recs * (size_t)(n + 1));
    cur = xrealloc(NULL, sizeof *cur * (size_t)(n + 1));
    rs = xrealloc(NULL, sizeof *rs * (size_t)(n + 1));
    memset(recs, 0, sizeof *recs * (size_t)(n + 1));
    memset(rs, 0, sizeof *rs * (size_t)(n + 1));
    for (i = 1; i <= n; i++) {
        char id[16];
        size_t off = 0, k = 0;

        pb.len = 0;
        buf_add(&pb, base.p, base.len);
        snprintf(id, sizeof id, "%u", i);
        nv_add(&pb, "HTTP_X_MPX_ID", 13, id, strlen(id));
        if (i % 2)
            nv_add(&pb, "HTTP_X_MPX_PAD", 14, pad, sizeof pad);
        begin_add(&recs[i], i, FCGI_RESPONDER, FCGI_KEEP_CONN);
        while (off < pb.len) {
            size_t sz = 1 + (i * 31 + k * 17) % 61;

            if (sz > pb.len - off)
                sz = pb.len - off;
            rec_add(&recs[i], FCGI_PARAMS, i, pb.p + off, sz, (i + k) % 9);
            off += sz;
            k++;
        }
        rec_add(&recs[i], FCGI_PARAMS, i, NULL, 0, 0);
        stream_add(&recs[i], FCGI_STDIN, i, body.p, body.len);
        rec_add(&recs[i], FCGI_STDIN, i, NULL, 0, 0);
        cur[i] = 0;
    }
    do {
        any = 0;
        for (i = 1; i <= n; i++) {
            struct rec r;

            if (cur[i] == recs[i].len)
                continue;
            hdr_get(recs[i].p + cur[i], &r);
            r.clen += FCGI_HEADER_LEN + r.plen;
            buf_add(&c.out, recs[i].p + cur[i], r.clen);
            cur[i] += r.clen;
            any = 1;
        }
    } while (any);
    for (i = 1; i <= n; i++)
        free(recs[i].p);
    free(recs);
    free(cur);
    free(pb.p);
    free(base.p);

    while (ended < n) {
        struct rec r;
        const uint8_t *p;
        int k = next_record(&c, &r, &p, o->timeout_ms);

        if (k <= 0) {
            rec_fail(&c, k, o->timeout_ms, "all END_REQUESTs");
            msg("%u of %lld requests ended", ended, n);
            goto out;
        }
        if (r.id == 0 || r.id > n || (rs[r.id].flags & RS_ENDED)) {
            msg("record type %d for %s request id %u", r.type,
                r.id == 0 || r.id > n ? "unknown" : "ended", r.id);
            goto out;
        }
        k = resp_rec(&rs[r.id], &r, p, NULL, stderr);
        if (k < 0)
            goto out;
        if (k == 0)
            continue;
        ended++;
        if (resp_ok(&rs[r.id], r.id, 1) < 0)
            goto out;
        if (!(rs[r.id].hs.flags & (HS_STATUS | HS_CTYPE))) {
            msg("request %u: no Status or Content-Type header", r.id);
            goto out;
        }
        seen[hs_status(&rs[r.id].hs)] = 1;
    }

    /* The server must keep a KEEP_CONN connection: nothing may arrive
     * now, and a further request reusing id 1 must complete. */
    {
        struct rec r;
        const uint8_t *p;
        int k = next_record(&c, &r, &p, 100);

        if (k != -2) {
            if (k == 1)
                msg("unexpected record type %d id %u after all requests "
                    "ended", r.type, r.id);
            else if (k == 0)
                msg("server closed the KEEP_CONN connection");
            goto out;
        }
    }
    req_encode(&c.out, 1, FCGI_KEEP_CONN, &s, body.p, body.len);
    memset(&next, 0, sizeof next);
    if (wait_end(&c, 1, &next, NULL, o->timeout_ms) < 0 ||
        resp_ok(&next, 1, 1) < 0) {
        msg("follow-up request on the same connection failed");
        goto out;
    }
    printf("ok %lld status=", n);
    for (any = 0, i = 0; i < 1000; i++) {
        if (seen[i]) {
            printf("%s%u", any ? "," : "", i);
            any = 1;
        }
    }
    printf("\n");
    rc = RC_OK;
out:
    free(rs);
    free(body.p);
    conn_close(&c);
    return rc;
}

static int
cmd_abort(struct opts *o)
{
    long long delay = 100;
    struct spec s;
    struct resp rs;
    struct conn c;
    int64_t t0, deadline;
    int rc = RC_FAIL;

    if (o->npos > 3 && num(o->pos[3], 0, 3600000, &delay) < 0) {
        msg("DELAY_MS must be 0..3600000");
        return RC_USAGE;
    }
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0)
        return RC_USAGE;
    spec_init(&s, o, "GET", o->pos[2]);
    req_encode(&c.out, 1, FCGI_KEEP_CONN, &s, NULL, 0);
    memset(&rs, 0, sizeof rs);
    t0 = now_us();
    deadline = t0 + delay * 1000;

    /* Before the abort nothing but STDERR may arrive. */
    for (;;) {
        struct rec r;
        const uint8_t *p;
        int64_t left = deadline - now_us();
        int n;

        if (left <= 0)
            break;
        n = next_record(&c, &r, &p, (int)((left + 999) / 1000));
        if (n == -2)
            break;
        if (n <= 0) {
            rec_fail(&c, n, 0, "the abort");
            goto out;
        }
        if (r.id != 1 || resp_rec(&rs, &r, p, NULL, stderr) < 0) {
            msg("unexpected record type %d id %u before the abort", r.type,
                r.id);
            goto out;
        }
        if (rs.out_bytes > 0 || (rs.flags & RS_ENDED)) {
            msg("request %s before the abort was sent (URI not slow?)",
                rs.flags & RS_ENDED ? "ended" : "produced output");
            goto out;
        }
    }
    rec_add(&c.out, FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
    if (wait_end(&c, 1, &rs, NULL, o->timeout_ms) < 0)
        goto out;
    if (rs.out_bytes > 0) {
        msg("aborted request sent %" PRIu64 " bytes of STDOUT",
            rs.out_bytes);
        goto out;
    }
    printf("aborted ms=%lld\n", (long long)((now_us() - t0) / 1000));
    fflush(stdout);

    /* The connection must still serve requests; id 1 is free again. */
    spec_init(&s, o, "GET", o->nopt ? o->nopt : "/hello");
    req_encode(&c.out, 1, FCGI_KEEP_CONN, &s, NULL, 0);
    memset(&rs, 0, sizeof rs);
    if (wait_end(&c, 1, &rs, NULL, o->timeout_ms) < 0 ||
        resp_ok(&rs, 1, 1) < 0)
        goto out;
    printf("next status=%d\n", hs_status(&rs.hs));
    rc = RC_OK;
out:
    conn_close(&c);
    return rc;
}

/* splitmix64: a fixed, portable generator so -s reproduces everywhere. */
static uint64_t
rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Waits until the server closes (EOF, reset or failed write); output that
 * arrives meanwhile is discarded.  Returns 1 if closed, 0 on timeout. */
static int
wait_close(struct conn *c, int timeout_ms)
{
    for (;;) {
        if (c->eof || c->werr)
            return 1;
        c->in_off = c->in_len;
        if (conn_io(c, timeout_ms) <= 0)
            return c->eof || c->werr;
    }
}

static int
cmd_garbage(struct opts *o)
{
    const char *kind = o->pos[2];
    struct buf b = { 0 };
    struct conn c;
    uint8_t *p;
    int shut = 0, rc = RC_FAIL, i;

    if (strcmp(kind, "bad-version") == 0) {
        begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        b.p[0] = 2;
    } else if (strcmp(kind, "begin-bad-length") == 0) {
        static const uint8_t body[7] = { 0, FCGI_RESPONDER, FCGI_KEEP_CONN };

        rec_add(&b, FCGI_BEGIN_REQUEST, 1, body, sizeof body, 0);
    } else if (strcmp(kind, "unknown-id") == 0) {
        struct buf pb = { 0 };

        nv_add(&pb, "REQUEST_METHOD", 14, "GET", 3);
        rec_add(&b, FCGI_PARAMS, 7, pb.p, pb.len, pad8(pb.len));
        free(pb.p);
    } else if (strcmp(kind, "duplicate-begin") == 0) {
        begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    } else if (strcmp(kind, "stdin-before-params-end") == 0) {
        struct buf pb = { 0 };

        begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        nv_add(&pb, "REQUEST_METHOD", 14, "POST", 4);
        nv_add(&pb, "CONTENT_LENGTH", 14, "5", 1);
        rec_add(&b, FCGI_PARAMS, 1, pb.p, pb.len, pad8(pb.len));
        rec_add(&b, FCGI_STDIN, 1, "hello", 5, 3);
        free(pb.p);
    } else if (strcmp(kind, "random") == 0) {
        /* Random bytes may form a valid header announcing more content
         * than is sent; the half-close makes closing the only correct
         * reaction whatever the seed. */
        uint64_t seed = o->seed;

        p = buf_room(&b, 256);
        for (i = 0; i < 256; i++)
            p[i] = (uint8_t)(rnd(&seed) >> 56);
        b.len = 256;
        shut = 1;
    } else if (strcmp(kind, "truncated") == 0) {
        begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        b.len = FCGI_HEADER_LEN / 2;
        shut = 1;
    } else if (strcmp(kind, "huge-params") == 0) {
        /* Name length 0x7fffffff (4-byte form), value length 1. */
        static const uint8_t pair[] = {
            0xff, 0xff, 0xff, 0xff, 0x01, 'H', 'T', 'T', 'P', '_', 'X'
        };

        begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        rec_add(&b, FCGI_PARAMS, 1, pair, sizeof pair, pad8(sizeof pair));
    } else if (strcmp(kind, "unknown-role") == 0) {
        begin_add(&b, 1, FCGI_AUTHORIZER, FCGI_KEEP_CONN);
    } else {
        msg("unknown garbage KIND '%s'", kind);
        return RC_USAGE;
    }
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0) {
        free(b.p);
        return RC_USAGE;
    }
    buf_add(&c.out, b.p, b.len);
    free(b.p);

    if (strcmp(kind, "unknown-role") == 0) {
        struct rec r;
        const uint8_t *q;
        int n = next_record(&c, &r, &q, o->timeout_ms);

        if (n <= 0)
            rec_fail(&c, n, o->timeout_ms, "END_REQUEST");
        else if (r.type != FCGI_END_REQUEST || r.id != 1 || r.clen != 8)
            msg("got record type %d id %u length %zu, expected END_REQUEST "
                "id 1 length 8", r.type, r.id, r.clen);
        else if (q[4] != FCGI_UNKNOWN_ROLE)
            msg("protocolStatus %d (%s), expected UNKNOWN_ROLE", q[4],
                pstatus_name(q[4]));
        else
            rc = RC_OK;
        if (rc == RC_OK)
            printf("unknown_role\n");
        conn_close(&c);
        return rc;
    }

    i = conn_flush(&c, o->timeout_ms);
    if (i == 0) {
        msg("timed out after %.3g s sending", o->timeout_ms / 1000.0);
    } else {
        if (i > 0 && shut)
            shutdown(c.fd, SHUT_WR);
        if (wait_close(&c, o->timeout_ms)) {
            printf("closed %s\n", kind);
            rc = RC_OK;
        } else {
            msg("server did not close the connection within %.3g s",
                o->timeout_ms / 1000.0);
        }
    }
    conn_close(&c);
    return rc;
}

/* ---- load generator ---- */

#define L_OUTHIGH   (256 * 1024)    /* stop issuing above this backlog */

#define LR_ACTIVE   0x01
#define LR_CLOSED   0x02            /* empty STDOUT record seen */
#define LR_BAD      0x04            /* framing problem seen */

/* Latency histogram in microseconds: exact below 256, then 128 buckets
 * per power of two (< 0.8 % error), up to 2^32 us. */
#define H_SUB       128
#define H_N         (H_SUB * 26)

struct lreq {
    int64_t t0;             /* when the request was queued, us */
    struct hscan hs;
    uint8_t flags;
};

struct lconn {
    int fd;
    struct buf out;
    size_t out_off;
    uint8_t *in;            /* INCAP bytes */
    size_t in_len;
    uint16_t *ids;          /* stack of free request ids */
    unsigned nids;
    unsigned quota;         /* this connection uses ids 1..quota */
    unsigned busy;          /* requests in flight */
    struct lreq *req;       /* indexed by request id */
};

struct load {
    struct lconn *conn;
    struct pollfd *pfd;     /* one per connection */
    int nconn;
    int alive;
    int hold;
    int issuing;
    struct buf tpl;         /* one encoded request with id 0 */
    size_t *tpl_hdr;        /* offsets of its record headers */
    size_t ntpl_hdr;
    uint64_t limit;         /* stop issuing after this many, 0 = none */
    uint64_t issued, completed, busy;
    uint64_t err_status, err_proto, err_lost;
    uint64_t hist[H_N];
    uint64_t lat_max;
    int64_t now;
};

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static unsigned
h_index(uint64_t v)
{
    int shift;

    if (v > UINT32_MAX)
        v = UINT32_MAX;
    if (v < 2 * H_SUB)
        return (unsigned)v;
    shift = 63 - __builtin_clzll(v) - 7;
    return (unsigned)shift * H_SUB + (unsigned)(v >> shift);
}

/* Midpoint of a bucket. */
static uint64_t
h_value(unsigned idx)
{
    unsigned shift, top;

    if (idx < 2 * H_SUB)
        return idx;
    shift = idx / H_SUB - 1;
    top = idx - shift * H_SUB;
    return ((uint64_t)top << shift) + ((uint64_t)1 << shift) / 2;
}

static double
h_pct_ms(const struct load *L, double q)
{
    uint64_t want = (uint64_t)(q * (double)L->completed + 0.999999), sum = 0;
    unsigned i;

    if (L->completed == 0)
        return 0;
    if (want == 0)
        want = 1;
    for (i = 0; i < H_N; i++) {
        sum += L->hist[i];
        if (sum >= want)
            break;
    }
    if (i == H_N || h_value(i) > L->lat_max)
        return (double)L->lat_max / 1000.0;
    return (double)h_value(i) / 1000.0;
}

static void
l_kill(struct load *L, struct lconn *c, const char *why)
{
    unsigned id;

    msg("connection %d: %s; %u requests lost", (int)(c - L->conn), why,
        c->busy);
    L->err_lost += c->busy;
    L->busy -= c->busy;
    c->busy = 0;
    for (id = 1; id <= c->quota; id++)
        c->req[id].flags = 0;
    close(c->fd);
    c->fd = -1;
    L->alive--;
}

/* Queues new requests from the template while ids and backlog allow. */
static void
l_issue(struct load *L, struct lconn *c)
{
    while (L->issuing && c->nids > 0 && c->out.len - c->out_off < L_OUTHIGH) {
        unsigned id;
        uint8_t *p;
        size_t i;

        if (L->limit && L->issued >= L->limit) {
            L->issuing = 0;
            break;
        }
        id = c->ids[--c->nids];
        p = buf_room(&c->out, L->tpl.len);
        memcpy(p, L->tpl.p, L->tpl.len);
        for (i = 0; i < L->ntpl_hdr; i++) {
            p[L->tpl_hdr[i] + 2] = (uint8_t)(id >> 8);
            p[L->tpl_hdr[i] + 3] = (uint8_t)id;
        }
        c->out.len += L->tpl.len;
        memset(&c->req[id], 0, sizeof c->req[id]);
        c->req[id].t0 = L->now;
        c->req[id].flags = LR_ACTIVE;
        c->busy++;
        L->busy++;
        L->issued++;
    }
}

/* Returns 1 if bytes were written; kills the connection on error. */
static int
l_write(struct load *L, struct lconn *c)
{
    int progress = 0;

    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.p + c->out_off,
                         c->out.len - c->out_off, MSG_NOSIGNAL);

        if (n > 0) {
            c->out_off += (size_t)n;
            progress = 1;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;
        } else {
            l_kill(L, c, n < 0 ? strerror(errno) : "write failed");
            return progress;
        }
    }
    if (c->out_off == c->out.len) {
        c->out.len = 0;
        c->out_off = 0;
    } else if (c->out_off >= c->out.len / 2) {
        memmove(c->out.p, c->out.p + c->out_off, c->out.len - c->out_off);
        c->out.len -= c->out_off;
        c->out_off = 0;
    }
    return progress;
}

static void
l_done(struct load *L, struct lconn *c, unsigned id, int pstatus)
{
    struct lreq *q = &c->req[id];
    uint64_t lat = L->now > q->t0 ? (uint64_t)(L->now - q->t0) : 0;
    int st;

    L->hist[h_index(lat)]++;
    if (lat > L->lat_max)
        L->lat_max = lat;
    L->completed++;
    if (pstatus != FCGI_REQUEST_COMPLETE || !(q->flags & LR_CLOSED) ||
        (q->flags & LR_BAD) || (q->hs.flags & (HS_DONE | HS_BAD)) != HS_DONE) {
        L->err_proto++;
    } else {
        st = hs_status(&q->hs);
        if (st < 200 || st > 299)
            L->err_status++;
    }
    q->flags = 0;
    c->ids[c->nids++] = (uint16_t)id;
    c->busy--;
    L->busy--;
}

/* Applies one record; returns -1 if the connection can't be trusted. */
static int
l_rec(struct load *L, struct lconn *c, const struct rec *r, const uint8_t *p)
{
    struct lreq *q;

    if (r->id == 0 || r->id > c->quota || !(c->req[r->id].flags & LR_ACTIVE)) {
        msg("record type %d for idle request id %u", r->type, r->id);
        return -1;
    }
    q = &c->req[r->id];
    switch (r->type) {
    case FCGI_STDOUT:
        if (q->flags & LR_CLOSED)
            q->flags |= LR_BAD;
        else if (r->clen == 0)
            q->flags |= LR_CLOSED;
        else
            hs_feed(&q->hs, p, r->clen);
        return 0;
    case FCGI_STDERR:
        return 0;
    case FCGI_END_REQUEST:
        if (r->clen != 8) {
            msg("END_REQUEST with content length %zu", r->clen);
            return -1;
        }
        l_done(L, c, r->id, p[4]);
        return 0;
    }
    msg("unexpected record type %d for request %u", r->type, r->id);
    return -1;
}

/* Returns 1 if bytes were read; kills the connection on error or EOF.
 * In hold mode input is only drained, never parsed. */
static int
l_read(struct load *L, struct lconn *c)
{
    int progress = 0, k;

    for (k = 0; k < 8 && c->fd >= 0; k++) {
        ssize_t n = read(c->fd, c->in + c->in_len, INCAP - c->in_len);
        size_t pos = 0;

        if (n == 0) {
            l_kill(L, c, "server closed the connection");
            break;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                l_kill(L, c, strerror(errno));
            break;
        }
        progress = 1;
        c->in_len += (size_t)n;
        if (L->hold) {
            c->in_len = 0;
            continue;
        }
        while (c->in_len - pos >= FCGI_HEADER_LEN) {
            struct rec r;
            size_t need;

            hdr_get(c->in + pos, &r);
            need = FCGI_HEADER_LEN + r.clen + r.plen;
            if (r.ver != FCGI_VERSION_1) {
                msg("record with version %d", r.ver);
                l_kill(L, c, "protocol error");
                return progress;
            }
            if (c->in_len - pos < need)
                break;
            if (l_rec(L, c, &r, c->in + pos + FCGI_HEADER_LEN) < 0) {
                l_kill(L, c, "protocol error");
                return progress;
            }
            pos += need;
        }
        memmove(c->in, c->in + pos, c->in_len - pos);
        c->in_len -= pos;
    }
    return progress;
}

/* poll() that lets SIGINT/SIGTERM (blocked elsewhere) interrupt it. */
static int
l_poll(struct pollfd *pfd, int n, int timeout_ms, const sigset_t *mask)
{
    struct timespec ts, *tp = NULL;

    if (timeout_ms >= 0) {
        ts.tv_sec = timeout_ms / 1000;
        ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000;
        tp = &ts;
    }
    return ppoll(pfd, (nfds_t)n, tp, mask);
}

/* --hold: queue every request, report sent=N once all are written, then
 * idle until a signal, -d seconds, or the server closing a connection. */
static int
l_hold(struct load *L, struct opts *o, struct pollfd *pfd,
       const sigset_t *mask)
{
    int64_t end;
    int i, n;

    for (;;) {
        int pending = 0;

        L->now = now_us();
        for (i = 0; i < L->nconn; i++) {
            struct lconn *c = &L->conn[i];

            l_issue(L, c);
            pfd[i].fd = c->out_off < c->out.len ? c->fd : -1;
            pfd[i].events = POLLIN | POLLOUT;
            pfd[i].revents = 0;
            pending |= pfd[i].fd >= 0;
        }
        if (!pending && L->issued == L->limit)
            break;
        if (stop_flag) {
            msg("interrupted after queueing %" PRIu64 " requests",
                L->issued);
            return RC_FAIL;
        }
        n = l_poll(pfd, L->nconn, o->timeout_ms, mask);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            msg("could not send all requests within %.3g s",
                o->timeout_ms / 1000.0);
            return RC_FAIL;
        }
        for (i = 0; i < L->nconn; i++) {
            struct lconn *c = &L->conn[i];

            /* Read only when the socket won't take output: the server
             * may be waiting for us to drain its replies. */
            if (pfd[i].revents & POLLOUT)
                l_write(L, c);
            else if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
                l_read(L, c);
        }
        if (L->alive < L->nconn)
            return RC_FAIL;
    }
    printf("sent=%" PRIu64 "\n", L->issued);
    fflush(stdout);

    end = o->duration >= 0 ? now_us() + (int64_t)(o->duration * 1e6) : 0;
    for (i = 0; i < L->nconn; i++) {
        pfd[i].fd = L->conn[i].fd;
        pfd[i].events = POLLRDHUP;
    }
    while (!stop_flag) {
        int64_t left = end ? end - now_us() : -1;

        if (end && left <= 0)
            break;
        n = l_poll(pfd, L->nconn, end ? (int)((left + 999) / 1000) : -1,
                   mask);
        if (n <= 0)
            continue;
        for (i = 0; i < L->nconn; i++) {
            if (pfd[i].revents) {
                msg("server closed connection %d while requests were held",
                    i);
                return RC_FAIL;
            }
        }
    }
    return RC_OK;
}

static int
l_run(struct load *L, struct opts *o, struct pollfd *pfd,
      const sigset_t *mask)
{
    int64_t start = now_us(), end = 0, last = start;
    uint64_t errors;
    double elapsed;
    int i, n;

    if (o->duration >= 0)
        end = start + (int64_t)(o->duration * 1e6);
    else if (o->total == 0)
        end = start + 10 * 1000000;
    for (;;) {
        int timeout = o->timeout_ms;

        L->now = now_us();
        if (stop_flag || (end && L->now >= end))
            L->issuing = 0;
        for (i = 0; i < L->nconn; i++) {
            struct lconn *c = &L->conn[i];

            if (c->fd >= 0)
                l_issue(L, c);
            pfd[i].fd = c->fd;
            pfd[i].events = POLLIN;
            if (c->out_off < c->out.len)
                pfd[i].events |= POLLOUT;
            pfd[i].revents = 0;
        }
        if (L->alive == 0 || (!L->issuing && L->busy == 0))
            break;
        if (L->issuing && end && (end - L->now) / 1000 + 1 < timeout)
            timeout = (int)((end - L->now) / 1000 + 1);
        n = l_poll(pfd, L->nconn, timeout, mask);
        L->now = now_us();
        if (n < 0 && errno != EINTR) {
            msg("poll: %s", strerror(errno));
            return RC_USAGE;
        }
        if (n <= 0) {
            if (L->busy > 0 && L->now - last >= o->timeout_ms * 1000LL) {
                msg("no progress for %.3g s", o->timeout_ms / 1000.0);
                for (i = 0; i < L->nconn; i++)
                    if (L->conn[i].fd >= 0)
                        l_kill(L, &L->conn[i], "timed out");
                break;
            }
            continue;
        }
        for (i = 0; i < L->nconn; i++) {
            struct lconn *c = &L->conn[i];

            if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
                if (l_read(L, c))
                    last = L->now;
            if (c->fd < 0)
                continue;
            /* Refill at once so freed ids go back to work without
             * another poll round. */
            l_issue(L, c);
            if (c->out_off < c->out.len && l_write(L, c))
                last = L->now;
        }
    }
    elapsed = (double)(now_us() - start) / 1e6;
    errors = L->err_status + L->err_proto + L->err_lost;
    printf("completed=%" PRIu64 " errors=%" PRIu64 " elapsed=%.3f "
           "rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n",
           L->completed, errors, elapsed,
           elapsed > 0 ? (double)L->completed / elapsed : 0.0,
           h_pct_ms(L, 0.50), h_pct_ms(L, 0.99),
           (double)L->lat_max / 1000.0);
    if (errors > 0)
        msg("errors: non-2xx=%" PRIu64 " protocol=%" PRIu64 " lost=%"
            PRIu64, L->err_status, L->err_proto, L->err_lost);
    return errors ? RC_FAIL : RC_OK;
}

static int
cmd_load(struct opts *o)
{
    static struct load L;
    long long pending, conns = o->conns > 0 ? o->conns : 1;
    struct spec s;
    struct buf body = { 0 };
    struct sigaction sa;
    sigset_t block, orig;
    size_t off;
    int i, rc;

    if (o->nopt == NULL || num(o->nopt, 1, 100000000, &pending) < 0) {
        msg("load needs -n PENDING (1..100000000)");
        return RC_USAGE;
    }
    if (conns > pending) {
        msg("note: only %lld connections needed for %lld pending requests",
            pending, pending);
        conns = pending;
    }
    if ((pending + conns - 1) / conns > 65535) {
        msg("%lld pending over %lld connections exceeds 65535 request ids "
            "per connection; use more connections", pending, conns);
        return RC_USAGE;
    }
    spec_init(&s, o, o->method ? o->method : "GET", o->pos[2]);
    if (o->body != NULL) {
        if (body_read(o->body, &body) < 0)
            return RC_USAGE;
        s.has_body = 1;
        s.body_len = body.len;
    }
    req_encode(&L.tpl, 0, FCGI_KEEP_CONN, &s, body.p, body.len);
    free(body.p);
    for (off = 0; off < L.tpl.len; L.ntpl_hdr++) {
        struct rec r;

        hdr_get(L.tpl.p + off, &r);
        L.tpl_hdr = xrealloc(L.tpl_hdr, sizeof *L.tpl_hdr *
                                        (L.ntpl_hdr + 1));
        L.tpl_hdr[L.ntpl_hdr] = off;
        off += FCGI_HEADER_LEN + r.clen + r.plen;
    }

    L.nconn = (int)conns;
    L.conn = xrealloc(NULL, sizeof *L.conn * (size_t)conns);
    memset(L.conn, 0, sizeof *L.conn * (size_t)conns);
    L.pfd = xrealloc(NULL, sizeof *L.pfd * (size_t)conns);
    for (i = 0; i < L.nconn; i++) {
        struct lconn *c = &L.conn[i];
        unsigned id;

        c->fd = sock_open(o->pos[1], o->timeout_ms);
        if (c->fd < 0)
            return RC_USAGE;
        L.alive++;
        c->quota = (unsigned)(pending / conns + (i < pending % conns));
        c->ids = xrealloc(NULL, sizeof *c->ids * c->quota);
        c->req = xrealloc(NULL, sizeof *c->req * (c->quota + 1));
        memset(c->req, 0, sizeof *c->req * (c->quota + 1));
        c->in = xrealloc(NULL, INCAP);
        for (id = c->quota; id >= 1; id--)
            c->ids[c->nids++] = (uint16_t)id;
    }

    /* Signals stay blocked except inside ppoll, so a stop request can't
     * slip in between checking stop_flag and going to sleep. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &orig);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    L.hold = o->hold;
    L.issuing = 1;
    L.limit = o->hold ? (uint64_t)pending : (uint64_t)o->total;
    rc = o->hold ? l_hold(&L, o, L.pfd, &orig) : l_run(&L, o, L.pfd, &orig);
    fflush(stdout);
    return rc;
}

/* ---- command line ---- */

static int
usage(void)
{
    fprintf(stderr,
"usage: %s [options] COMMAND ADDR ARGS...\n"
"ADDR: HOST:PORT, [V6]:PORT or unix:/path\n"
"  request ADDR METHOD URI [-b FILE|-] [-H 'Name: v']... [-p N=V]... [-k] "
"[-r]\n"
"  get-values ADDR\n"
"  unknown-type ADDR [TYPE]\n"
"  multiplex ADDR N URI\n"
"  abort ADDR URI [DELAY_MS] [-n NEXT_URI]\n"
"  garbage ADDR KIND   (bad-version begin-bad-length unknown-id\n"
"                       duplicate-begin stdin-before-params-end random\n"
"                       truncated huge-params unknown-role) [-s SEED]\n"
"  load ADDR URI -n PENDING [-c CONNS] [-d SECONDS] [-N TOTAL] [--hold]\n"
"options: -t SECONDS timeout for every wait (default 10); -m METHOD for\n"
"multiplex and load; -H, -p, -b also apply to multiplex and load\n"
"exit: 0 ok, 1 assertion/protocol failure, 2 usage/connect error\n",
            prog);
    return RC_USAGE;
}

static const struct cmd {
    const char *name;
    int minpos;             /* positional arguments after the name */
    int maxpos;
    int (*fn)(struct opts *);
} cmds[] = {
    { "request", 3, 3, cmd_request },
    { "get-values", 1, 1, cmd_values },
    { "unknown-type", 1, 2, cmd_unktype },
    { "multiplex", 3, 3, cmd_mpx },
    { "abort", 2, 3, cmd_abort },
    { "garbage", 2, 2, cmd_garbage },
    { "load", 2, 2, cmd_load },
};

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "hold", no_argument, NULL, 'O' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static struct opts o;   /* static: its arrays stay reachable for LSan */
    long long v;
    double d;
    char *end;
    size_t i;
    int c;

    memset(&o, 0, sizeof o);
    o.timeout_ms = 10000;
    o.seed = 1;
    o.duration = -1;
    o.hdrs = xrealloc(NULL, sizeof *o.hdrs * (size_t)argc);
    o.params = xrealloc(NULL, sizeof *o.params * (size_t)argc);
    o.pos = xrealloc(NULL, sizeof *o.pos * (size_t)argc);
    signal(SIGPIPE, SIG_IGN);

    /* Leading '-': positionals come back in order as option 1, so options
     * may follow them even under POSIXLY_CORRECT. */
    while ((c = getopt_long(argc, argv, "-t:s:krb:H:p:n:c:d:N:m:h",
                            longopts, NULL)) != -1) {
        switch (c) {
        case 1:
            o.pos[o.npos++] = optarg;
            break;
        case 't':
        case 'd':
            d = strtod(optarg, &end);
            if (*end != '\0' || end == optarg || !(d > 0 && d < 1e6)) {
                msg("-%c needs a positive number of seconds", c);
                return RC_USAGE;
            }
            if (c == 't')
                o.timeout_ms = d * 1000 < 1 ? 1 : (int)(d * 1000);
            else
                o.duration = d;
            break;
        case 's':
            errno = 0;
            o.seed = strtoull(optarg, &end, 0);
            if (errno != 0 || *end != '\0' || end == optarg) {
                msg("-s needs an integer seed");
                return RC_USAGE;
            }
            break;
        case 'k':
            o.keep = 1;
            break;
        case 'r':
            o.summary = 1;
            break;
        case 'O':
            o.hold = 1;
            break;
        case 'b':
            o.body = optarg;
            break;
        case 'n':
            o.nopt = optarg;
            break;
        case 'm':
            o.method = optarg;
            break;
        case 'H':
            end = strchr(optarg, ':');
            if (end == NULL || end == optarg) {
                msg("-H needs 'Name: value'");
                return RC_USAGE;
            }
            o.hdrs[o.nhdrs++] = optarg;
            break;
        case 'p':
            end = strchr(optarg, '=');
            if (end == NULL || end == optarg) {
                msg("-p needs NAME=VALUE");
                return RC_USAGE;
            }
            o.params[o.nparams++] = optarg;
            break;
        case 'c':
            if (num(optarg, 1, 1000000, &v) < 0) {
                msg("-c needs a positive number of connections");
                return RC_USAGE;
            }
            o.conns = (long)v;
            break;
        case 'N':
            if (num(optarg, 1, INT64_MAX, &v) < 0) {
                msg("-N needs a positive number of requests");
                return RC_USAGE;
            }
            o.total = v;
            break;
        default:
            return usage();
        }
    }
    if (o.npos == 0)
        return usage();
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(o.pos[0], cmds[i].name) != 0)
            continue;
        if (o.npos - 1 < cmds[i].minpos || o.npos - 1 > cmds[i].maxpos) {
            msg("wrong number of arguments for %s", cmds[i].name);
            return usage();
        }
        return cmds[i].fn(&o);
    }
    msg("unknown command '%s'", o.pos[0]);
    return usage();
}
