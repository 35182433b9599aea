/*
 * security: FastAPI's security helpers (fastapi.security) as dependency
 * resolvers: HTTP Bearer, HTTP Basic and API keys in a header, the query
 * or a cookie, with FastAPI's statuses, details and WWW-Authenticate
 * challenges.  The scheme tables (evf_security) are the app's, static;
 * credentials are request memory.  Loop thread, or the pool thread that
 * owns a blocking request.
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "request_int.h"

/*
 * Decode base64 as Python's b64decode does by default: bytes outside the
 * alphabet are skipped, padding must complete the last quantum.  dst
 * holds len + 1 bytes; NUL-terminated.  Returns the length, or -1.
 */
static long
b64_decode(char *dst, const char *s, size_t len)
{
    static const char abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned acc = 0;
    size_t bits = 0, n = 0, quantum = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') {
            pad++;
            continue;
        }
        const char *p = s[i] ? strchr(abc, s[i]) : NULL;
        if (!p)
            continue;           /* not in the alphabet: ignored */
        if (pad)
            return -1;          /* data after padding */
        acc = (acc << 6) | (unsigned)(p - abc);
        bits += 6;
        quantum++;
        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    size_t rest = quantum % 4;
    if (rest == 1 || (rest && pad < 4 - rest))
        return -1;              /* incomplete quantum */
    dst[n] = '\0';
    return (long)n;
}

static const char *
challenge(evf_req *r, const evf_security *s)
{
    switch (s->kind) {
    case EVF_SEC_HTTP_BASIC:
        if (s->realm) {
            size_t n = strlen(s->realm) + 40;
            char *h = evf_alloc(r, n);
            if (h) {
                memcpy(h, "WWW-Authenticate: Basic realm=\"", 31);
                memcpy(h + 31, s->realm, strlen(s->realm));
                memcpy(h + 31 + strlen(s->realm), "\"", 2);
                return h;
            }
        }
        return "WWW-Authenticate: Basic";
    case EVF_SEC_API_KEY:
        return "WWW-Authenticate: APIKey";
    default:
        return "WWW-Authenticate: Bearer";
    }
}

/* 401 {"detail":"Not authenticated"} with the scheme's challenge. */
static evf_credentials *
not_authenticated(evf_req *r, const evf_security *s)
{
    const char *hdrs[] = { challenge(r, s), NULL };
    evf_raise_headers(r, 401, "Not authenticated", hdrs);
    return NULL;
}

/* FastAPI's get_authorization_scheme_param: split at the first space. */
static void
scheme_param(const char *h, const char **scheme, size_t *slen,
             const char **param)
{
    const char *sp = h ? strchr(h, ' ') : NULL;
    *scheme = h ? h : "";
    *slen = sp ? (size_t)(sp - h) : (h ? strlen(h) : 0);
    *param = sp ? sp + 1 : "";
}

evf_credentials *
evf_security_check(evf_req *r, const evf_security *s)
{
    if (!r || !s)
        return NULL;
    evf_credentials *c = evf_alloc(r, sizeof(*c));
    if (!c) {
        evf_raise(r, 503, "Service Unavailable");
        return NULL;
    }
    memset(c, 0, sizeof(*c));
    if (s->kind == EVF_SEC_API_KEY) {
        const char *key = NULL;
        if (s->name && s->in == EVF_IN_HEADER)
            key = evf_header(r, s->name);
        else if (s->name && s->in == EVF_IN_COOKIE)
            key = evf_cookie(r, s->name);
        else if (s->name)
            key = evf_query_str(r, s->name);
        if (!key || !*key)
            return s->no_auto_error ? NULL : not_authenticated(r, s);
        c->credentials = key;
        return c;
    }
    const char *h = evf_header(r, "Authorization");
    const char *scheme, *param;
    size_t slen;
    scheme_param(h, &scheme, &slen, &param);
    const char *want = s->kind == EVF_SEC_HTTP_BASIC ? "basic" : "bearer";
    bool bad = !h || !*h || slen != strlen(want) ||
               strncasecmp(scheme, want, slen) != 0;
    if (s->kind == EVF_SEC_HTTP_BEARER)
        bad = bad || !*param;
    if (bad)
        return s->no_auto_error ? NULL : not_authenticated(r, s);
    c->scheme = evf__req_strndup(r, scheme, slen);
    c->credentials = param;
    if (s->kind == EVF_SEC_HTTP_BEARER)
        return c;
    /* Basic: base64 of ASCII "user:password", else 401 (even optional). */
    char *plain = evf_alloc(r, strlen(param) + 1);
    if (!plain) {
        evf_raise(r, 503, "Service Unavailable");
        return NULL;
    }
    long n = b64_decode(plain, param, strlen(param));
    bool ascii = n >= 0;
    for (long i = 0; ascii && i < n; i++)
        ascii = (unsigned char)plain[i] < 0x80 && plain[i] != '\0';
    char *colon = ascii ? strchr(plain, ':') : NULL;
    if (!colon)
        return not_authenticated(r, s);
    *colon = '\0';
    c->username = plain;
    c->password = colon + 1;
    return c;
}
