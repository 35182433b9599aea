/*
 * cookie: the Cookie request header and Set-Cookie values (see cookie.h).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cookie.h"

size_t
evf_cookie_max(const char *h, size_t len)
{
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += h[i] == ';';
    return n;
}

static bool
blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trim spaces and tabs around s[0..*len). */
static const char *
trim(const char *s, size_t *len)
{
    while (*len && blank(*s))
        s++, (*len)--;
    while (*len && blank(s[*len - 1]))
        (*len)--;
    return s;
}

bool
evf_cookie_next(const char *h, size_t len, size_t *pos,
                evf_cookie_field_t *f)
{
    while (*pos < len) {
        const char *chunk = h + *pos;
        const char *semi = memchr(chunk, ';', len - *pos);
        size_t clen = semi ? (size_t)(semi - chunk) : len - *pos;
        *pos += clen + (semi != NULL);
        const char *eq = memchr(chunk, '=', clen);
        if (eq) {
            f->nlen = (size_t)(eq - chunk);
            f->vlen = clen - f->nlen - 1;
            f->name = trim(chunk, &f->nlen);
            f->value = trim(eq + 1, &f->vlen);
        } else {
            f->nlen = 0;
            f->name = chunk;
            f->vlen = clen;
            f->value = trim(chunk, &f->vlen);
        }
        if (f->nlen || f->vlen)
            return true;
    }
    return false;
}

static bool
octal(char c)
{
    return c >= '0' && c <= '7';
}

size_t
evf_cookie_unquote(char *dst, const char *v, size_t len)
{
    size_t n = 0;
    if (len < 2 || v[0] != '"' || v[len - 1] != '"') {
        memcpy(dst, v, len);
        dst[len] = '\0';
        return len;
    }
    v++, len -= 2;
    for (size_t i = 0; i < len; i++) {
        if (v[i] != '\\' || i + 1 == len) {
            dst[n++] = v[i];
        } else if (i + 3 < len && octal(v[i + 1]) && octal(v[i + 2]) &&
                   octal(v[i + 3])) {
            dst[n++] = (char)(((v[i + 1] - '0') << 6) |
                              ((v[i + 2] - '0') << 3) | (v[i + 3] - '0'));
            i += 3;
        } else {
            dst[n++] = v[++i];
        }
    }
    dst[n] = '\0';
    return n;
}

static bool
tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

bool
evf_cookie_name_ok(const char *name)
{
    if (!name || !*name)
        return false;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        if (!tchar(*p))
            return false;
    return true;
}

/* RFC 6265 cookie-octet: no CTL, space, '"', ',', ';', '\\', DEL. */
static bool
octet_ok(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x2b) ||
           (c >= 0x2d && c <= 0x3a) || (c >= 0x3c && c <= 0x5b) ||
           (c >= 0x5d && c <= 0x7e);
}

bool
evf_cookie_value_ok(const char *value)
{
    if (!value)
        return false;
    size_t len = strlen(value);
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"')
        value++, len -= 2;
    for (size_t i = 0; i < len; i++)
        if (!octet_ok((unsigned char)value[i]))
            return false;
    return true;
}

/* An attribute value: printable ASCII without ';' (RFC 6265 av-octet). */
static bool
attr_ok(const char *v)
{
    if (!*v)
        return false;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p < 0x20 || *p >= 0x7f || *p == ';')
            return false;
    return true;
}

int
evf_cookie_format(char *dst, size_t cap, const char *name,
                  const char *value, const evf_cookie_opts *o)
{
    static const evf_cookie_opts none;
    static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
                                        "Fri", "Sat" };
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
                                          "May", "Jun", "Jul", "Aug",
                                          "Sep", "Oct", "Nov", "Dec" };
    if (!o)
        o = &none;
    const char *path = o->path ? o->path : "/";
    if (!evf_cookie_name_ok(name) || !evf_cookie_value_ok(value) ||
        !attr_ok(path) || (o->domain && !attr_ok(o->domain)) ||
        (o->samesite == EVF_SAMESITE_NONE && !o->secure) ||
        o->samesite > EVF_SAMESITE_OMIT || o->samesite < 0)
        return -1;
    size_t n = 0;
    int k = snprintf(dst, cap, "%s=%s", name, value);
#define ADD()                                   \
    do {                                        \
        if (k < 0 || (size_t)k >= cap - n)      \
            return -1;                          \
        n += (size_t)k;                         \
    } while (0)
    ADD();
    if (o->domain) {
        k = snprintf(dst + n, cap - n, "; Domain=%s", o->domain);
        ADD();
    }
    if (o->expires) {
        time_t t = (time_t)o->expires;
        struct tm tm;
        if (!gmtime_r(&t, &tm))
            return -1;
        k = snprintf(dst + n, cap - n,
                     "; Expires=%s, %02d %s %04d %02d:%02d:%02d GMT",
                     days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
                     tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
        ADD();
    }
    if (o->httponly) {
        k = snprintf(dst + n, cap - n, "; HttpOnly");
        ADD();
    }
    if (o->has_max_age) {
        k = snprintf(dst + n, cap - n, "; Max-Age=%" PRId64,
                     o->max_age > 0 ? o->max_age : 0);
        ADD();
    }
    k = snprintf(dst + n, cap - n, "; Path=%s", path);
    ADD();
    if (o->samesite != EVF_SAMESITE_OMIT) {
        static const char *const ss[] = { "Lax", "Lax", "Strict", "None" };
        k = snprintf(dst + n, cap - n, "; SameSite=%s", ss[o->samesite]);
        ADD();
    }
    if (o->secure) {
        k = snprintf(dst + n, cap - n, "; Secure");
        ADD();
    }
#undef ADD
    return (int)n;
}
