/*
 * response: the answer of a request (the response half of evfcgi.h):
 * headers, whole answers, JSON, error answers, streams, and evf_raise.
 *
 * The CGI response head ("Status:", "Content-Type:", headers) and body go
 * out as FastCGI STDOUT records into the owner's output buffer, or, on the
 * pool thread that owns a blocking request, into the request's pending
 * buffer, handed to the owner when the job comes back (take_pending).
 *
 * An error answer carries only the headers given with it: headers added
 * for a success answer (a Location, a cookie) do not leak into a 4xx/5xx.
 */
#include "config.h"

#include <fastcgi.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "convert.h"
#include "fcgi_writer.h"
#include "http_status.h"
#include "log.h"
#include "middleware.h"
#include "pool.h"
#include "request_int.h"
#include "url.h"

/* Where the request's records go: see the file comment. */
static evf_buf_t *
outbuf(evf_req *r)
{
    return r->on_pool ? &r->pend : r->ops->out(r->owner);
}

static bool
gone(evf_req *r)
{
    if (r->on_pool)
        return atomic_load(&r->tasks.cancelled);
    return r->ops->gone(r->owner);
}

bool
evf_is_disconnected(evf_req *r)
{
    return gone(r);
}

void
evf__req_take_pending(evf_req *r)
{
    if (evf_buf_used(&r->pend)) {
        evf_buf_t *out = r->ops->out(r->owner);
        if (evf_buf_append(out, r->pend.data + r->pend.off,
                           evf_buf_used(&r->pend)) < 0)
            evf_log_error("%s: out of memory for the response",
                          evf__req_label(r));
    }
    evf_buf_free(&r->pend);
}

/*
 * RFC 9110 token characters (tchar): a digit, a letter or one of
 * !#$%&'*+-.^_`|~, by byte (this runs for every byte of every header name
 * an answer carries).  Rows of 16 from 0x00; 0x80 and up are not tokens.
 */
static const unsigned char tchar[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
};

/* True when the word w holds a byte below 0x20 or equal to 0x7f (exact:
 * a borrow only spreads above a byte that already matched). */
static inline bool
word_has_ctl(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    uint64_t d = w ^ (ones * 0x7f);
    return ((w - ones * 0x20) & ~w & highs) || ((d - ones) & ~d & highs);
}

/*
 * True when a header value has no control byte (HTAB aside): a CR or LF
 * would let it start a header of its own, a NUL would cut it short.  Eight
 * bytes at a time (a request id alone is 36), the last word ending at the
 * value's end: a word with none of those bytes is clean, one with one (a
 * tab, or a real control byte) is looked at byte by byte.
 */
static bool
value_ok(const char *v, size_t vl)
{
    uint64_t w;
    if (vl >= 8) {
        size_t i = 0;
        for (; i + 8 <= vl; i += 8) {
            memcpy(&w, v + i, 8);
            if (word_has_ctl(w))
                goto bytes;
        }
        if (i == vl)
            return true;
        memcpy(&w, v + vl - 8, 8);
        if (!word_has_ctl(w))
            return true;
    }
bytes:
    for (size_t i = 0; i < vl; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/*
 * True when name is a token and not one of the headers evfcgi writes
 * itself (a second Status or Content-Length would contradict the first).
 */
static bool
name_ok(const char *name, size_t nl)
{
    if (!nl)
        return false;
    unsigned ok = 1;
    for (size_t i = 0; i < nl; i++)
        ok &= tchar[(unsigned char)name[i]];
    if (!ok)
        return false;
    char c0 = (char)(name[0] | 0x20);
    return !(nl == 6 && c0 == 's' && !strncasecmp(name, "Status", 6)) &&
           !(nl == 14 && c0 == 'c' &&
             !strncasecmp(name, "Content-Length", 14));
}

/*
 * The headers' buffer is allocated in multiples of HDRS_STEP bytes, so its
 * size follows from the length it holds (plus its NUL): a header that
 * fits what is left is appended in place (the demo's two headers: one
 * allocation instead of two, and no copy).
 */
#define HDRS_STEP 128

static size_t
hdrs_room(size_t len)
{
    return (len + 1 + HDRS_STEP - 1) / HDRS_STEP * HDRS_STEP;
}

/*
 * Append "name: value\r\n" to the headers of the answer.  Returns 0, or
 * EVF_EINVAL for a name that is not a token or is reserved, a value with
 * a control byte, or no memory.
 */
static int
push_header(evf_req *r, const char *name, size_t nl, const char *value,
            size_t vl)
{
    if (!name_ok(name, nl) || !value_ok(value, vl))
        return EVF_EINVAL;
    size_t need = r->hdrs_len + nl + vl + 4;
    char *h = r->hdrs;
    if (!h || need + 1 > hdrs_room(r->hdrs_len)) {
        h = evf_alloc(r, hdrs_room(need));
        if (!h)
            return EVF_EINVAL;
        if (r->hdrs_len)
            memcpy(h, r->hdrs, r->hdrs_len);
    }
    char *p = h + r->hdrs_len;
    memcpy(p, name, nl);
    p += nl;
    *p++ = ':';
    *p++ = ' ';
    memcpy(p, value, vl);
    p += vl;
    *p++ = '\r';
    *p++ = '\n';
    *p = '\0';
    r->hdrs = h;
    r->hdrs_len = need;
    return 0;
}

int
evf_add_header(evf_req *r, const char *name, const char *value)
{
    if (r->answered || !name || !value)
        return EVF_EINVAL;
    return push_header(r, name, strlen(name), value, strlen(value));
}

/* Replace the answer's headers by "Name: value" lines (NULL-ended). */
static int
set_headers(evf_req *r, const char *const *headers)
{
    r->hdrs = NULL;
    r->hdrs_len = 0;
    for (const char *const *h = headers; h && *h; h++) {
        const char *colon = strchr(*h, ':');
        if (!colon)
            return EVF_EINVAL;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        int rc = push_header(r, *h, (size_t)(colon - *h), v, strlen(v));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Copy len bytes of s to dst at offset at; returns the offset after. */
static inline size_t
put(char *dst, size_t at, const char *s, size_t len)
{
    if (len)
        memcpy(dst + at, s, len);
    return at + len;
}

/*
 * The answer could not be buffered (out of memory): try a 503 in as few
 * bytes as there are, so the web server still gets a whole response.
 * Returns EVF_EGONE: the handler's answer is lost either way.
 */
static int
answer_unbuffered(evf_req *r, evf_buf_t *out)
{
    static const char head[] = "Status: 503 Service Unavailable\r\n"
                               "Content-Type: application/json\r\n"
                               "Content-Length: 32\r\n\r\n";
    static const char body[] = "{\"detail\":\"Service Unavailable\"}";
    _Static_assert(sizeof(body) - 1 == 32, "Content-Length above");
    evf_log_error("%s: out of memory buffering the answer (status %d); "
                  "answering 503", evf__req_label(r), r->status);
    r->status = 503;
    r->streaming = false;
    if (evf_fcgi_write_stream2(out, FCGI_STDOUT, r->id, head,
                               sizeof(head) - 1, body, sizeof(body) - 1) == 0)
        evf_fcgi_write_stream(out, FCGI_STDOUT, r->id, NULL, 0);
    return EVF_EGONE;
}

/*
 * Write the CGI response head and body (or, for a stream, the head only).
 * Returns 0, EVF_EINVAL when already answered or when ctype has a control
 * byte (then a 500 is answered instead, logged), EVF_EGONE when the client
 * left or the output could not be buffered.
 */
static int
answer(evf_req *r, int status, const char *ctype, const void *body,
       size_t len, bool stream)
{
    if (r->answered)
        return EVF_EINVAL;
    size_t clen = ctype ? strlen(ctype) : 0;
    if (ctype && !value_ok(ctype, clen)) {
        evf_log_error("%s: the content type given with status %d has a "
                      "control byte; answered 500 instead",
                      evf__req_label(r), status);
        evf__req_answer_error(r, 500, NULL, NULL);
        return EVF_EINVAL;
    }
    if (r->mw && !r->mw_after_done) {
        /* The middleware's after hooks, while the head takes headers. */
        evf__mw_after(r, status);
        if (r->answered)
            return EVF_EINVAL;  /* a hook answered: nothing more to say */
    }
    r->answered = true;
    r->status = status;
    r->streaming = stream;
    if (gone(r))
        return EVF_EGONE;
    if (status < 100 || status > 999)
        status = 500;

    /* 128: the status line and the two headers written here, at most. */
    char small[512];
    char *head = small;
    size_t need = 128 + clen + r->hdrs_len;
    if (need > sizeof(small) && !(head = evf_alloc(r, need)))
        return EVF_EGONE;
    /* Built by hand: this runs for every answer (no printf family). */
    const char *reason = evf_http_reason(status);
    size_t n = 0;
    n = put(head, n, "Status: ", 8);
    /* Three digits: status is within 100-999 here. */
    head[n++] = (char)('0' + status / 100);
    head[n++] = (char)('0' + status / 10 % 10);
    head[n++] = (char)('0' + status % 10);
    head[n++] = ' ';
    n = put(head, n, reason, strlen(reason));
    n = put(head, n, "\r\n", 2);
    if (ctype) {
        n = put(head, n, "Content-Type: ", 14);
        n = put(head, n, ctype, clen);
        n = put(head, n, "\r\n", 2);
    }
    if (!stream) {
        n = put(head, n, "Content-Length: ", 16);
        n += evf_format_u64(head + n, len);
        n = put(head, n, "\r\n", 2);
    }
    n = put(head, n, r->hdrs, r->hdrs_len);
    head[n++] = '\r';
    head[n++] = '\n';

    evf_buf_t *out = outbuf(r);
    if (evf_fcgi_write_stream2(out, FCGI_STDOUT, r->id, head, n,
                               body, len) < 0)
        return answer_unbuffered(r, out);
    if (!stream && evf_fcgi_write_stream(out, FCGI_STDOUT, r->id, NULL, 0) < 0)
        return EVF_EGONE;
    r->bytes_out += len;
    return 0;
}

int
evf_respond(evf_req *r, int status, const char *content_type,
            const void *body, size_t len)
{
    return answer(r, status, content_type, body, len, false);
}

int
evf_text(evf_req *r, int status, const char *text)
{
    return answer(r, status, "text/plain; charset=utf-8", text, strlen(text),
                  false);
}

static int
answer_json_str(evf_req *r, int status, const char *json, size_t len)
{
    return answer(r, status, "application/json", json, len, false);
}

int
evf_json(evf_req *r, int status, json_object *obj)
{
    if (!obj)
        return evf__req_answer_error(r, 500, "Internal Server Error", NULL);
    size_t len;
    const char *s = json_object_to_json_string_length(
        obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
    int rc = s ? answer_json_str(r, status, s, len)
               : evf__req_answer_error(r, 500, "Internal Server Error",
                                       NULL);
    json_object_put(obj);
    return rc;
}

/*
 * Format into small (1 KiB) or, when longer, into r's arena.  Returns the
 * text (its length in *len), or NULL: a bad format (*len 0) or out of
 * memory (*len the length that did not fit).
 */
static const char *
vformat(evf_req *r, char *small, size_t cap, size_t *len, const char *fmt,
        va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(small, cap, fmt, ap);
    *len = n < 0 ? 0 : (size_t)n;
    if (n < 0 || (size_t)n < cap) {
        va_end(again);
        return n < 0 ? NULL : small;
    }
    char *big = evf_alloc(r, (size_t)n + 1);
    if (big)
        vsnprintf(big, (size_t)n + 1, fmt, again);
    va_end(again);
    return big;
}

int
evf_json_printf(evf_req *r, int status, const char *fmt, ...)
{
    char small[1024];
    size_t len;
    va_list ap;
    va_start(ap, fmt);
    const char *s = vformat(r, small, sizeof(small), &len, fmt, ap);
    va_end(ap);
    if (!s)
        return len ? evf__req_answer_error(r, 503, "Service Unavailable",
                                           NULL)
                   : EVF_EINVAL;
    return answer_json_str(r, status, s, len);
}

/*
 * Escape s as a JSON string into dst (cap bytes), bytes that are not
 * UTF-8 as U+FFFD; false if it won't fit.
 */
static bool
json_quote(char *dst, size_t cap, const char *s, size_t *len)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    if (cap < 3)
        return false;
    dst[n++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (n + 8 >= cap)
            return false;
        size_t seq = *p < 0x80 ? 1 : evf_utf8_seq(p, strlen((const char *)p));
        if (!seq) {
            /* Not UTF-8 (a detail echoing the request): U+FFFD. */
            memcpy(dst + n, "\\ufffd", 6);
            n += 6;
        } else if (seq > 1) {
            memcpy(dst + n, p, seq);
            n += seq;
            p += seq - 1;
        } else if (*p == '"' || *p == '\\') {
            dst[n++] = '\\';
            dst[n++] = (char)*p;
        } else if (*p < 0x20) {
            memcpy(dst + n, "\\u00", 4);
            dst[n + 4] = hex[*p >> 4];
            dst[n + 5] = hex[*p & 15];
            n += 6;
        } else {
            dst[n++] = (char)*p;
        }
    }
    dst[n++] = '"';
    *len = n;
    return true;
}

int
evf__req_answer_error(evf_req *r, int status, const char *detail,
                      const char *const *headers)
{
    if (r->answered)
        return EVF_EINVAL;
    if (!detail)
        detail = evf_http_reason(status);
    if (set_headers(r, headers) < 0) {
        evf_log_error("%s: a header given with error %d is not a valid "
                      "\"Name: value\" line; sent without it",
                      evf__req_label(r), status);
        r->hdrs = NULL;
        r->hdrs_len = 0;
    }
    /* toolkit: the app's exception handler answers, if it has one. */
    if (evf__req_exc_answer(r, status, detail, NULL))
        return 0;
    if (status >= EVF_APP_ERROR) {
        evf_log_error("%s: app error code %d (%s) has no exception "
                      "handler; answered 500", evf__req_label(r), status,
                      detail);
        status = 500;
        detail = evf_http_reason(500);
        r->hdrs = NULL;
        r->hdrs_len = 0;
    }
    /*
     * Built without json-c and in a stack buffer: an error answer is often
     * what is left to say when memory ran out.
     */
    char body[1024];
    size_t q;
    memcpy(body, "{\"detail\":", 10);
    if (!json_quote(body + 10, sizeof(body) - 11, detail, &q))
        json_quote(body + 10, sizeof(body) - 11, evf_http_reason(status),
                   &q);
    body[10 + q] = '}';
    return answer_json_str(r, status, body, 10 + q + 1);
}

/* ---- raising ----------------------------------------------------------- */

/* A copy of a NULL-ended list of strings in r's arena (NULL on failure). */
static const char *const *
copy_headers(evf_req *r, const char *const *headers)
{
    size_t n = 0;
    while (headers && headers[n])
        n++;
    if (!n)
        return NULL;
    const char **v = evf_alloc(r, (n + 1) * sizeof(*v));
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = evf_strdup(r, headers[i])))
            return NULL;
    v[n] = NULL;
    return v;
}

int
evf_raise_headers(evf_req *r, int status, const char *detail,
                  const char *const *headers)
{
    if (!detail)
        detail = evf_http_reason(status);
    if (evf_pool_on_thread() && !r->on_pool) {
        /*
         * A to_thread function or a blocking dependency: the loop owns the
         * answer, so keep what to say and answer once the job is back.
         */
        if (!r->answered && !r->raise_status) {
            r->raise_headers = copy_headers(r, headers);
            r->raise_detail = evf_strdup(r, detail);
            r->raise_status = status;
        }
        evf__task_unwind(&r->tasks);
        return EVF_EINVAL;      /* not inside a job of r */
    }
    int rc = evf__req_answer_error(r, status, detail, headers);
    /* Like an exception: r's tasks end here, none is resumed. */
    evf__task_unwind(&r->tasks);
    return rc;
}

int
evf_raise(evf_req *r, int status, const char *detail)
{
    return evf_raise_headers(r, status, detail, NULL);
}

/* ---- streaming --------------------------------------------------------- */

int
evf_stream_begin(evf_req *r, int status, const char *content_type)
{
    return answer(r, status, content_type, NULL, 0, true);
}

int
evf_stream_write(evf_req *r, const void *data, size_t len)
{
    if (!r->streaming)
        return EVF_EINVAL;
    if (gone(r))
        return EVF_EGONE;
    if (len == 0)
        return 0;
    evf_buf_t *out = outbuf(r);
    if (evf_fcgi_write_stream(out, FCGI_STDOUT, r->id, data, len) < 0)
        return EVF_EGONE;
    r->bytes_out += len;
    /* A blocking handler's stream is sent when the handler returns. */
    if (r->on_pool)
        return 0;
    if (r->ops->flush(r->owner) < 0)
        return EVF_EGONE;
    if (r->ops->congested(r->owner)) {
        /* Wait for the peer to read, within the request's deadline. */
        r->drain_task = evf__req_task(r);
        r->ops->wait_drain(r->owner, r);
        int rc = evf__task_await(r->drain_task);
        r->drain_task = NULL;
        if (rc < 0)
            return rc;
        if (r->ops->gone(r->owner))
            return EVF_EGONE;
    }
    return 0;
}

int
evf_stream_printf(evf_req *r, const char *fmt, ...)
{
    char small[1024];
    size_t len;
    va_list ap;
    va_start(ap, fmt);
    const char *s = vformat(r, small, sizeof(small), &len, fmt, ap);
    va_end(ap);
    return s ? evf_stream_write(r, s, len) : EVF_EINVAL;
}

int
evf_stream_end(evf_req *r)
{
    if (!r->streaming)
        return EVF_EINVAL;
    r->streaming = false;
    if (gone(r))
        return EVF_EGONE;
    evf_buf_t *out = outbuf(r);
    return evf_fcgi_write_stream(out, FCGI_STDOUT, r->id, NULL, 0) < 0
               ? EVF_EGONE : 0;
}

void
evf__req_drained(evf_req *r)
{
    if (r->drain_task)
        evf__task_wake(r->drain_task, 0);
}
