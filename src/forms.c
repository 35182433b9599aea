/*
 * forms: form fields and uploaded files of a request (see forms.h).
 *
 * DESIGN.  Whether a body is streamed is decided on its first STDIN bytes:
 * a multipart/form-data content type sent to a route that declares .form
 * (the route is looked up then, from the PARAMS alone).  From there the
 * multipart parser (multipart.c) takes each STDIN piece as it arrives: a
 * file part goes straight to a temporary file (mkostemp in upload_dir), a
 * field part is collected (at most FIELD_MAX bytes), an undeclared file
 * is dropped.  Memory stays bounded by the field limits whatever the
 * upload's size; a limit passed rejects the request at once (413, the
 * files written so far removed) and the rest of the body is read and
 * dropped.  An urlencoded body is buffered as any body (max_body) and
 * split when the route is validated.  The temporary files live until the
 * request is freed (exchange.c's free_req), which every ending reaches:
 * answer, raise, deadline, abort, client gone.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "convert.h"
#include "forms.h"
#include "log.h"
#include "mem.h"
#include "multipart.h"
#include "request_int.h"
#include "settings.h"
#include "url.h"

#define FIELD_MAX   (1024 * 1024)   /* bytes of one non-file field */
#define FIELDS_MAX  1000            /* fields of one form */

enum part_kind { P_SKIP, P_FIELD, P_FILE };

struct evf_forms {
    const evf_query *spec;
    evf_upload *files;          /* evf_malloc'd; strings in the arena */
    size_t nfiles, files_cap;
    pair_t *fields;             /* evf_malloc'd; strings in the arena */
    size_t nfields, fields_cap;
    enum part_kind part;
    const char *part_name;
    evf_buf_t value;            /* the field part being read */
    uint64_t total;             /* bytes of files so far */
    size_t field_bytes;         /* bytes of fields kept so far */
    bool streaming;             /* mp is in use */
    char boundary[EVF_MP_BOUNDARY_MAX + 1];
    evf_mp_t mp;
};

static struct evf_forms *
forms_new(evf_req *r, const evf_query *spec)
{
    struct evf_forms *f = evf_calloc(1, sizeof(*f));
    if (f) {
        f->spec = spec;
        r->forms = f;
    }
    return f;
}

/* Close and remove the files written so far. */
static void
drop_files(struct evf_forms *f)
{
    for (size_t i = 0; i < f->nfiles; i++) {
        evf_upload *u = &f->files[i];
        if (u->fd < 0)
            continue;
        close(u->fd);
        if (unlink(u->path) < 0)
            evf_log_error("upload: removing %s: %s", u->path,
                          strerror(errno));
        u->fd = -1;
    }
}

void
evf__forms_free(evf_req *r)
{
    struct evf_forms *f = r->forms;
    if (!f)
        return;
    drop_files(f);
    evf_buf_free(&f->value);
    evf_free(f->files);
    evf_free(f->fields);
    evf_free(f);
    r->forms = NULL;
}

/*
 * Answer status with detail instead of running the route (detail static
 * or in the arena); what was uploaded goes at once.  Returns -status, for
 * the parser's callbacks to stop it with.
 */
static int
reject(evf_req *r, int status, const char *detail)
{
    if (!r->reject) {
        r->reject = status;
        r->reject_detail = detail;
    }
    if (r->forms) {
        drop_files(r->forms);
        evf_buf_free(&r->forms->value);
    }
    return -status;
}

/* A 413 with a detail holding the limit, formatted in the arena. */
static int reject_limit(evf_req *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
reject_limit(evf_req *r, const char *fmt, ...)
{
    char *d = evf_alloc(r, 160);
    if (d) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(d, 160, fmt, ap);
        va_end(ap);
    }
    return reject(r, 413, d ? d : "Request Entity Too Large");
}

static const evf_query *
declared(const evf_query *spec, const char *name)
{
    for (; spec && spec->name; spec++)
        if (strcmp(spec->name, name) == 0)
            return spec;
    return NULL;
}

static bool
grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return true;
    size_t c = *cap ? *cap * 2 : 4;
    void *p = evf_realloc(*arr, c * size);
    if (!p)
        return false;
    *arr = p;
    *cap = c;
    return true;
}

static int
add_field(evf_req *r, const char *name, const char *value, size_t vlen)
{
    struct evf_forms *f = r->forms;
    if (f->nfields >= FIELDS_MAX)
        return reject_limit(r, "Too many form fields: at most %d",
                            FIELDS_MAX);
    if (!grow((void **)&f->fields, &f->fields_cap, f->nfields,
              sizeof(pair_t)))
        return reject(r, 503, NULL);
    f->fields[f->nfields++] = (pair_t){ name, value, vlen };
    return 0;
}

/* ---- the multipart stream ---------------------------------------------- */

static const char *
upload_dir(void)
{
    const char *d = evf_settings.upload_dir;
    if (!d || !*d)
        d = getenv("TMPDIR");
    return d && *d ? d : "/tmp";
}

static int
open_upload(evf_req *r, const evf_mp_part_t *p)
{
    struct evf_forms *f = r->forms;
    if (f->nfiles >= evf_settings.max_upload_files)
        return reject_limit(r, "Too many files: at most %u per request",
                            evf_settings.max_upload_files);
    if (!grow((void **)&f->files, &f->files_cap, f->nfiles,
              sizeof(evf_upload)))
        return reject(r, 503, NULL);
    const char *dir = upload_dir();
    size_t n = strlen(dir) + 32;
    char *path = evf_alloc(r, n);
    const char *ct = p->content_type && *p->content_type
                         ? p->content_type : "application/octet-stream";
    evf_upload u = {
        .field = evf_strdup(r, p->name),
        .filename = evf_strdup(r, p->filename),
        .content_type = evf_strdup(r, ct),
        .fd = -1,
        .path = path,
    };
    if (!path || !u.field || !u.filename || !u.content_type)
        return reject(r, 503, NULL);
    snprintf(path, n, "%s/evfcgi-upload-XXXXXX", dir);
    u.fd = mkostemp(path, O_CLOEXEC);
    if (u.fd < 0) {
        evf_log_error("%s: cannot create an upload file in %s: %s "
                      "(upload_dir)", evf__req_label(r), dir,
                      strerror(errno));
        return reject(r, 500, NULL);
    }
    f->files[f->nfiles++] = u;
    f->part = P_FILE;
    return 0;
}

static int
on_begin(void *ud, const evf_mp_part_t *p)
{
    evf_req *r = ud;
    struct evf_forms *f = r->forms;
    f->part = P_SKIP;
    if (p->filename) {
        const evf_query *q = declared(f->spec, p->name);
        return q && q->type == EVF_FILE ? open_upload(r, p) : 0;
    }
    if (f->nfields >= FIELDS_MAX)
        return reject_limit(r, "Too many form fields: at most %d",
                            FIELDS_MAX);
    f->part_name = evf_strdup(r, p->name);
    if (!f->part_name)
        return reject(r, 503, NULL);
    f->value.len = f->value.off = 0;
    f->part = P_FIELD;
    return 0;
}

/* write(2) all of p[0..n), or -1 with errno. */
static int
write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int
on_data(void *ud, const char *p, size_t n)
{
    evf_req *r = ud;
    struct evf_forms *f = r->forms;
    if (f->part == P_FIELD) {
        if (n > FIELD_MAX - f->value.len)
            return reject_limit(r, "Form field too large: at most %d "
                                "bytes", FIELD_MAX);
        /* All fields together stay within what a body may be. */
        if (n > evf_settings.max_body - f->field_bytes)
            return reject_limit(r, "Form fields too large: at most %llu "
                                "bytes in all (max_body)",
                                (unsigned long long)evf_settings.max_body);
        f->field_bytes += n;
        if (evf_buf_append(&f->value, p, n) < 0)
            return reject(r, 503, NULL);
        return 0;
    }
    if (f->part != P_FILE)
        return 0;
    evf_upload *u = &f->files[f->nfiles - 1];
    if (n > evf_settings.max_upload_size - u->size)
        return reject_limit(r, "File too large: at most %llu bytes per "
                            "file (max_upload_size)",
                            (unsigned long long)evf_settings.max_upload_size);
    if (n > evf_settings.max_upload_total - f->total)
        return reject_limit(r, "Upload too large: at most %llu bytes of "
                            "files per request (max_upload_total)",
                            (unsigned long long)
                                evf_settings.max_upload_total);
    if (write_all(u->fd, p, n) < 0) {
        evf_log_error("%s: writing upload %s: %s", evf__req_label(r),
                      u->path, strerror(errno));
        return reject(r, 500, NULL);
    }
    u->size += n;
    f->total += n;
    return 0;
}

static int
on_end(void *ud)
{
    evf_req *r = ud;
    struct evf_forms *f = r->forms;
    enum part_kind k = f->part;
    f->part = P_SKIP;
    if (k == P_FILE) {
        lseek(f->files[f->nfiles - 1].fd, 0, SEEK_SET);
    } else if (k == P_FIELD) {
        const char *v = evf__req_strndup(
            r, f->value.data ? (const char *)f->value.data : "",
            f->value.len);
        if (!v)
            return reject(r, 503, NULL);
        return add_field(r, f->part_name, v, f->value.len);
    }
    return 0;
}

static const evf_mp_cbs_t mp_cbs = { on_begin, on_data, on_end };

bool
evf__forms_begin(evf_req *r)
{
    r->forms_checked = true;
    const char *ct = req_param(r, "CONTENT_TYPE");
    if (!ct || strncasecmp(ct, "multipart/form-data", 19) || !r->path)
        return false;
    const evf_router_t *rt = r->ops->routes(r->owner);
    if (!rt)
        return false;
    evf_match_t m;
    evf_router_match(rt, r->method, r->path, &m);
    if (m.status)
        return false;
    const evf_route_entry_t *e = m.data;
    if (!e->route->form)
        return false;
    struct evf_forms *f = forms_new(r, e->route->form);
    if (!f) {
        reject(r, 503, NULL);
        return true;
    }
    if (evf_mp_boundary(ct, f->boundary, sizeof(f->boundary)) < 0) {
        reject(r, 400, "Malformed multipart body: no valid boundary in "
                       "Content-Type");
        return true;
    }
    evf_mp_init(&f->mp, f->boundary, &mp_cbs, r);
    f->streaming = true;
    return true;
}

int
evf__forms_feed(evf_req *r, const uint8_t *data, size_t len)
{
    struct evf_forms *f = r->forms;
    if (r->reject || !f || !f->streaming)
        return 0;
    if (evf_mp_feed(&f->mp, data, len) < 0 && !r->reject)
        reject(r, 400, evf_mp_error(&f->mp));
    return 0;
}

void
evf__forms_end(evf_req *r)
{
    struct evf_forms *f = r->forms;
    if (r->reject || !f || !f->streaming)
        return;
    if (evf_mp_finish(&f->mp) < 0 && !r->reject)
        reject(r, 400, evf_mp_error(&f->mp));
}

/* ---- validation ---------------------------------------------------------- */

/* Split an urlencoded body into fields. */
static int
parse_urlencoded(evf_req *r)
{
    const char *qs = (const char *)r->body.data;
    size_t len = r->body.len, pos = 0;
    evf_url_field_t uf;
    while (qs && evf_url_query_next(qs, len, &pos, &uf)) {
        char *name = evf_alloc(r, uf.nlen + 1);
        char *value = evf_alloc(r, uf.vlen + 1);
        if (!name || !value)
            return -ENOMEM;
        evf_pct_decode(name, uf.name, uf.nlen, true);
        size_t vl = evf_pct_decode(value, uf.value, uf.vlen, true);
        if (add_field(r, name, value, vl) < 0)
            return r->reject == 413 ? 0 : -ENOMEM;
    }
    return 0;
}

static void
add_error(json_object **errs, const char *type, const char *name,
          const char *msg, const char *input, size_t ilen)
{
    if (!*errs)
        *errs = json_object_new_array();
    json_object *e = json_object_new_object();
    json_object_object_add(e, "type", json_object_new_string(type));
    json_object *loc = json_object_new_array();
    json_object_array_add(loc, json_object_new_string("body"));
    json_object_array_add(loc, json_object_new_string(name));
    json_object_object_add(e, "loc", loc);
    json_object_object_add(e, "msg", json_object_new_string(msg));
    json_object *in = NULL;
    if (input) {
        char *t = malloc(3 * ilen + 1);
        if (t) {
            size_t n = evf_utf8_scrub(t, input, ilen);
            in = json_object_new_string_len(t, (int)n);
            free(t);
        }
    }
    json_object_object_add(e, "input", in);
    json_object_array_add(*errs, e);
}

static const pair_t *
field(const struct evf_forms *f, const char *name)
{
    for (size_t i = 0; f && i < f->nfields; i++)
        if (strcmp(f->fields[i].name, name) == 0)
            return &f->fields[i];
    return NULL;
}

/* Convert text by type: NULL when valid, else the error type. */
static const char *
convert(evf_type type, const char *text, int64_t *i, double *d, bool *b,
        const char **msg)
{
    size_t len = strlen(text);
    switch (type) {
    case EVF_INT:
        return evf_convert_int(text, len, i, msg);
    case EVF_FLOAT:
        return evf_convert_float(text, len, d, msg);
    case EVF_BOOL:
        return evf_convert_bool(text, len, b, msg);
    default:
        return NULL;
    }
}

static void
check_bounds(const evf_query *q, double x, const char *text,
             json_object **errs)
{
    bool lo = q->has_ge && x < q->ge;
    if (!lo && !(q->has_le && x > q->le))
        return;
    double bound = lo ? q->ge : q->le;
    char msg[128], num[48];
    if (q->type == EVF_INT)
        snprintf(num, sizeof(num), "%lld", (long long)bound);
    else
        snprintf(num, sizeof(num), "%.17g", bound);
    snprintf(msg, sizeof(msg), "Input should be %s %s",
             lo ? "greater than or equal to" : "less than or equal to", num);
    add_error(errs, lo ? "greater_than_equal" : "less_than_equal", q->name,
              msg, text, strlen(text));
    json_object *e = json_object_array_get_idx(
        *errs, json_object_array_length(*errs) - 1);
    json_object *ctx = json_object_new_object();
    json_object_object_add(ctx, lo ? "ge" : "le",
                           q->type == EVF_INT
                               ? json_object_new_int64((int64_t)bound)
                               : json_object_new_double(bound));
    json_object_object_add(e, "ctx", ctx);
}

static size_t
count_files(const struct evf_forms *f, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; f && i < f->nfiles; i++)
        n += strcmp(f->files[i].field, name) == 0;
    return n;
}

int
evf__forms_validate(evf_req *r)
{
    const evf_query *spec = r->route->route->form;
    if (!spec)
        return 0;
    struct evf_forms *f = r->forms;
    if (!f) {
        if (!(f = forms_new(r, spec)))
            return -ENOMEM;
        const char *ct = req_param(r, "CONTENT_TYPE");
        if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33)
            && parse_urlencoded(r) < 0)
            return -ENOMEM;
    }
    json_object *errs = r->errors;
    for (const evf_query *q = spec; q->name; q++) {
        if (q->type == EVF_FILE) {
            if (!count_files(f, q->name) && !q->optional)
                add_error(&errs, "missing", q->name, "Field required",
                          NULL, 0);
            continue;
        }
        const pair_t *p = field(f, q->name);
        if (p && strlen(p->value) != p->vlen) {
            add_error(&errs, "string_no_nul", q->name,
                      "Input should not contain a NUL byte", p->value,
                      p->vlen);
            continue;
        }
        const char *text = p ? p->value : q->def;
        if (!text) {
            if (!q->optional)
                add_error(&errs, "missing", q->name, "Field required",
                          NULL, 0);
            continue;
        }
        int64_t i = 0;
        double d = 0;
        bool b = false;
        const char *msg;
        const char *et = convert(q->type, text, &i, &d, &b, &msg);
        if (et)
            add_error(&errs, et, q->name, msg, text, strlen(text));
        else if (q->type == EVF_INT)
            check_bounds(q, (double)i, text, &errs);
        else if (q->type == EVF_FLOAT)
            check_bounds(q, d, text, &errs);
    }
    r->errors = errs;
    return 0;
}

/* ---- accessors ---------------------------------------------------------- */

const evf_upload *
evf_files(evf_req *r, const char *name, size_t *n)
{
    struct evf_forms *f = r->forms;
    size_t k = count_files(f, name);
    evf_upload *out = k ? evf_alloc(r, k * sizeof(*out)) : NULL;
    if (!out)
        k = 0;
    for (size_t i = 0, j = 0; out && i < f->nfiles; i++)
        if (strcmp(f->files[i].field, name) == 0)
            out[j++] = f->files[i];
    if (n)
        *n = k;
    return out;
}

const evf_upload *
evf_file(evf_req *r, const char *name)
{
    struct evf_forms *f = r->forms;
    for (size_t i = 0; f && i < f->nfiles; i++)
        if (strcmp(f->files[i].field, name) == 0)
            return &f->files[i];
    return NULL;
}

bool
evf_form_has(evf_req *r, const char *name)
{
    return field(r->forms, name) != NULL;
}

const char *
evf_form_str(evf_req *r, const char *name)
{
    const pair_t *p = field(r->forms, name);
    if (p)
        return p->value;
    const evf_query *q = r->route ? declared(r->route->route->form, name)
                                  : NULL;
    return q ? q->def : NULL;
}

/* The field as type, as validated: 0 when absent or invalid. */
static void
form_value(evf_req *r, const char *name, evf_type type, int64_t *i,
           double *d, bool *b)
{
    const char *text = evf_form_str(r, name);
    const char *msg;
    if (text && convert(type, text, i, d, b, &msg)) {
        *i = 0;
        *d = 0;
        *b = false;
    }
}

int64_t
evf_form_int(evf_req *r, const char *name)
{
    int64_t i = 0;
    double d = 0;
    bool b = false;
    form_value(r, name, EVF_INT, &i, &d, &b);
    return i;
}

double
evf_form_float(evf_req *r, const char *name)
{
    int64_t i = 0;
    double d = 0;
    bool b = false;
    form_value(r, name, EVF_FLOAT, &i, &d, &b);
    return d;
}

bool
evf_form_bool(evf_req *r, const char *name)
{
    int64_t i = 0;
    double d = 0;
    bool b = false;
    form_value(r, name, EVF_BOOL, &i, &d, &b);
    return b;
}
