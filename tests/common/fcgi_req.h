/*
 * fcgi_req.h: what the raw FastCGI client programs share beyond the wire
 * format (tests/tools/fcgi_client.c, bench/fcgi_load.c): messages naming
 * the program (set prog), numbers from the command line, connecting to
 * HOST:PORT, [V6]:PORT or unix:/path, encoding a request the way nginx's
 * fastcgi_params does, and scanning the CGI head of a response.  All is
 * static, in the program that includes it.
 */
#ifndef EVF_TESTS_FCGI_REQ_H
#define EVF_TESTS_FCGI_REQ_H

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
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

#include "fcgi_wire.h"

#define RC_OK       0       /* success */
#define RC_FAIL     1       /* assertion or protocol failure, timeout */
#define RC_USAGE    2       /* usage, connect or local resource error */

/* Input buffer size; must exceed the largest record (8 + 65535 + 255). */
#define INCAP       (256 * 1024)

static const char *prog;    /* set by main() */

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline void
msg(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static inline void *
xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        msg("out of memory");
        exit(RC_USAGE);
    }
    return p;
}

static inline int64_t
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Parses a whole decimal integer in [lo, hi]; returns 0 or -1. */
static inline int
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

/* ---- connecting ---- */

union addr {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
};

/* Fills a from HOST:PORT, [V6]:PORT or unix:/path; returns length or 0. */
static inline socklen_t
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
static inline int
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

static inline int
hs_is(const struct hscan *h, const char *name)
{
    size_t n = strlen(name);

    return h->llen >= n && strncasecmp(h->line, name, n) == 0;
}

static inline void
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

static inline void
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
static inline int
hs_status(const struct hscan *h)
{
    if (h->flags & HS_STATUS)
        return h->status;
    return (h->flags & HS_LOCATION) ? 302 : 200;
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
static inline int
overridden(const struct spec *s, const char *name, size_t nl)
{
    int i;

    for (i = 0; i < s->nparams; i++)
        if (strncmp(s->params[i], name, nl) == 0 && s->params[i][nl] == '=')
            return 1;
    return 0;
}

static inline void
param(struct fw_buf *b, const struct spec *s, const char *name, const char *v,
      size_t vl)
{
    size_t nl = strlen(name);

    if (!overridden(s, name, nl))
        fw_nv_add(b, name, nl, v, vl);
}

static inline void
params(struct fw_buf *b, const struct spec *s, const char *name, const char *v)
{
    param(b, s, name, v, strlen(v));
}

/* Value of the -H header called name, with leading blanks skipped. */
static inline const char *
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
static inline void
params_build(struct fw_buf *b, const struct spec *s)
{
    const char *q = strchr(s->uri, '?');
    size_t pl = q ? (size_t)(q - s->uri) : strlen(s->uri);
    const char *ct = hdr_value(s, "Content-Type");
    struct fw_buf name = { 0 };
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
        fw_add(&name, "HTTP_", 5);
        for (; h < colon; h++) {
            uint8_t ch = (uint8_t)toupper((unsigned char)*h);

            fw_add(&name, ch == '-' ? "_" : (const char *)&ch, 1);
        }
        fw_add(&name, "", 1);
        while (*v == ' ' || *v == '\t')
            v++;
        params(b, s, (const char *)name.p, v);
    }
    for (i = 0; i < s->nparams; i++) {
        const char *eq = strchr(s->params[i], '=');

        fw_nv_add(b, s->params[i], (size_t)(eq - s->params[i]), eq + 1,
               strlen(eq + 1));
    }
    free(name.p);
}

/* Appends a whole RESPONDER request: BEGIN, PARAMS, STDIN, terminators. */
static inline void
req_encode(struct fw_buf *out, unsigned id, int flags, const struct spec *s,
           const uint8_t *body, size_t blen)
{
    struct fw_buf pb = { 0 };

    fw_begin_add(out, id, FCGI_RESPONDER, flags);
    params_build(&pb, s);
    fw_stream_add(out, FCGI_PARAMS, id, pb.p, pb.len);
    fw_rec_add(out, FCGI_PARAMS, id, NULL, 0, 0);
    fw_stream_add(out, FCGI_STDIN, id, body, blen);
    fw_rec_add(out, FCGI_STDIN, id, NULL, 0, 0);
    free(pb.p);
}

/* A request for method and uri with the -H headers and -p pairs given. */
static inline void
spec_init(struct spec *s, const char *method, const char *uri, char **hdrs,
          int nhdrs, char **params, int nparams)
{
    memset(s, 0, sizeof *s);
    s->method = method;
    s->uri = uri;
    s->hdrs = hdrs;
    s->nhdrs = nhdrs;
    s->params = params;
    s->nparams = nparams;
}

/* Reads the -b body ("-" is stdin) into b; returns 0 or -1 (reported). */
static inline int
body_read(const char *path, struct fw_buf *b)
{
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        msg("%s: %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        ssize_t n = read(fd, fw_room(b, 65536), 65536);

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

#endif
