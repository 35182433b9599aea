/*
 * http_client: evf_http(), libcurl's multi-socket API on the loop.
 *
 * DESIGN.  SHARDS CURLM handles per loop thread, each with its own
 * connection cache (see SHARDS).  curl tells us which sockets to watch
 * (socket callback: one ev_io per socket, allocated by us and kept in
 * curl's socket pointer) and when to call it back (timer callback: one
 * ev_timer per CURLM, milliseconds converted to seconds as a double so
 * sub-second timeouts stay sub-second).  Our watchers call
 * curl_multi_socket_action; finished transfers are collected with
 * curl_multi_info_read and their tasks woken.  The multi handles keep
 * finished connections for reuse by later requests of the worker.  curl
 * resolves names in its own threads (the Debian build has the threaded
 * resolver), so the loop never blocks.
 *
 * A transfer lives in its request's arena; a cleanup registered with the
 * request removes it from the multi handle if the request ends first
 * (cancellation closes the upstream connection).  Easy handles of
 * finished transfers are kept (up to EASY_CACHE) for the next ones:
 * creating one allocates and initialises several kilobytes.  A kept
 * handle holds the options every transfer shares (set once, when it is
 * created) and those every transfer sets anew; only one whose transfer
 * set anything else (a method, a body, headers) is reset, and one whose
 * CA bundle differs from the next transfer's.  A reset costs about as
 * much as the rest of the set-up together.
 *
 * HTTP/2 (evf_http_opts.http2): the multi handle multiplexes, and such a
 * transfer waits for a connection being set up to the same upstream
 * (CURLOPT_PIPEWAIT) rather than opening one of its own.
 */
#include "config.h"

#include <curl/curl.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "http_client.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "pool.h"
#include "request.h"
#include "settings.h"

/*
 * Kept easy handles (about 20 KiB each with curl's buffers): up to one per
 * transfer of a busy worker (a thousand upstream requests in flight made
 * one in nine transfers create a handle with 256), but no more than
 * EASY_IDLE once the worker has no transfer running.
 */
#define EASY_CACHE 1024
#define EASY_IDLE 32

/*
 * Multi handles per loop thread, each with its own connection cache.
 * libcurl 7.88 walks the whole cache twice per transfer (looking for a
 * connection to reuse, and again when the handle is removed), so with
 * one cache a thousand upstream connections cost each request two walks
 * of a thousand entries (a third of its instructions at 1,000 HTTP/1.1
 * requests in flight, one connection each).  A transfer goes to
 * the first shard running fewer than SHARD_FILL transfers (else to the
 * least busy), so a worker with little traffic uses the first shard only:
 * its few kept connections, and HTTP/2 multiplexing over one connection.
 */
#define SHARDS 8
#define SHARD_FILL 128
/* Kept upstream connections, in all (CURLMOPT_MAXCONNECTS per shard). */
#define MAX_CONNECTS 1024

/* A kept easy handle and the CA bundle it was last given (NULL: none). */
typedef struct easy {
    CURL *h;
    char *ca_file;                  /* malloc'd copy */
} easy_t;

/* One multi handle, its timer, and how many transfers it runs. */
typedef struct shard {
    CURLM *multi;
    ev_timer timer;                 /* data: this shard */
    int active;                     /* added and not yet removed */
} shard_t;

typedef struct transfer {
    easy_t easy;
    shard_t *sh;                    /* NULL once removed */
    bool special;                   /* set options beyond the shared ones */
    size_t cap;                     /* most bytes of the body kept */
    struct curl_slist *hdrs;
    evf_buf_t body;
    evf_buf_t head;
    evf_task_t *task;
    evf_req *req;
    CURLcode result;
    bool done;
    bool too_big;
    char errbuf[CURL_ERROR_SIZE];
} transfer_t;

typedef struct sock {
    ev_io io;
    curl_socket_t fd;
    shard_t *sh;
} sock_t;

static _Thread_local struct {
    shard_t *shard;                 /* SHARDS (NULL: not set up) */
    int active;                     /* transfers running, all shards */
    easy_t *easy;                   /* EASY_CACHE handles ready for reuse
                                     * (on the heap: thread-locals are
                                     * copied into every thread) */
    size_t neasy;
} hc;

static bool global_done;

int
evf_http_global_init(void)
{
    if (global_done)
        return 0;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -1;
    global_done = true;
    return 0;
}

/* Take t's handle out of its multi handle (if still in one). */
static void
transfer_remove(transfer_t *t)
{
    shard_t *sh = t->sh;
    if (!sh)
        return;
    curl_multi_remove_handle(sh->multi, t->easy.h);
    t->sh = NULL;
    sh->active--;
    hc.active--;
}

static void
collect(shard_t *sh)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(sh->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        transfer_t *t = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        if (!t) {
            curl_multi_remove_handle(sh->multi, msg->easy_handle);
            continue;
        }
        transfer_remove(t);
        t->result = msg->data.result;
        t->done = true;
        evf__task_wake(t->task, 0);
    }
}

static void
io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    sock_t *s = (sock_t *)w;
    int flags = (revents & EV_READ ? CURL_CSELECT_IN : 0) |
                (revents & EV_WRITE ? CURL_CSELECT_OUT : 0);
    /* The action may remove the socket, and free s with it. */
    shard_t *sh = s->sh;
    int running;                    /* curl's count; active is ours */
    (void)loop;
    curl_multi_socket_action(sh->multi, s->fd, flags, &running);
    collect(sh);
}

static void
timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    shard_t *sh = w->data;
    int running;
    (void)loop, (void)revents;
    curl_multi_socket_action(sh->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    collect(sh);
}

static int
socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct ev_loop *loop = evf__loop();
    shard_t *sh = userp;
    sock_t *s = socketp;
    (void)easy;

    if (what == CURL_POLL_REMOVE) {
        if (s) {
            ev_io_stop(loop, &s->io);
            evf_free(s);
            curl_multi_assign(sh->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = evf_calloc(1, sizeof(*s));
        if (!s)
            return -1;
        s->fd = fd;
        s->sh = sh;
        ev_init(&s->io, io_cb);
        curl_multi_assign(sh->multi, fd, s);
    }
    int ev = (what & CURL_POLL_IN ? EV_READ : 0) |
             (what & CURL_POLL_OUT ? EV_WRITE : 0);
    ev_io_stop(loop, &s->io);
    ev_io_set(&s->io, fd, ev);
    ev_io_start(loop, &s->io);
    return 0;
}

/* curl wants to be called back in timeout_ms (-1: never). */
static int
timerfn_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct ev_loop *loop = evf__loop();
    shard_t *sh = userp;
    (void)multi;
    ev_timer_stop(loop, &sh->timer);
    if (timeout_ms >= 0) {
        ev_timer_set(&sh->timer, (double)timeout_ms / 1000.0, 0.);
        ev_timer_start(loop, &sh->timer);
    }
    return 0;
}

static void shards_free(void);

static int
setup(void)
{
    if (hc.shard)
        return 0;
    if (evf_http_global_init() < 0)
        return -1;
    if (!hc.easy && !(hc.easy = evf_calloc(EASY_CACHE, sizeof(*hc.easy))))
        return -1;
    if (!(hc.shard = evf_calloc(SHARDS, sizeof(*hc.shard))))
        return -1;
    for (int i = 0; i < SHARDS; i++) {
        shard_t *sh = &hc.shard[i];
        ev_init(&sh->timer, timer_cb);
        sh->timer.data = sh;
        if (!(sh->multi = curl_multi_init())) {
            shards_free();
            return -1;
        }
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
        curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, timerfn_cb);
        curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
        /* Keep idle connections to upstreams for the next requests. */
        curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS,
                          (long)(MAX_CONNECTS / SHARDS));
        curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING,
                          (long)CURLPIPE_MULTIPLEX);
    }
    return 0;
}

/*
 * The first shard running fewer than SHARD_FILL transfers; when all run
 * that many, the one running the fewest.
 */
static shard_t *
shard_pick(void)
{
    shard_t *best = &hc.shard[0];
    for (int i = 0; i < SHARDS; i++) {
        if (hc.shard[i].active < SHARD_FILL)
            return &hc.shard[i];
        if (hc.shard[i].active < best->active)
            best = &hc.shard[i];
    }
    return best;
}

static size_t body_cb(char *p, size_t size, size_t n, void *ud);
static size_t head_cb(char *p, size_t size, size_t n, void *ud);

/* The options every transfer shares: set once per handle. */
static void
easy_base(CURL *e)
{
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, head_cb);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "evfcgi/" PACKAGE_VERSION);
}

static void
easy_destroy(easy_t *e)
{
    curl_easy_cleanup(e->h);
    evf_free(e->ca_file);
    e->h = NULL;
    e->ca_file = NULL;
}

/* Back to the shared options only: what a new handle has. */
static void
easy_reset(easy_t *e)
{
    curl_easy_reset(e->h);
    easy_base(e->h);
    evf_free(e->ca_file);
    e->ca_file = NULL;
}

/*
 * A handle for a transfer with CA bundle ca_file (NULL: the system's),
 * with the shared options set and CURLOPT_CAINFO as asked: a kept one if
 * any, else a new one.  0, or -1 (out of memory; *e is cleared).
 */
static int
easy_get(easy_t *e, const char *ca_file)
{
    if (hc.neasy) {
        *e = hc.easy[--hc.neasy];
    } else {
        e->ca_file = NULL;
        if (!(e->h = curl_easy_init()))
            return -1;
        easy_base(e->h);
    }
    if (!ca_file) {
        /* The default bundle comes back with a reset only. */
        if (e->ca_file)
            easy_reset(e);
        return 0;
    }
    if (e->ca_file && strcmp(e->ca_file, ca_file) == 0)
        return 0;
    evf_free(e->ca_file);
    if (!(e->ca_file = evf_mem_strdup(ca_file))) {
        easy_destroy(e);
        return -1;
    }
    curl_easy_setopt(e->h, CURLOPT_CAINFO, ca_file);
    return 0;
}

/* Keep a handle whose transfer is over (special: reset it first). */
static void
easy_put(easy_t *e, bool special)
{
    if (!hc.shard || hc.neasy == EASY_CACHE ||
        (hc.active == 0 && hc.neasy >= EASY_IDLE)) {
        easy_destroy(e);
        return;
    }
    if (special)
        easy_reset(e);
    hc.easy[hc.neasy++] = *e;
}

static void
shards_free(void)
{
    for (int i = 0; i < SHARDS; i++) {
        shard_t *sh = &hc.shard[i];
        ev_timer_stop(evf__loop(), &sh->timer);
        if (sh->multi)
            curl_multi_cleanup(sh->multi);
    }
    evf_free(hc.shard);
    hc.shard = NULL;
    hc.active = 0;
}

void
evf_http_shutdown(void)
{
    if (!hc.shard)
        return;
    while (hc.neasy)
        easy_destroy(&hc.easy[--hc.neasy]);
    evf_free(hc.easy);
    hc.easy = NULL;
    shards_free();
}

/*
 * The most bytes of an upstream answer kept in memory (its body, and its
 * header block apart): the client's own cap, well below max_body, so
 * that a few huge upstream answers cannot take a worker's memory.
 */
static size_t
upstream_cap(void)
{
    return evf_settings.max_body < EVF_HTTP_MAX_ANSWER
               ? evf_settings.max_body : EVF_HTTP_MAX_ANSWER;
}

/* Append n bytes to b, at most cap in all; 0 (curl fails) beyond it. */
static size_t
append(evf_buf_t *b, transfer_t *t, size_t cap, const char *p, size_t n)
{
    /* The running count: an answer without Content-Length is cut too. */
    if (n > cap - b->len) {
        t->too_big = true;
        return 0;   /* makes curl fail the transfer */
    }
    return evf_buf_append(b, p, n) < 0 ? 0 : n;
}

static size_t
body_cb(char *p, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    return append(&t->body, t, t->cap, p, size * n);
}

static size_t
head_cb(char *p, size_t size, size_t n, void *ud)
{
    transfer_t *t = ud;
    /* Headers have the default cap: max_answer is about the body. */
    return append(&t->head, t, upstream_cap(), p, size * n);
}

/*
 * Whether h2c with prior knowledge can be used: libcurl 7.88 (Debian 12)
 * fails every request after the first on a reused h2c connection ("Error
 * in the HTTP2 framing layer"); libcurl 8 does not.
 */
static bool
h2c_works(void)
{
    static int works = -1;
    if (works < 0)
        works = curl_version_info(CURLVERSION_NOW)->version_num >= 0x080000;
    return works;
}

/* Request cleanup: abort a transfer still running, free its buffers. */
static void
transfer_free(void *arg)
{
    transfer_t *t = arg;
    if (t->easy.h) {
        if (hc.shard)
            transfer_remove(t);
        easy_put(&t->easy, t->special);
    }
    curl_slist_free_all(t->hdrs);
    evf_buf_free(&t->body);
    evf_buf_free(&t->head);
}

/* Copy b into the request's memory, NUL-terminated. */
static char *
keep(evf_req *r, const evf_buf_t *b, size_t *len)
{
    size_t n = evf_buf_used(b);
    char *s = evf_alloc(r, n + 1);
    if (!s)
        return NULL;
    if (n)
        memcpy(s, b->data + b->off, n);
    s[n] = '\0';
    if (len)
        *len = n;
    return s;
}

int
evf_http(evf_req *r, const evf_http_opts *o, evf_http_response *resp)
{
    memset(resp, 0, sizeof(*resp));
    resp->body = resp->headers = (char *)"";
    if (evf_pool_on_thread()) {
        resp->error = "called on a pool thread";
        return evf__req_misuse(r, "evf_http");
    }
    if (setup() < 0) {
        resp->error = "HTTP client unavailable";
        return EVF_EHTTP;
    }
    /* The request's deadline bounds the wait below (the scheduler's). */
    double timeout = o->timeout;

    transfer_t *t = evf_alloc(r, sizeof(*t));
    if (!t) {
        resp->error = "out of memory";
        return EVF_EHTTP;
    }
    memset(t, 0, sizeof(*t));
    t->req = r;
    t->task = evf__req_task(r);
    t->cap = upstream_cap();
    if (o->max_answer && o->max_answer < t->cap)
        t->cap = o->max_answer;
    if (easy_get(&t->easy, o->ca_file) < 0) {
        resp->error = "out of memory";
        return EVF_EHTTP;
    }
    if (evf_defer(r, transfer_free, t) < 0) {
        easy_destroy(&t->easy);
        resp->error = "out of memory";
        return EVF_EHTTP;
    }
    /* Every transfer sets these, so a kept handle needs no reset. */
    CURL *e = t->easy.h;
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    /* A Content-Length over the cap fails at once, before any byte. */
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)t->cap);
    long version = CURL_HTTP_VERSION_NONE;
    if (o->http2) {
        if (strncasecmp(o->url, "https:", 6) == 0)
            version = CURL_HTTP_VERSION_2TLS;
        else if (h2c_works())
            version = CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    }
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, version);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, o->http2 ? 1L : 0L);
    long ms = 0;
    if (timeout > 0) {
        ms = (long)(timeout * 1000 + 0.5);
        if (ms <= 0)
            ms = 1;
    }
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ms);
    /* The rest only when asked for; the handle is reset after them. */
    const char *method = o->method ? o->method : "GET";
    t->special = strcmp(method, "GET") != 0 || o->body || o->headers;
    if (strcmp(method, "GET") != 0)
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    if (o->body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)o->body_len);
    }
    for (const char *const *h = o->headers; h && *h; h++) {
        struct curl_slist *l = curl_slist_append(t->hdrs, *h);
        if (!l) {
            resp->error = "out of memory";
            return EVF_EHTTP;
        }
        t->hdrs = l;
    }
    if (t->hdrs)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->hdrs);

    shard_t *sh = shard_pick();
    if (curl_multi_add_handle(sh->multi, e) != CURLM_OK) {
        resp->error = "cannot start the transfer";
        return EVF_EHTTP;
    }
    t->sh = sh;
    sh->active++;
    hc.active++;
    while (!t->done) {
        if (evf__task_await(t->task) == EVF_ETIMEDOUT && !t->done) {
            /* The deadline passed and the handler asked to hear it. */
            transfer_remove(t);
            t->done = true;
            resp->error = "deadline passed";
            return EVF_ETIMEDOUT;
        }
    }

    long status = 0;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    resp->status = status;
    resp->body = keep(r, &t->body, &resp->body_len);
    resp->headers = keep(r, &t->head, NULL);
    if (!resp->body || !resp->headers) {
        resp->body = resp->headers = (char *)"";
        resp->error = "out of memory";
        return EVF_EHTTP;
    }
    if (t->result == CURLE_OPERATION_TIMEDOUT) {
        resp->error = "timed out";
        return EVF_ETIMEDOUT;
    }
    if (t->result != CURLE_OK) {
        bool big = t->too_big || t->result == CURLE_FILESIZE_EXCEEDED;
        resp->error = big ? "upstream answer too large"
                      : t->errbuf[0] ? evf_strdup(r, t->errbuf)
                                     : curl_easy_strerror(t->result);
        return EVF_EHTTP;
    }
    if (o->raise_for_status && (status < 200 || status > 299)) {
        resp->error = "upstream status";
        return EVF_EHTTPSTATUS;
    }
    return 0;
}

int
evf_http_raise(evf_req *r, int rc, const evf_http_response *resp)
{
    /*
     * The cause (libcurl's text, the upstream's address, port or host
     * name) goes to the error log only: it is no business of the client.
     */
    if (rc == EVF_ETIMEDOUT) {
        evf_log(r, EVF_LOG_ERROR, "upstream request timed out");
        return evf_raise(r, 504, "Gateway Timeout");
    }
    if (rc == EVF_EHTTPSTATUS)
        evf_log(r, EVF_LOG_ERROR, "upstream answered %ld",
                resp ? resp->status : 0L);
    else
        evf_log(r, EVF_LOG_ERROR, "upstream request failed: %s",
                resp && resp->error ? resp->error : "unknown error");
    return evf_raise(r, 502, "Bad Gateway");
}
