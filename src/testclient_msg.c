/*
 * testclient_msg: a test request as a web server would send it, and an
 * answer's CGI head read back (see testclient.h).
 *
 * The CGI variables are nginx's fastcgi_params for a request on
 * http://testserver (FastAPI's TestClient host): REQUEST_METHOD,
 * REQUEST_URI (path and query as given), DOCUMENT_URI, SCRIPT_NAME (""),
 * PATH_INFO, QUERY_STRING, CONTENT_TYPE, CONTENT_LENGTH (empty without a
 * body), the server and remote addresses (loopback), and one HTTP_* per
 * request header (repeated names joined with ", ", cookies with "; ").
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "testclient.h"

/* ---- the PARAMS stream -------------------------------------------------- */

static int
put_len(evf_buf_t *b, size_t n)
{
    uint8_t v[4];
    if (n < 128)
        return evf_buf_append(b, (uint8_t[]){ (uint8_t)n }, 1);
    v[0] = (uint8_t)(0x80 | ((n >> 24) & 0x7f));
    v[1] = (uint8_t)(n >> 16);
    v[2] = (uint8_t)(n >> 8);
    v[3] = (uint8_t)n;
    return evf_buf_append(b, v, 4);
}

/* One FastCGI name-value pair.  0 or -ENOMEM. */
static int
put_pair(evf_buf_t *b, const char *name, const char *value, size_t vlen)
{
    size_t nlen = strlen(name);
    if (put_len(b, nlen) < 0 || put_len(b, vlen) < 0 ||
        evf_buf_append(b, name, nlen) < 0 ||
        evf_buf_append(b, value, vlen) < 0)
        return -ENOMEM;
    return 0;
}

/* The request's headers as CGI variables, merged by name. */
typedef struct var {
    char *name;
    char *value;
} var_t;

typedef struct vars {
    var_t *v;
    size_t n;
} vars_t;

static void
vars_free(vars_t *vs)
{
    for (size_t i = 0; i < vs->n; i++) {
        free(vs->v[i].name);
        free(vs->v[i].value);
    }
    free(vs->v);
}

static var_t *
vars_find(vars_t *vs, const char *name)
{
    for (size_t i = 0; i < vs->n; i++)
        if (strcmp(vs->v[i].name, name) == 0)
            return &vs->v[i];
    return NULL;
}

/* Set name to value[0..len), or append it after sep.  0 or -ENOMEM. */
static int
vars_add(vars_t *vs, const char *name, const char *value, size_t len,
         const char *sep)
{
    var_t *v = vars_find(vs, name);
    if (v) {
        size_t old = strlen(v->value), slen = strlen(sep);
        char *s = realloc(v->value, old + slen + len + 1);
        if (!s)
            return -ENOMEM;
        memcpy(s + old, sep, slen);
        memcpy(s + old + slen, value, len);
        s[old + slen + len] = '\0';
        v->value = s;
        return 0;
    }
    var_t *t = realloc(vs->v, (vs->n + 1) * sizeof(*t));
    if (!t)
        return -ENOMEM;
    vs->v = t;
    char *n = strdup(name), *s = strndup(value, len);
    if (!n || !s) {
        free(n);
        free(s);
        return -ENOMEM;
    }
    t[vs->n++] = (var_t){ n, s };
    return 0;
}

/* "Name: value" -> HTTP_NAME (CONTENT_TYPE, CONTENT_LENGTH bare). */
static int
add_header(vars_t *vs, const char *h)
{
    const char *colon = strchr(h, ':');
    if (!colon || colon == h || colon - h > 200) {
        evf_log_error("testclient: header \"%s\" is not \"Name: value\"",
                      h);
        return EVF_EINVAL;
    }
    char name[256] = "HTTP_";
    size_t n = 5;
    for (const char *p = h; p < colon; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch <= ' ' || ch >= 0x7f) {
            evf_log_error("testclient: bad header name in \"%s\"", h);
            return EVF_EINVAL;
        }
        name[n++] = ch == '-' ? '_' : (char)toupper(ch);
    }
    name[n] = '\0';
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t vlen = strlen(v);
    while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        vlen--;
    const char *cgi = name;
    if (strcmp(name, "HTTP_CONTENT_TYPE") == 0 ||
        strcmp(name, "HTTP_CONTENT_LENGTH") == 0)
        cgi = name + 5;
    return vars_add(vs, cgi, v, vlen,
                    strcmp(cgi, "HTTP_COOKIE") == 0 ? "; " : ", ");
}

/* ---- bodies ------------------------------------------------------------- */

static int
put_str(evf_buf_t *b, const char *s)
{
    return evf_buf_append(b, s, strlen(s));
}

/* application/x-www-form-urlencoded, as browsers encode it. */
static int
put_urlencoded(evf_buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char e[3];
        size_t n = 1;
        if (isalnum(*p) || strchr("*-._", *p)) {
            e[0] = (char)*p;
        } else if (*p == ' ') {
            e[0] = '+';
        } else {
            e[0] = '%';
            e[1] = hex[*p >> 4];
            e[2] = hex[*p & 15];
            n = 3;
        }
        if (evf_buf_append(b, e, n) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int
encode_form(const char *const *form, evf_buf_t *body)
{
    for (size_t i = 0; form[i]; i += 2) {
        if (!form[i + 1]) {
            evf_log_error("testclient: form field \"%s\" has no value",
                          form[i]);
            return EVF_EINVAL;
        }
        if ((i && put_str(body, "&") < 0) ||
            put_urlencoded(body, form[i]) < 0 || put_str(body, "=") < 0 ||
            put_urlencoded(body, form[i + 1]) < 0)
            return -ENOMEM;
    }
    return 0;
}

/* True if the boundary occurs in any of the parts' bytes. */
static bool
boundary_used(const char *bd, const evf_client_req *req)
{
    size_t bl = strlen(bd);
    for (size_t i = 0; req->form && req->form[i]; i += 2)
        if (strstr(req->form[i], bd) ||
            (req->form[i + 1] && strstr(req->form[i + 1], bd)))
            return true;
    for (const evf_client_file *f = req->files; f->field; f++)
        if (f->len >= bl && memmem(f->data, f->len, bd, bl))
            return true;
    return false;
}

/* A part's header line value, without CR, LF or '"' (it is quoted). */
static int
put_quoted(evf_buf_t *b, const char *s)
{
    for (; *s; s++) {
        char ch = *s == '"' || *s == '\r' || *s == '\n' ? '_' : *s;
        if (evf_buf_append(b, &ch, 1) < 0)
            return -ENOMEM;
    }
    return 0;
}

static int
encode_multipart(const evf_client_req *req, evf_buf_t *body, char *bd,
                 size_t bdlen)
{
    for (unsigned k = 0;; k++) {
        snprintf(bd, bdlen, "evfcgi-testclient-%08x", 0x5eed1u + k * 7919u);
        if (!boundary_used(bd, req))
            break;
    }
    for (size_t i = 0; req->form && req->form[i]; i += 2) {
        if (!req->form[i + 1]) {
            evf_log_error("testclient: form field \"%s\" has no value",
                          req->form[i]);
            return EVF_EINVAL;
        }
        if (put_str(body, "--") < 0 || put_str(body, bd) < 0 ||
            put_str(body, "\r\nContent-Disposition: form-data; name=\"") <
                0 ||
            put_quoted(body, req->form[i]) < 0 ||
            put_str(body, "\"\r\n\r\n") < 0 ||
            put_str(body, req->form[i + 1]) < 0 ||
            put_str(body, "\r\n") < 0)
            return -ENOMEM;
    }
    for (const evf_client_file *f = req->files; f->field; f++) {
        const char *ct = f->content_type ? f->content_type
                                         : "application/octet-stream";
        if (put_str(body, "--") < 0 || put_str(body, bd) < 0 ||
            put_str(body, "\r\nContent-Disposition: form-data; name=\"") <
                0 ||
            put_quoted(body, f->field) < 0 ||
            put_str(body, "\"; filename=\"") < 0 ||
            put_quoted(body, f->filename ? f->filename : "") < 0 ||
            put_str(body, "\"\r\nContent-Type: ") < 0 ||
            put_quoted(body, ct) < 0 || put_str(body, "\r\n\r\n") < 0 ||
            evf_buf_append(body, f->data, f->len) < 0 ||
            put_str(body, "\r\n") < 0)
            return -ENOMEM;
    }
    if (put_str(body, "--") < 0 || put_str(body, bd) < 0 ||
        put_str(body, "--\r\n") < 0)
        return -ENOMEM;
    return 0;
}

/*
 * The body and its type.  *ctype points to a static string or into ctbuf;
 * NULL when there is no body.
 */
static int
encode_body(const evf_client_req *req, evf_buf_t *body, const char **ctype,
            char *ctbuf, size_t ctlen)
{
    int kinds = (req->body != NULL) + (req->json != NULL) +
                (req->form != NULL || req->files != NULL);
    *ctype = NULL;
    if (kinds > 1) {
        evf_log_error("testclient: a request has one of body, json, form");
        return EVF_EINVAL;
    }
    if (req->json) {
        *ctype = "application/json";
        return put_str(body, req->json) < 0 ? -ENOMEM : 0;
    }
    if (req->files) {
        char bd[64];
        int rc = encode_multipart(req, body, bd, sizeof(bd));
        snprintf(ctbuf, ctlen, "multipart/form-data; boundary=%s", bd);
        *ctype = ctbuf;
        return rc;
    }
    if (req->form) {
        *ctype = "application/x-www-form-urlencoded";
        return encode_form(req->form, body);
    }
    if (req->body) {
        *ctype = req->content_type;
        return evf_buf_append(body, req->body, req->body_len) < 0 ? -ENOMEM
                                                                 : 0;
    }
    return 0;
}

/* ---- the whole request --------------------------------------------------- */

static int
fill_vars(const evf_client_req *req, vars_t *vs, const char *ctype,
          bool has_body, size_t body_len)
{
    for (const char *const *h = req->headers; h && *h; h++) {
        int rc = add_header(vs, *h);
        if (rc < 0)
            return rc;
    }
    for (const char *const *k = req->cookies; k && *k; k++) {
        if (!strchr(*k, '=')) {
            evf_log_error("testclient: cookie \"%s\" is not name=value", *k);
            return EVF_EINVAL;
        }
        if (vars_add(vs, "HTTP_COOKIE", *k, strlen(*k), "; ") < 0)
            return -ENOMEM;
    }
    if (!vars_find(vs, "HTTP_HOST") &&
        vars_add(vs, "HTTP_HOST", "testserver", 10, "") < 0)
        return -ENOMEM;
    /* The encoded body's own type and length win over a header's. */
    var_t *v = vars_find(vs, "CONTENT_TYPE");
    if (ctype && v) {
        char *t = strdup(ctype);
        if (!t)
            return -ENOMEM;
        free(v->value);
        v->value = t;
    } else if (!v && vars_add(vs, "CONTENT_TYPE", ctype ? ctype : "",
                              ctype ? strlen(ctype) : 0, "") < 0) {
        return -ENOMEM;
    }
    char len[32] = "";
    if (has_body)
        snprintf(len, sizeof(len), "%zu", body_len);
    if ((v = vars_find(vs, "CONTENT_LENGTH"))) {
        char *t = strdup(len);
        if (!t)
            return -ENOMEM;
        free(v->value);
        v->value = t;
        return 0;
    }
    return vars_add(vs, "CONTENT_LENGTH", len, strlen(len), "") < 0 ? -ENOMEM
                                                                    : 0;
}

int
evf__tc_encode(const evf_client_req *req, evf_buf_t *params, evf_buf_t *body)
{
    const char *path = req->path ? req->path : "/";
    if (path[0] != '/' || strpbrk(path, " \r\n#")) {
        evf_log_error("testclient: path \"%s\" must start with '/' and "
                      "hold no space, CR, LF or '#'", path);
        return EVF_EINVAL;
    }
    char ctbuf[128];
    const char *ctype;
    int rc = encode_body(req, body, &ctype, ctbuf, sizeof(ctbuf));
    if (rc < 0)
        return rc;
    const char *method = req->method;
    if (!method)
        method = req->body || req->json || req->form || req->files
                     ? "POST" : "GET";
    vars_t vs = { NULL, 0 };
    bool has_body = req->body || req->json || req->form || req->files;
    rc = fill_vars(req, &vs, ctype, has_body, evf_buf_used(body));
    if (rc < 0)
        goto out;
    size_t plen = strcspn(path, "?");
    const char *qs = path[plen] ? path + plen + 1 : "";
    char *doc = strndup(path, plen);
    if (!doc) {
        rc = -ENOMEM;
        goto out;
    }
    rc = -ENOMEM;
    if (put_pair(params, "GATEWAY_INTERFACE", "CGI/1.1", 7) < 0 ||
        put_pair(params, "SERVER_SOFTWARE", "evfcgi-testclient", 17) < 0 ||
        put_pair(params, "SERVER_PROTOCOL", "HTTP/1.1", 8) < 0 ||
        put_pair(params, "REQUEST_SCHEME", "http", 4) < 0 ||
        put_pair(params, "SERVER_NAME", "testserver", 10) < 0 ||
        put_pair(params, "SERVER_ADDR", "127.0.0.1", 9) < 0 ||
        put_pair(params, "SERVER_PORT", "80", 2) < 0 ||
        put_pair(params, "REMOTE_ADDR", "127.0.0.1", 9) < 0 ||
        put_pair(params, "REMOTE_PORT", "50000", 5) < 0 ||
        put_pair(params, "REQUEST_METHOD", method, strlen(method)) < 0 ||
        put_pair(params, "REQUEST_URI", path, strlen(path)) < 0 ||
        put_pair(params, "DOCUMENT_URI", doc, plen) < 0 ||
        put_pair(params, "SCRIPT_NAME", "", 0) < 0 ||
        put_pair(params, "PATH_INFO", doc, plen) < 0 ||
        put_pair(params, "QUERY_STRING", qs, strlen(qs)) < 0)
        goto free_doc;
    for (size_t i = 0; i < vs.n; i++)
        if (put_pair(params, vs.v[i].name, vs.v[i].value,
                     strlen(vs.v[i].value)) < 0)
            goto free_doc;
    rc = 0;
free_doc:
    free(doc);
out:
    vars_free(&vs);
    return rc;
}

/* ---- the answer's head --------------------------------------------------- */

int
evf__tc_parse_head(const char *head, size_t len, evf_client_resp *resp)
{
    /* One block: the header array, then the strings it points to. */
    size_t lines = 0;
    for (size_t i = 0; i + 1 < len; i++)
        if (head[i] == '\r' && head[i + 1] == '\n')
            lines++;
    lines++;
    char *block = malloc(lines * sizeof(evf_client_header) + len + 1);
    if (!block)
        return -ENOMEM;
    evf_client_header *hs = (evf_client_header *)block;
    char *s = block + lines * sizeof(evf_client_header);
    memcpy(s, head, len);
    s[len] = '\0';
    resp->status = 200;
    resp->headers = hs;
    resp->nheaders = 0;
    char *line = s;
    while (line < s + len) {
        char *end = strstr(line, "\r\n");
        if (!end)
            end = s + len;
        *end = '\0';
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            if (strcasecmp(line, "Status") == 0)
                resp->status = atoi(v);
            else
                hs[resp->nheaders++] = (evf_client_header){ line, v };
        }
        line = end + 2;
    }
    return 0;
}
