/*
 * fcgi_client.c -- raw FastCGI client for the evfcgi tests.
 *
 * Talks FastCGI straight to evfcgid, with no web server in between, so the
 * test suite can exercise protocol corner cases (multiplexing, aborts,
 * malformed input).  Depends only on libc and the wire constants of
 * <fastcgi.h>; records are encoded and decoded by tests/common/fcgi_wire.h
 * and requests built by tests/common/fcgi_req.h, shared with the load
 * generator in bench/fcgi_load.c.
 *
 * Subcommands: request, get-values, unknown-type, multiplex, abort,
 * garbage (see usage() and tests/tools/README).  Results go to stdout,
 * diagnostics to stderr.  Exit status: 0 success, 1 assertion or protocol
 * failure (including timeouts), 2 usage, connect or local error.  Every
 * wait for the server is bounded by poll() with the -t timeout (default
 * 10 s): a silent server fails a test instead of hanging it.
 */

#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>

#include "fcgi_req.h"
#include "fcgi_conn.h"

struct opts {
    int timeout_ms;         /* -t: bound on every wait */
    uint64_t seed;          /* -s: PRNG seed for garbage random */
    int keep;               /* -k: FCGI_KEEP_CONN on request */
    int summary;            /* -r: print status=/bytes= instead of body */
    const char *body;       /* -b: body file, "-" for stdin */
    const char *nopt;       /* -n: next URI (abort) */
    const char *method;     /* -m: method for multiplex */
    char **hdrs;            /* -H 'Name: value' */
    int nhdrs;
    char **params;          /* -p NAME=VALUE */
    int nparams;
    char **pos;             /* positional arguments, pos[0] = subcommand */
    int npos;
};

/* ---- subcommands ---- */

static int
cmd_request(struct opts *o)
{
    struct spec s;
    struct fw_buf body = { 0 };
    struct resp rs;
    struct conn c;
    int rc = RC_FAIL;

    spec_init(&s, o->pos[2], o->pos[3], o->hdrs, o->nhdrs,
              o->params, o->nparams);
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
    struct fw_buf q = { 0 };
    struct conn c;
    struct fw_rec r;
    const uint8_t *p, *nm, *val;
    size_t off = 0, nl, vl, i;
    int n, rc = RC_OK;

    for (i = 0; i < 3; i++)
        fw_nv_add(&q, names[i], strlen(names[i]), "", 0);
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0)
        return RC_USAGE;
    fw_rec_add(&c.out, FCGI_GET_VALUES, FCGI_NULL_REQUEST_ID, q.p, q.len,
            fw_pad8(q.len));
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
    while (rc == RC_OK && (n = fw_nv_get(p, r.clen, &off, &nm, &nl, &val,
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
    struct fw_rec r;
    const uint8_t *p;
    int n, rc = RC_FAIL;

    if (o->npos > 2 && num(o->pos[2], 0, 255, &type) < 0) {
        msg("TYPE must be 0..255");
        return RC_USAGE;
    }
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0)
        return RC_USAGE;
    fw_rec_add(&c.out, (int)type, FCGI_NULL_REQUEST_ID, junk, sizeof junk,
            fw_pad8(sizeof junk));
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
    struct fw_buf base = { 0 }, pb = { 0 }, body = { 0 }, *recs;
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
    spec_init(&s, o->method ? o->method : "GET", o->pos[3], o->hdrs, o->nhdrs,
              o->params, o->nparams);
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
        fw_add(&pb, base.p, base.len);
        snprintf(id, sizeof id, "%u", i);
        fw_nv_add(&pb, "HTTP_X_MPX_ID", 13, id, strlen(id));
        if (i % 2)
            fw_nv_add(&pb, "HTTP_X_MPX_PAD", 14, pad, sizeof pad);
        fw_begin_add(&recs[i], i, FCGI_RESPONDER, FCGI_KEEP_CONN);
        while (off < pb.len) {
            size_t sz = 1 + (i * 31 + k * 17) % 61;

            if (sz > pb.len - off)
                sz = pb.len - off;
            fw_rec_add(&recs[i], FCGI_PARAMS, i, pb.p + off, sz, (i + k) % 9);
            off += sz;
            k++;
        }
        fw_rec_add(&recs[i], FCGI_PARAMS, i, NULL, 0, 0);
        fw_stream_add(&recs[i], FCGI_STDIN, i, body.p, body.len);
        fw_rec_add(&recs[i], FCGI_STDIN, i, NULL, 0, 0);
        cur[i] = 0;
    }
    do {
        any = 0;
        for (i = 1; i <= n; i++) {
            struct fw_rec r;

            if (cur[i] == recs[i].len)
                continue;
            fw_hdr_get(recs[i].p + cur[i], &r);
            r.clen += FCGI_HEADER_LEN + r.plen;
            fw_add(&c.out, recs[i].p + cur[i], r.clen);
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
        struct fw_rec r;
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
        struct fw_rec r;
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
    spec_init(&s, "GET", o->pos[2], o->hdrs, o->nhdrs,
              o->params, o->nparams);
    req_encode(&c.out, 1, FCGI_KEEP_CONN, &s, NULL, 0);
    memset(&rs, 0, sizeof rs);
    t0 = now_us();
    deadline = t0 + delay * 1000;

    /* Before the abort nothing but STDERR may arrive. */
    for (;;) {
        struct fw_rec r;
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
    fw_rec_add(&c.out, FCGI_ABORT_REQUEST, 1, NULL, 0, 0);
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
    spec_init(&s, "GET", o->nopt ? o->nopt : "/hello", o->hdrs, o->nhdrs,
              o->params, o->nparams);
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
    struct fw_buf b = { 0 };
    struct conn c;
    uint8_t *p;
    int shut = 0, rc = RC_FAIL, i;

    if (strcmp(kind, "bad-version") == 0) {
        fw_begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        b.p[0] = 2;
    } else if (strcmp(kind, "begin-bad-length") == 0) {
        static const uint8_t body[7] = { 0, FCGI_RESPONDER, FCGI_KEEP_CONN };

        fw_rec_add(&b, FCGI_BEGIN_REQUEST, 1, body, sizeof body, 0);
    } else if (strcmp(kind, "unknown-id") == 0) {
        struct fw_buf pb = { 0 };

        fw_nv_add(&pb, "REQUEST_METHOD", 14, "GET", 3);
        fw_rec_add(&b, FCGI_PARAMS, 7, pb.p, pb.len, fw_pad8(pb.len));
        free(pb.p);
    } else if (strcmp(kind, "duplicate-begin") == 0) {
        fw_begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        fw_begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
    } else if (strcmp(kind, "stdin-before-params-end") == 0) {
        struct fw_buf pb = { 0 };

        fw_begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        fw_nv_add(&pb, "REQUEST_METHOD", 14, "POST", 4);
        fw_nv_add(&pb, "CONTENT_LENGTH", 14, "5", 1);
        fw_rec_add(&b, FCGI_PARAMS, 1, pb.p, pb.len, fw_pad8(pb.len));
        fw_rec_add(&b, FCGI_STDIN, 1, "hello", 5, 3);
        free(pb.p);
    } else if (strcmp(kind, "random") == 0) {
        /* Random bytes may form a valid header announcing more content
         * than is sent; the half-close makes closing the only correct
         * reaction whatever the seed. */
        uint64_t seed = o->seed;

        p = fw_room(&b, 256);
        for (i = 0; i < 256; i++)
            p[i] = (uint8_t)(rnd(&seed) >> 56);
        b.len = 256;
        shut = 1;
    } else if (strcmp(kind, "truncated") == 0) {
        fw_begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        b.len = FCGI_HEADER_LEN / 2;
        shut = 1;
    } else if (strcmp(kind, "huge-params") == 0) {
        /* Name length 0x7fffffff (4-byte form), value length 1. */
        static const uint8_t pair[] = {
            0xff, 0xff, 0xff, 0xff, 0x01, 'H', 'T', 'T', 'P', '_', 'X'
        };

        fw_begin_add(&b, 1, FCGI_RESPONDER, FCGI_KEEP_CONN);
        fw_rec_add(&b, FCGI_PARAMS, 1, pair, sizeof pair, fw_pad8(sizeof pair));
    } else if (strcmp(kind, "unknown-role") == 0) {
        fw_begin_add(&b, 1, FCGI_AUTHORIZER, FCGI_KEEP_CONN);
    } else {
        msg("unknown garbage KIND '%s'", kind);
        return RC_USAGE;
    }
    if (conn_open(&c, o->pos[1], o->timeout_ms) < 0) {
        free(b.p);
        return RC_USAGE;
    }
    fw_add(&c.out, b.p, b.len);
    free(b.p);

    if (strcmp(kind, "unknown-role") == 0) {
        struct fw_rec r;
        const uint8_t *q;
        int n = next_record(&c, &r, &q, o->timeout_ms);

        if (n <= 0)
            rec_fail(&c, n, o->timeout_ms, "END_REQUEST");
        else if (r.type != FCGI_END_REQUEST || r.id != 1 || r.clen != 8)
            msg("got record type %d id %u length %zu, expected END_REQUEST "
                "id 1 length 8", r.type, r.id, r.clen);
        else if (q[4] != FCGI_UNKNOWN_ROLE)
            msg("protocolStatus %d (%s), expected UNKNOWN_ROLE", q[4],
                fw_pstatus_name(q[4]));
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
"options: -t SECONDS timeout for every wait (default 10); -m METHOD for\n"
"multiplex; -H, -p, -b also apply to multiplex\n"
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
};

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    static struct opts o;   /* static: its arrays stay reachable for LSan */
    double d;
    char *end;
    size_t i;
    int c;

    prog = "fcgi-client";
    memset(&o, 0, sizeof o);
    o.timeout_ms = 10000;
    o.seed = 1;
    o.hdrs = xrealloc(NULL, sizeof *o.hdrs * (size_t)argc);
    o.params = xrealloc(NULL, sizeof *o.params * (size_t)argc);
    o.pos = xrealloc(NULL, sizeof *o.pos * (size_t)argc);
    signal(SIGPIPE, SIG_IGN);

    /* Leading '-': positionals come back in order as option 1, so options
     * may follow them even under POSIXLY_CORRECT. */
    while ((c = getopt_long(argc, argv, "-t:s:krb:H:p:n:m:h",
                            longopts, NULL)) != -1) {
        switch (c) {
        case 1:
            o.pos[o.npos++] = optarg;
            break;
        case 't':
            d = strtod(optarg, &end);
            if (*end != '\0' || end == optarg || !(d > 0 && d < 1e6)) {
                msg("-t needs a positive number of seconds");
                return RC_USAGE;
            }
            o.timeout_ms = d * 1000 < 1 ? 1 : (int)(d * 1000);
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
