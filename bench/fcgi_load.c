/*
 * fcgi_load.c -- FastCGI load generator for the evfcgi benchmarks.
 *
 * Keeps PENDING requests in flight over a few FCGI_KEEP_CONN connections
 * straight to evfcgid (no web server in between), replacing each finished
 * request at once, and prints throughput and latency; or, with --hold,
 * queues them all and sits idle, to measure the server's memory per
 * pending request (bench/pending.sh).  Records come from
 * tests/common/fcgi_wire.h and requests from tests/common/fcgi_req.h, the
 * helpers the test client tests/tools/fcgi_client.c uses too.
 *
 * usage: fcgi-load ADDR URI -n PENDING [-c CONNS] [-d SECONDS] [-N TOTAL]
 *        [--hold] [-m METHOD] [-H 'Name: v']... [-p N=V]... [-b FILE|-]
 *        [-t SECONDS]
 * See bench/README.md.  Exit status: 0 success, 1 errors (non-2xx,
 * protocol problems, lost requests) or a timeout, 2 usage, connect or
 * local error.  Every wait is bounded by -t (default 10 s) except --hold's,
 * which ends on a signal, after -d seconds, or when the server closes a
 * connection.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>

#include "fcgi_req.h"

struct opts {
    int timeout_ms;         /* -t: bound on every wait */
    int hold;               /* --hold */
    const char *body;       /* -b: body file, "-" for stdin */
    const char *nopt;       /* -n: PENDING */
    const char *method;     /* -m */
    long conns;             /* -c */
    double duration;        /* -d, < 0 when not given */
    long long total;        /* -N, 0 when not given */
    char **hdrs;            /* -H 'Name: value' */
    int nhdrs;
    char **params;          /* -p NAME=VALUE */
    int nparams;
    const char *addr;       /* positional arguments */
    const char *uri;
};


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
    struct fw_buf out;
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
    struct fw_buf tpl;         /* one encoded request with id 0 */
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
        p = fw_room(&c->out, L->tpl.len);
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
l_rec(struct load *L, struct lconn *c, const struct fw_rec *r, const uint8_t *p)
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
            struct fw_rec r;
            size_t need;

            fw_hdr_get(c->in + pos, &r);
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
    struct fw_buf body = { 0 };
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
    spec_init(&s, o->method ? o->method : "GET", o->uri, o->hdrs, o->nhdrs,
              o->params, o->nparams);
    if (o->body != NULL) {
        if (body_read(o->body, &body) < 0)
            return RC_USAGE;
        s.has_body = 1;
        s.body_len = body.len;
    }
    req_encode(&L.tpl, 0, FCGI_KEEP_CONN, &s, body.p, body.len);
    free(body.p);
    for (off = 0; off < L.tpl.len; L.ntpl_hdr++) {
        struct fw_rec r;

        fw_hdr_get(L.tpl.p + off, &r);
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

        c->fd = sock_open(o->addr, o->timeout_ms);
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

static int
usage(void)
{
    fprintf(stderr,
"usage: %s ADDR URI -n PENDING [-c CONNS] [-d SECONDS] [-N TOTAL] [--hold]\n"
"       [-m METHOD] [-H 'Name: v']... [-p N=V]... [-b FILE|-] [-t SECONDS]\n"
"ADDR: HOST:PORT, [V6]:PORT or unix:/path\n"
"exit: 0 ok, 1 errors or timeout, 2 usage/connect error\n",
            prog);
    return RC_USAGE;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "hold", no_argument, NULL, 'O' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static struct opts o;   /* static: its arrays stay reachable for LSan */
    const char *pos[2];
    int npos = 0;
    long long v;
    double d;
    char *end;
    int c;

    prog = "fcgi-load";
    memset(&o, 0, sizeof o);
    o.timeout_ms = 10000;
    o.duration = -1;
    o.hdrs = xrealloc(NULL, sizeof *o.hdrs * (size_t)argc);
    o.params = xrealloc(NULL, sizeof *o.params * (size_t)argc);
    signal(SIGPIPE, SIG_IGN);

    /* Leading '-': positionals come back in order as option 1, so options
     * may follow them even under POSIXLY_CORRECT. */
    while ((c = getopt_long(argc, argv, "-t:b:H:p:n:c:d:N:m:h",
                            longopts, NULL)) != -1) {
        switch (c) {
        case 1:
            if (npos == 2) {
                msg("too many arguments");
                return usage();
            }
            pos[npos++] = optarg;
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
    if (npos != 2)
        return usage();
    o.addr = pos[0];
    o.uri = pos[1];
    return cmd_load(&o);
}
