/*
 * redis: evf_redis(), an asynchronous Redis client on the loop (hiredis's
 * async API and its libev adapter), awaited through futures.
 *
 * DESIGN.  One connection per loop thread (per worker process), made on
 * that worker's loop the first time a command needs it, after the fork.
 * Every request's commands go down the same connection: hiredis appends
 * them to its output buffer and writes when the socket is writable, so
 * commands from concurrent requests are pipelined, and its replies come
 * back in order to the callbacks.  A command's callback gets a future
 * (future.c) as its user pointer: the reply is copied into one block the
 * future owns (hiredis frees its own after the callback), so the request
 * reads it until it ends, and a reply for a request that was cancelled or
 * expired is freed without touching the request.
 *
 * Failures.  hiredis calls every pending callback with no reply when the
 * connection fails or closes: those commands answer EVF_EREDIS (503).
 * After a failed connection attempt, commands fail at once (no waiting
 * on a dead server) until the backoff passes, which doubles from 50 ms to
 * 2 s; a connection lost after it was up is retried by the next command.
 * A server that stops answering is cut off after the command timeout
 * (default 5 s, ?timeout= in the URL), which fails what was pending.
 * Causes are logged, at most once a second with the count of failures
 * in between.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#include <hiredis/adapters/libev.h>
#pragma GCC diagnostic pop

#include "evfcgi.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "pool.h"
#include "redis.h"
#include "request.h"
#include "stats.h"

#define BACKOFF_MIN 0.05
#define BACKOFF_MAX 2.0
#define TIMEOUT_DEFAULT 5.0

struct evf_redis_reply {
    int type;                   /* EVF_REDIS_* */
    long long integer;
    size_t len;                 /* string bytes, or array elements */
    char *str;
    struct evf_redis_reply *elem;
};

typedef struct client {
    char *host;                 /* TCP, or */
    char *path;                 /* a unix socket */
    int port;
    int db;
    double timeout;             /* seconds without a reply: cut off */
    redisAsyncContext *ac;      /* NULL: not connected */
    bool up;                    /* connected (not only connecting) */
    double retry_at;            /* loop clock: no attempt before */
    double backoff;
    char cause[160];            /* why the last command failed */
    unsigned pending;           /* commands sent, not answered */
    double progress;            /* loop clock: last reply or first send */
    ev_timer watchdog;
    double logged_at;
    unsigned unlogged;          /* failures since the last log line */
} client_t;

static _Thread_local client_t *cli;

/* ---- the URL ------------------------------------------------------------- */

/* redis://HOST[:PORT][/DB][?timeout=S] or unix:PATH[?timeout=S]. */
static int
parse_url(client_t *c, const char *url)
{
    char buf[512];
    if (!url || strlen(url) >= sizeof(buf))
        return EVF_EINVAL;
    strcpy(buf, url);
    char *q = strchr(buf, '?');
    c->timeout = TIMEOUT_DEFAULT;
    if (q) {
        *q++ = '\0';
        if (strncmp(q, "timeout=", 8) != 0)
            return EVF_EINVAL;
        char *end;
        c->timeout = strtod(q + 8, &end);
        if (*end || !(c->timeout > 0))
            return EVF_EINVAL;
    }
    if (strncmp(buf, "unix:", 5) == 0) {
        const char *p = buf + 5;
        if (*p != '/')
            return EVF_EINVAL;
        c->path = evf_malloc(strlen(p) + 1);
        if (!c->path)
            return EVF_EINVAL;
        strcpy(c->path, p);
        return 0;
    }
    if (strncmp(buf, "redis://", 8) != 0)
        return EVF_EINVAL;
    char *h = buf + 8, *slash = strchr(h, '/'), *colon;
    c->port = 6379;
    if (slash) {
        char *end;
        *slash = '\0';
        long db = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || db < 0 || db > 1000)
            return EVF_EINVAL;
        c->db = (int)db;
    }
    colon = strrchr(h, ':');
    if (colon) {
        char *end;
        *colon = '\0';
        long port = strtol(colon + 1, &end, 10);
        if (*end || port <= 0 || port > 65535)
            return EVF_EINVAL;
        c->port = (int)port;
    }
    if (!*h)
        return EVF_EINVAL;
    c->host = evf_malloc(strlen(h) + 1);
    if (!c->host)
        return EVF_EINVAL;
    strcpy(c->host, h);
    return 0;
}

/* ---- the connection ------------------------------------------------------ */

static double
now(void)
{
    return ev_now(evf__loop());
}

/* A command failed: log why, at most once a second. */
static void
report(client_t *c, evf_req *r)
{
    double t = evf__now();
    if (c->logged_at && t - c->logged_at < 1.0) {
        c->unlogged++;
        return;
    }
    if (r)
        evf_log(r, EVF_LOG_WARN, "Redis unavailable (%u more failures "
                "since the last report): %s", c->unlogged, c->cause);
    else
        evf_log_warn("Redis unavailable: %s", c->cause);
    c->logged_at = t;
    c->unlogged = 0;
}

/* The connection attempt failed: back off. */
static void
attempt_failed(client_t *c, const char *why)
{
    if (c->path)
        snprintf(c->cause, sizeof(c->cause), "cannot connect to %s: %s",
                 c->path, why);
    else
        snprintf(c->cause, sizeof(c->cause), "cannot connect to %s:%d: %s",
                 c->host, c->port, why);
    c->ac = NULL;
    c->up = false;
    c->retry_at = now() + c->backoff;
    c->backoff = c->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : c->backoff * 2;
    report(c, NULL);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    client_t *c = ac->data;
    if (!c || c->ac != ac)
        return;
    if (status != REDIS_OK) {
        attempt_failed(c, ac->errstr);  /* hiredis frees ac after this */
        return;
    }
    c->up = true;
    c->backoff = BACKOFF_MIN;
    if (c->path)
        evf_log_info("Redis: connected to %s", c->path);
    else
        evf_log_info("Redis: connected to %s:%d", c->host, c->port);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    client_t *c = ac->data;
    if (!c || c->ac != ac)
        return;
    c->ac = NULL;
    c->up = false;
    if (status != REDIS_OK) {
        snprintf(c->cause, sizeof(c->cause), "connection lost: %s",
                 ac->errstr);
        report(c, NULL);
    }
    /* The next command reconnects at once. */
    c->retry_at = 0;
}

/* Cut off a server that stopped answering. */
static void
watchdog_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    client_t *c = w->data;
    (void)revents;
    if (!c->ac || !c->pending) {
        ev_timer_stop(loop, w);
        return;
    }
    double idle = ev_now(loop) - c->progress;
    if (idle < c->timeout) {
        ev_timer_set(w, c->timeout - idle, 0.);
        ev_timer_start(loop, w);
        return;
    }
    redisAsyncContext *ac = c->ac;
    snprintf(c->cause, sizeof(c->cause), "no answer for %.1f s: "
             "connection dropped", idle);
    report(c, NULL);
    c->ac = NULL;
    c->up = false;
    c->retry_at = 0;
    redisAsyncFree(ac);     /* pending commands fail (EVF_EREDIS) */
}

static int
connect_now(client_t *c)
{
    redisAsyncContext *ac = c->path ? redisAsyncConnectUnix(c->path)
                                    : redisAsyncConnect(c->host, c->port);
    if (!ac) {
        attempt_failed(c, "out of memory");
        return -1;
    }
    if (ac->err) {
        attempt_failed(c, ac->errstr);
        redisAsyncFree(ac);
        return -1;
    }
    ac->data = c;
    if (redisLibevAttach(evf__loop(), ac) != REDIS_OK) {
        attempt_failed(c, "cannot attach to the loop");
        redisAsyncFree(ac);
        return -1;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    c->up = false;
    if (c->db)
        redisAsyncCommand(ac, NULL, NULL, "SELECT %d", c->db);
    return 0;
}

int
evf_redis_open(const char *url)
{
    if (cli)
        evf_redis_close();
    client_t *c = evf_calloc(1, sizeof(*c));
    if (!c)
        return EVF_EINVAL;
    if (parse_url(c, url) < 0) {
        evf_log_error("Redis: bad URL '%s' (redis://HOST[:PORT][/DB] or "
                      "unix:/PATH, optionally ?timeout=SECONDS)",
                      url ? url : "(null)");
        evf_free(c->host);
        evf_free(c->path);
        evf_free(c);
        return EVF_EINVAL;
    }
    c->backoff = BACKOFF_MIN;
    ev_init(&c->watchdog, watchdog_cb);
    c->watchdog.data = c;
    cli = c;
    return 0;
}

void
evf_redis_close(void)
{
    client_t *c = cli;
    if (!c)
        return;
    cli = NULL;
    ev_timer_stop(evf__loop(), &c->watchdog);
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        redisAsyncFree(ac);     /* pending callbacks get no reply */
    }
    evf_free(c->host);
    evf_free(c->path);
    evf_free(c);
}

/* ---- replies ------------------------------------------------------------- */

#define ALIGN(n) (((n) + 15) & ~(size_t)15)

static int
type_of(int hiredis_type)
{
    switch (hiredis_type) {
    case REDIS_REPLY_STRING:  return EVF_REDIS_STRING;
    case REDIS_REPLY_ARRAY:   return EVF_REDIS_ARRAY;
    case REDIS_REPLY_INTEGER: return EVF_REDIS_INTEGER;
    case REDIS_REPLY_STATUS:  return EVF_REDIS_STATUS;
    case REDIS_REPLY_ERROR:   return EVF_REDIS_ERROR;
    default:                  return EVF_REDIS_NIL;
    }
}

/* Bytes x needs beyond its own node. */
static size_t
extra_size(const redisReply *x)
{
    switch (x->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        return ALIGN(x->len + 1);
    case REDIS_REPLY_ARRAY: {
        size_t n = x->elements * ALIGN(sizeof(evf_redis_reply));
        for (size_t i = 0; i < x->elements; i++)
            n += x->element[i] ? extra_size(x->element[i]) : 0;
        return n;
    }
    default:
        return 0;
    }
}

static void
copy_into(evf_redis_reply *d, const redisReply *x, char **cur)
{
    memset(d, 0, sizeof(*d));
    d->type = x ? type_of(x->type) : EVF_REDIS_NIL;
    if (!x)
        return;
    switch (d->type) {
    case EVF_REDIS_STRING:
    case EVF_REDIS_STATUS:
    case EVF_REDIS_ERROR:
        d->str = *cur;
        d->len = x->len;
        if (x->len)
            memcpy(d->str, x->str, x->len);
        d->str[x->len] = '\0';
        *cur += ALIGN(x->len + 1);
        break;
    case EVF_REDIS_INTEGER:
        d->integer = x->integer;
        break;
    case EVF_REDIS_ARRAY:
        d->len = x->elements;
        d->elem = (evf_redis_reply *)*cur;
        *cur += x->elements * ALIGN(sizeof(evf_redis_reply));
        for (size_t i = 0; i < x->elements; i++)
            copy_into(&d->elem[i], x->element[i], cur);
        break;
    }
}

/* One block holding the whole reply, or NULL when out of memory. */
static evf_redis_reply *
copy_reply(const redisReply *x)
{
    size_t head = ALIGN(sizeof(evf_redis_reply));
    char *p = evf_malloc(head + extra_size(x));
    if (!p)
        return NULL;
    char *cur = p + head;
    copy_into((evf_redis_reply *)p, x, &cur);
    return (evf_redis_reply *)p;
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    client_t *c = ac->data;
    evf_future *f = privdata;
    if (c && c->pending) {
        c->pending--;
        c->progress = now();
    }
    if (!reply) {
        evf_future_resolve(f, EVF_EREDIS, NULL);
        return;
    }
    evf_redis_reply *copy = copy_reply(reply);
    evf_future_resolve(f, copy ? 0 : EVF_EREDIS, copy);
}

/* ---- commands ------------------------------------------------------------ */

static void
free_reply(void *v)
{
    evf_free(v);
}

static evf_future *
vsend(evf_req *r, const char *fmt, va_list ap)
{
    if (evf_pool_on_thread()) {
        evf__req_misuse(r, "evf_redis");
        return NULL;
    }
    evf_future *f = evf_future_new(r, free_reply);
    if (!f)
        return NULL;
    client_t *c = cli;
    if (!c) {
        evf_log(r, EVF_LOG_ERROR, "evf_redis: no Redis configured (call "
                "evf_redis_open in the app's startup)");
        evf_future_resolve(f, EVF_EREDIS, NULL);
        return f;
    }
    if (!c->ac && (now() < c->retry_at || connect_now(c) < 0)) {
        report(c, r);
        evf_future_resolve(f, EVF_EREDIS, NULL);
        return f;
    }
    if (redisvAsyncCommand(c->ac, on_reply, f, fmt, ap) != REDIS_OK) {
        snprintf(c->cause, sizeof(c->cause), "cannot send the command%s%s",
                 c->ac->errstr ? ": " : "",
                 c->ac->errstr ? c->ac->errstr : "");
        report(c, r);
        evf_future_resolve(f, EVF_EREDIS, NULL);
        return f;
    }
    if (!c->pending++)
        c->progress = now();
    if (!ev_is_active(&c->watchdog)) {
        ev_timer_set(&c->watchdog, c->timeout, 0.);
        ev_timer_start(evf__loop(), &c->watchdog);
    }
    return f;
}

evf_future *
evf_redis_send(evf_req *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evf_future *f = vsend(r, fmt, ap);
    va_end(ap);
    return f;
}

int
evf_redis_get(evf_req *r, evf_future *f, const evf_redis_reply **reply)
{
    void *v = NULL;
    if (reply)
        *reply = NULL;
    if (!f)
        return EVF_EREDIS;
    int rc = evf_future_await(r, f, &v);
    if (rc < 0)
        return rc;
    if (reply)
        *reply = v;
    if (v && ((evf_redis_reply *)v)->type == EVF_REDIS_ERROR)
        return EVF_EREDISCMD;
    return 0;
}

int
evf_redis(evf_req *r, const evf_redis_reply **reply, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evf_future *f = vsend(r, fmt, ap);
    va_end(ap);
    return evf_redis_get(r, f, reply);
}

int
evf_redis_raise(evf_req *r, int rc, const evf_redis_reply *reply)
{
    static const char *const retry[] = { "Retry-After: 1", NULL };
    switch (rc) {
    case EVF_ETIMEDOUT:
        return evf_raise(r, 504, "Gateway Timeout");
    case EVF_EREDISCMD:
        evf_log(r, EVF_LOG_ERROR, "Redis answered an error: %s",
                evf_redis_str(reply, NULL) ? evf_redis_str(reply, NULL)
                                           : "(none)");
        return evf_raise(r, 500, "Internal Server Error");
    default:
        return evf_raise_headers(r, 503, "Service Unavailable", retry);
    }
}

/* ---- reading replies ----------------------------------------------------- */

int
evf_redis_type(const evf_redis_reply *x)
{
    return x ? x->type : EVF_REDIS_NIL;
}

const char *
evf_redis_str(const evf_redis_reply *x, size_t *len)
{
    if (len)
        *len = 0;
    if (!x || !x->str)
        return NULL;
    if (len)
        *len = x->len;
    return x->str;
}

bool
evf_redis_int(const evf_redis_reply *x, long long *v)
{
    if (!x)
        return false;
    if (x->type == EVF_REDIS_INTEGER) {
        *v = x->integer;
        return true;
    }
    if (x->type != EVF_REDIS_STRING || !x->len || x->len > 20)
        return false;
    char *end;
    errno = 0;
    long long n = strtoll(x->str, &end, 10);
    if (end != x->str + x->len || errno)
        return false;
    *v = n;
    return true;
}

size_t
evf_redis_len(const evf_redis_reply *x)
{
    return x && x->type == EVF_REDIS_ARRAY ? x->len : 0;
}

const evf_redis_reply *
evf_redis_at(const evf_redis_reply *x, size_t i)
{
    if (!x || x->type != EVF_REDIS_ARRAY || i >= x->len)
        return NULL;
    return &x->elem[i];
}

/* ---- for tests ----------------------------------------------------------- */

unsigned
evf__redis_pending(void)
{
    return cli ? cli->pending : 0;
}

bool
evf__redis_connected(void)
{
    return cli && cli->up;
}
