/*
 * conn: FastCGI connection (see conn.h).
 *
 * DESIGN.  Reading: one shared per-thread buffer; the parser consumes all
 * of it at once (content is copied into the requests it belongs to), so a
 * connection keeps no input buffer of its own.  Writing: requests append
 * records to the connection's output buffer and flush; a flush writes what
 * it can and arms the write watcher for the rest.  A request that streams
 * waits (its task suspends) while the buffer is above the high-water mark,
 * so a web server that stops reading pins a bounded amount of memory and
 * never blocks anyone else.
 *
 * Protocol errors (bad records, ids never begun, streams out of order)
 * close this connection only, with one log line.  Records for an id that
 * ended (answered, aborted or refused at BEGIN) are dropped, as FastCGI
 * 3.3 asks: they may cross the END_REQUEST on the wire.  Ended ids are
 * kept in a bitmap (ids below 64 in a word of the connection, the others
 * in 65536 bits allocated on first use) until a BEGIN_REQUEST reuses them.
 * End of file aborts every request still open on it: that is how nginx
 * says its client went away.
 *
 * Timeouts: the hot path only notes when a connection last moved bytes,
 * when the record it is in began, and when a request began; the sweep is
 * in conn_timeout.c (the layout is shared through conn_int.h).
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fastcgi.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app.h"
#include "buf.h"
#include "conn.h"
#include "conn_int.h"
#include "fcgi_params.h"
#include "fcgi_parser.h"
#include "fcgi_writer.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "request.h"
#include "settings.h"
#include "stats.h"
#include "tls.h"

#define LOW_IDS 64
#define ID_WORDS (65536 / 64)
#define READ_BUF (64 * 1024)
/*
 * Bytes read from all connections in one loop iteration, at most (give or
 * take one read).  What is read is parsed and its requests started at
 * once, so this bounds the work of an iteration: under a burst, timers and
 * writes still come round every few milliseconds.
 *
 * A connection found readable once the budget is spent joins the read
 * queue (turns.h), read first in the next iterations.  The queue is what
 * makes the budget fair: libev runs the callbacks of one iteration newest
 * event first, and epoll reports a connection that stays readable before
 * those that became readable since, so without it the connections
 * answered last (the busiest) would be read first in every iteration and
 * the others could wait for seconds under load.
 */
#define ITER_READ_BUDGET READ_BUF

static void feed_starved(evf_turns_t *q);

static EVF_TLS struct {
    evf_conn_t *head;
    size_t count;
    unsigned long next_id;
    void (*on_close)(void);
    uint8_t *rbuf;
    ev_tstamp log_window;
    unsigned logged, suppressed;
    evf_conn_t *dirty;          /* connections to flush before polling */
    ev_prepare flusher;
    evf_budget_t read;          /* bytes read in this iteration */
    size_t read_budget;         /* ITER_READ_BUDGET, or a test's */
    evf_turns_t readq;          /* the read queue */
} reg = { .read_budget = ITER_READ_BUDGET, .readq.serve = feed_starved };

static void destroy(evf_conn_t *c);

size_t
evf_conn_count(void)
{
    return reg.count;
}

void
evf_conn_on_close(void (*cb)(void))
{
    reg.on_close = cb;
}

/* Protocol-error lines: at most 10 a second, then one summary. */
static void
log_limited(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
log_limited(const char *fmt, ...)
{
    ev_tstamp now = ev_now(evf__loop());
    if (now - reg.log_window >= 1.0) {
        if (reg.suppressed)
            evf_log_warn("%u more connection errors in the last second were "
                         "not logged", reg.suppressed);
        reg.log_window = now;
        reg.logged = reg.suppressed = 0;
    }
    if (reg.logged >= 10) {
        reg.suppressed++;
        return;
    }
    reg.logged++;
    va_list ap;
    va_start(ap, fmt);
    evf_log_vmsg(EVF_LOG_LVL_WARN, fmt, ap);
    va_end(ap);
}

/* ---- request table ----------------------------------------------------- */

static evf_req **
slot(evf_conn_t *c, uint16_t id, bool create)
{
    if (id >= 1 && id <= SMALL_IDS)
        return &c->small[id - 1];
    if (!c->pages) {
        if (!create)
            return NULL;
        c->pages = evf_calloc(256, sizeof(*c->pages));
        if (!c->pages)
            return NULL;
    }
    evf_req **page = c->pages[id >> 8];
    if (!page) {
        if (!create)
            return NULL;
        page = c->pages[id >> 8] = evf_calloc(256, sizeof(*page));
        if (!page)
            return NULL;
    }
    return &page[id & 255];
}

static evf_req *
lookup(evf_conn_t *c, uint16_t id)
{
    evf_req **s = slot(c, id, false);
    return s ? *s : NULL;
}

/* Any open request, or NULL (for aborting them all). */
static evf_req *
any_req(evf_conn_t *c)
{
    for (int i = 0; i < SMALL_IDS; i++)
        if (c->small[i])
            return c->small[i];
    if (c->pages)
        for (int p = 0; p < 256; p++)
            if (c->pages[p])
                for (int i = 0; i < 256; i++)
                    if (c->pages[p][i])
                        return c->pages[p][i];
    return NULL;
}

/*
 * Remember that id ended: its records still on the wire are dropped.  When
 * the bitmap for high ids cannot be allocated they are not, and a late
 * record for that id closes the connection as an unknown id would.
 */
static void
mark_ended(evf_conn_t *c, uint16_t id)
{
    if (id < LOW_IDS) {
        c->ended_low |= (uint64_t)1 << id;
        return;
    }
    if (!c->ended_high &&
        !(c->ended_high = evf_calloc(ID_WORDS, sizeof(uint64_t))))
        return;
    c->ended_high[id / 64] |= (uint64_t)1 << (id % 64);
}

/* A BEGIN_REQUEST makes id active again. */
static void
unmark_ended(evf_conn_t *c, uint16_t id)
{
    if (id < LOW_IDS)
        c->ended_low &= ~((uint64_t)1 << id);
    else if (c->ended_high)
        c->ended_high[id / 64] &= ~((uint64_t)1 << (id % 64));
}

static bool
has_ended(const evf_conn_t *c, uint16_t id)
{
    if (id < LOW_IDS)
        return c->ended_low >> id & 1;
    return c->ended_high && c->ended_high[id / 64] >> (id % 64) & 1;
}

/* Refuse a BEGIN_REQUEST; the records already sent for id are dropped. */
static void
reject(evf_conn_t *c, uint16_t id, uint8_t protocol_status)
{
    evf_fcgi_write_end_request(&c->out, id, 0, protocol_status);
    mark_ended(c, id);
}

/* ---- output ------------------------------------------------------------ */

/* Mark the peer gone: no more reading or writing; destroyed at unhold. */
static void
lose(evf_conn_t *c)
{
    struct ev_loop *loop = evf__loop();
    c->gone = true;
    c->closing = true;
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
}

static int
flush(evf_conn_t *c)
{
    struct ev_loop *loop = evf__loop();
    if (c->gone)
        return EVF_EGONE;
    while (evf_buf_used(&c->out)) {
        ssize_t n = send(c->fd, c->out.data + c->out.off,
                         evf_buf_used(&c->out), MSG_NOSIGNAL);
        evf_stats.sends++;
        if (n > 0) {
            evf_buf_consume(&c->out, (size_t)n);
            c->active = ev_now(loop);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!ev_is_active(&c->wio))
                ev_io_start(loop, &c->wio);
            return 0;
        }
        log_limited("connection %lu: write failed: %s; closing it", c->id,
                    n < 0 ? strerror(errno) : "nothing written");
        lose(c);
        return EVF_EGONE;
    }
    /* Streams waiting for the output to drain are woken by write_cb (not
     * here: flush may run on a coroutine, and resumes do not nest). */
    if (c->drain_waiters)
        ev_io_start(loop, &c->wio);
    else if (ev_is_active(&c->wio))
        ev_io_stop(loop, &c->wio);
    /* Do not keep a big buffer around on an idle connection. */
    if (c->out.cap > 256 * 1024)
        evf_buf_free(&c->out);
    return 0;
}

static void
hold(evf_conn_t *c)
{
    c->holds++;
}

static void
unhold(evf_conn_t *c)
{
    if (--c->holds)
        return;
    if (c->gone || (c->closing && !evf_buf_used(&c->out)))
        destroy(c);
}

/* Flush every connection that asked for it; the prepare watcher's work. */
static void
flush_dirty(void)
{
    while (reg.dirty) {
        evf_conn_t *c = reg.dirty;
        reg.dirty = c->next_dirty;
        c->next_dirty = NULL;
        c->queued = false;
        flush(c);
        unhold(c);
    }
}

static void
prepare_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)revents;
    flush_dirty();
    ev_prepare_stop(loop, w);
}

/*
 * Flush c before the loop next polls (at once if its buffer is above the
 * high-water mark).  Returns EVF_EGONE if c can send nothing more.
 */
static int
flush_later(evf_conn_t *c)
{
    if (c->gone)
        return EVF_EGONE;
    if (evf_buf_used(&c->out) > evf_settings.out_high_water)
        return flush(c);
    if (c->queued)
        return 0;
    struct ev_loop *loop = evf__loop();
    c->queued = true;
    hold(c);
    c->next_dirty = reg.dirty;
    reg.dirty = c;
    if (!ev_is_active(&reg.flusher)) {
        ev_prepare_init(&reg.flusher, prepare_cb);
        ev_prepare_start(loop, &reg.flusher);
    }
    return 0;
}

/* ---- hooks given to requests ------------------------------------------ */

static evf_buf_t *
h_out(void *o)
{
    return &((evf_conn_t *)o)->out;
}

static int
h_flush(void *o)
{
    return flush_later(o);
}

static bool
h_congested(void *o)
{
    return evf_buf_used(&((evf_conn_t *)o)->out) > evf_settings.out_high_water;
}

static void
h_wait_drain(void *o, evf_req *r)
{
    evf_conn_t *c = o;
    *evf__req_link(r) = c->drain_waiters;
    c->drain_waiters = r;
}

static void
h_hold(void *o)
{
    hold(o);
}

static void
h_unhold(void *o)
{
    unhold(o);
}

static bool
h_gone(void *o)
{
    return ((evf_conn_t *)o)->gone;
}

static void
h_finished(void *o, evf_req *r, bool answered)
{
    evf_conn_t *c = o;
    uint16_t id = evf__req_id(r);
    for (evf_req **pp = &c->drain_waiters; *pp; pp = evf__req_link(*pp))
        if (*pp == r) {
            *pp = *evf__req_link(r);
            break;
        }
    evf_req **s = slot(c, id, false);
    if (s && *s == r) {
        *s = NULL;
        c->nreqs--;
    }
    c->active = ev_now(evf__loop());
    if (c->gone)
        return;
    mark_ended(c, id);      /* nothing is read once the peer is gone */
    if (answered)
        evf_fcgi_write_end_request(&c->out, id, 0, FCGI_REQUEST_COMPLETE);
    if (!evf__req_keep_conn(r)) {
        /* The web server asked us to close once this request is done. */
        c->closing = true;
        ev_io_stop(evf__loop(), &c->rio);
    }
    /* Teardowns and background tasks run once the answer is sent. */
    if (answered && evf__req_has_after(r))
        flush(c);
    else
        flush_later(c);
}

/* The route table: the apps loaded in this process. */
static const evf_router_t *
h_routes(void *owner)
{
    (void)owner;
    return evf_apps_router();
}

static const evf_req_owner_ops ops = {
    .out = h_out,
    .flush = h_flush,
    .congested = h_congested,
    .wait_drain = h_wait_drain,
    .hold = h_hold,
    .unhold = h_unhold,
    .gone = h_gone,
    .finished = h_finished,
    .routes = h_routes,
};

/* ---- input ------------------------------------------------------------- */

static void
protocol_error(evf_conn_t *c, const char *what, unsigned type, unsigned id)
{
    evf_stats.protocol_errors++;
    log_limited("connection %lu: %s (record type %u, request id %u); "
                "closing the connection", c->id, what, type, id);
    lose(c);
}

/* GET_VALUES: the variables we answer, and the answer being built. */
struct values {
    const char *names[3];
    const char *values[3];
    uint8_t out[256];
    size_t len;
};

static int
value_asked(void *ud, const uint8_t *n, size_t nl, const uint8_t *v,
            size_t vl)
{
    struct values *x = ud;
    (void)v, (void)vl;
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(x->names[i]);
        size_t need = evf_fcgi_pair_size(l, strlen(x->values[i]));
        if (nl == l && memcmp(n, x->names[i], l) == 0 &&
            x->len + need <= sizeof(x->out))
            x->len += evf_fcgi_pair_encode(x->out + x->len, x->names[i], l,
                                           x->values[i],
                                           strlen(x->values[i]));
    }
    return 0;
}

/*
 * Answer a complete management record (request id 0).  Returns false on a
 * malformed GET_VALUES.
 */
static bool
management(evf_conn_t *c, uint8_t type)
{
    if (type != FCGI_GET_VALUES) {
        evf_fcgi_write_unknown_type(&c->out, type);
        return true;
    }
    char maxconns[24], maxreqs[24];
    snprintf(maxconns, sizeof(maxconns), "%u", evf_settings.max_conns);
    snprintf(maxreqs, sizeof(maxreqs), "%llu",
             (unsigned long long)evf_settings.max_conns *
                 evf_settings.max_reqs_per_conn);
    struct values x = {
        .names = { FCGI_MAX_CONNS, FCGI_MAX_REQS, FCGI_MPXS_CONNS },
        .values = { maxconns, maxreqs, "1" },
    };
    /* Answer the variables asked for that we know; ignore the others. */
    if (evf_fcgi_params_decode(c->mgmt.data, c->mgmt.len, value_asked, &x))
        return false;
    evf_fcgi_write_values_result(&c->out, x.out, x.len);
    return true;
}

/* One parser event.  Returns false when the connection must stop reading. */
static bool
on_event(evf_conn_t *c, const evf_fcgi_event_t *ev)
{
    evf_req *r;

    switch (ev->kind) {
    case EVF_FCGI_EV_BEGIN:
        if (lookup(c, ev->request_id)) {
            protocol_error(c, "duplicate BEGIN_REQUEST", ev->type,
                           ev->request_id);
            return false;
        }
        unmark_ended(c, ev->request_id);
        if (ev->role != FCGI_RESPONDER) {
            reject(c, ev->request_id, FCGI_UNKNOWN_ROLE);
            return true;
        }
        if (c->nreqs >= evf_settings.max_reqs_per_conn ||
            evf_stats.in_flight >= evf_settings.max_in_flight) {
            evf_stats.rejected_overload++;
            reject(c, ev->request_id, FCGI_OVERLOADED);
            return true;
        }
        evf_req **s = slot(c, ev->request_id, true);
        if (!s || !(r = evf__req_new(c, &ops, ev->request_id, ev->flags))) {
            reject(c, ev->request_id, FCGI_OVERLOADED);
            return true;
        }
        *s = r;
        c->nreqs++;
        if (!c->intake)
            c->intake = ev_now(evf__loop());
        return true;
    case EVF_FCGI_EV_ABORT:
        /* An unknown id may be a request that just ended: no error. */
        r = lookup(c, ev->request_id);
        if (r)
            evf__req_abort(r, true);
        return true;
    case EVF_FCGI_EV_CONTENT:
        break;
    default:
        return true;
    }

    if (ev->request_id == FCGI_NULL_REQUEST_ID) {
        /* A management record: gather it (at most 65535 bytes), then
         * answer. */
        if (ev->first)
            c->mgmt.off = c->mgmt.len = 0;
        if (evf_buf_append(&c->mgmt, ev->data, ev->len) < 0) {
            protocol_error(c, "out of memory", ev->type, 0);
            return false;
        }
        if (ev->last) {
            bool ok = management(c, ev->type);
            evf_buf_free(&c->mgmt);
            if (!ok) {
                protocol_error(c, "malformed GET_VALUES", ev->type, 0);
                return false;
            }
        }
        return true;
    }
    r = lookup(c, ev->request_id);
    if (!r) {
        if (has_ended(c, ev->request_id))
            return true;    /* sent before the web server saw our end */
        protocol_error(c, "record for an unknown request id", ev->type,
                       ev->request_id);
        return false;
    }
    int rc;
    size_t len = ev->content_length ? ev->len : 0;
    switch (ev->type) {
    case FCGI_PARAMS:
        rc = evf__req_params(r, ev->data, len);
        break;
    case FCGI_STDIN:
        rc = evf__req_stdin(r, ev->data, len);   /* may run the route */
        break;
    default:
        rc = EVF_EPROTO;
        break;
    }
    if (rc < 0) {
        protocol_error(c, ev->type == FCGI_PARAMS || ev->type == FCGI_STDIN
                              ? "stream record out of order or malformed"
                              : "unexpected record type for a responder",
                       ev->type, ev->request_id);
        return false;
    }
    return !c->closing;
}

static void
feed(evf_conn_t *c, const uint8_t *buf, size_t len)
{
    bool ended = false;     /* a record ended: the one open began here */
    while (len && !c->closing) {
        evf_fcgi_event_t ev;
        ssize_t n = evf_fcgi_parse(&c->parser, buf, len, &ev);
        if (n < 0) {
            protocol_error(c, evf_fcgi_strerror((int)n), c->parser.hdr[1],
                           (unsigned)(c->parser.hdr[2] << 8 |
                                      c->parser.hdr[3]));
            return;
        }
        buf += n;
        len -= (size_t)n;
        if (ev.kind != EVF_FCGI_EV_NONE)
            ended |= ev.kind != EVF_FCGI_EV_CONTENT || ev.last;
        if (ev.kind != EVF_FCGI_EV_NONE && !on_event(c, &ev))
            return;
    }
    if (evf_fcgi_parser_idle(&c->parser))
        c->partial = 0;
    else if (ended || !c->partial)
        c->partial = ev_now(evf__loop());
}

#define conn_of_turn(t) container_of((t), evf_conn_t, turn)

/* Bytes left to read in this loop iteration. */
static bool
read_budget_left(struct ev_loop *loop)
{
    return evf_budget_used(&reg.read, loop) < reg.read_budget;
}

/*
 * Put c at the end of the read queue.  Its read watcher stays on (stopping
 * and restarting it would cost epoll_ctl calls): while c waits, read_cb
 * only returns.
 */
static void
starve(evf_conn_t *c)
{
    evf_turns_push(&reg.readq, &c->turn);
}

/*
 * Read c until its socket has nothing more or the iteration's budget is
 * spent; in the second case c joins the read queue.  May destroy c.
 */
static void
read_some(evf_conn_t *c)
{
    struct ev_loop *loop = evf__loop();
    bool drained = false;

    hold(c);
    while (!c->closing && read_budget_left(loop)) {
        ssize_t n = recv(c->fd, reg.rbuf, READ_BUF, 0);
        if (n > 0) {
            reg.read.used += (size_t)n;
            c->active = ev_now(loop);
            feed(c, reg.rbuf, (size_t)n);
            if ((size_t)n < READ_BUF) {
                drained = true;
                break;
            }
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        drained = true;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n < 0)
            log_limited("connection %lu: read failed: %s; closing it", c->id,
                        strerror(errno));
        /* End of file: the web server closed; its requests are aborted. */
        lose(c);
        break;
    }
    if (!drained && !c->closing)
        starve(c);
    if (!c->gone && evf_buf_used(&c->out))
        flush_later(c);
    unhold(c);
}

static void
read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    evf_conn_t *c = container_of(w, evf_conn_t, rio);
    (void)revents;

    if (c->turn.queued)
        return;     /* waiting its turn on the read queue */
    /* Others waited longer, or the budget is spent: queue behind them. */
    if (evf_turns_first(&reg.readq) || !read_budget_left(loop)) {
        starve(c);
        return;
    }
    read_some(c);
}

/* First in each iteration: read the queue in order. */
static void
feed_starved(evf_turns_t *q)
{
    struct ev_loop *loop = evf__loop();
    while (evf_turns_first(q) && read_budget_left(loop)) {
        evf_conn_t *c = conn_of_turn(evf_turns_first(q));
        evf_turns_remove(q, &c->turn);
        read_some(c);
    }
}

static void
write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    evf_conn_t *c = container_of(w, evf_conn_t, wio);
    (void)loop, (void)revents;

    hold(c);
    flush(c);
    if (!c->gone && evf_buf_used(&c->out) < evf_settings.out_low_water) {
        evf_req *list = c->drain_waiters;
        c->drain_waiters = NULL;
        while (list) {
            evf_req *r = list;
            list = *evf__req_link(r);
            *evf__req_link(r) = NULL;
            evf__req_drained(r);    /* may finish r */
        }
    }
    unhold(c);
}

/* ---- for conn_timeout.c ------------------------------------------------ */

evf_conn_t *
evf__conn_first(void)
{
    return reg.head;
}

evf_req *
evf__conn_lookup(evf_conn_t *c, uint16_t id)
{
    return lookup(c, id);
}

void
evf__conn_expire(evf_conn_t *c, const char *why)
{
    log_limited("connection %lu: %s; closing it", c->id, why);
    lose(c);
    hold(c);
    unhold(c);      /* may destroy c */
}

evf_conn_t *
evf_conn_new(int fd)
{
    struct ev_loop *loop = evf__loop();
    if (!reg.rbuf && !(reg.rbuf = evf_malloc(READ_BUF)))
        return NULL;
    evf_conn_t *c = evf_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->fd = fd;
    c->id = ++reg.next_id;
    c->active = ev_now(loop);
    evf__conn_sweep_start(loop);
    ev_io_init(&c->rio, read_cb, fd, EV_READ);
    ev_io_init(&c->wio, write_cb, fd, EV_WRITE);
    ev_io_start(loop, &c->rio);
    c->next = reg.head;
    if (reg.head)
        reg.head->prev = c;
    reg.head = c;
    reg.count++;
    evf_stats.accepted_conn++;
    evf_stats.active_conn++;
    return c;
}

/* Close c now: cancel its requests, release everything. */
static void
destroy(evf_conn_t *c)
{
    evf_req *r;

    c->holds++;     /* request cleanups must not re-enter destroy */
    lose(c);
    if (c->turn.queued)
        evf_turns_remove(&reg.readq, &c->turn);
    while ((r = any_req(c)))
        evf__req_abort(r, false);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        reg.head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    reg.count--;
    evf_stats.active_conn--;
    if (!reg.count)
        evf__conn_sweep_stop(evf__loop());
    if (c->pages) {
        for (int p = 0; p < 256; p++)
            evf_free(c->pages[p]);
        evf_free(c->pages);
    }
    evf_free(c->ended_high);
    evf_buf_free(&c->out);
    evf_buf_free(&c->mgmt);
    evf_free(c);
    if (reg.on_close)
        reg.on_close();
}

void
evf_conn_set_read_budget(size_t bytes)
{
    reg.read_budget = bytes ? bytes : ITER_READ_BUDGET;
}

void
evf_conn_drain_all(void)
{
    evf_conn_t *c = reg.head;
    while (c) {
        evf_conn_t *next = c->next;
        ev_io_stop(evf__loop(), &c->rio);
        c->closing = true;
        if (c->turn.queued)
            evf_turns_remove(&reg.readq, &c->turn);
        if (!c->nreqs) {
            hold(c);
            unhold(c);
        }
        c = next;
    }
}

bool
evf_conn_flush_all(void)
{
    flush_dirty();
    for (evf_conn_t *c = reg.head; c; c = c->next)
        if (!c->gone && evf_buf_used(&c->out))
            return false;
    return true;
}

void
evf_conn_close_all(void)
{
    for (evf_conn_t *c = reg.dirty; c; c = c->next_dirty)
        lose(c);
    flush_dirty();
    if (ev_is_active(&reg.flusher))
        ev_prepare_stop(evf__loop(), &reg.flusher);
    while (reg.head) {
        evf_conn_t *c = reg.head;
        lose(c);
        hold(c);
        unhold(c);
    }
    evf_free(reg.rbuf);
    reg.rbuf = NULL;
}
