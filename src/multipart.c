/*
 * multipart: the multipart/form-data push parser (see multipart.h).
 *
 * DESIGN.  The body is scanned for the delimiter CR LF "--" boundary.  The
 * first delimiter may start the body without its CR LF, so the parse
 * begins as if those two bytes had matched already.  A boundary holds no
 * CR (bchars), so CR appears in the delimiter only at its start: on a
 * mismatch the bytes matched so far are content and only the current byte
 * can begin a new match.  Partly matched bytes are never stored: they are
 * the delimiter's own, re-emitted from it when the match fails, so a
 * delimiter split across any number of pieces costs no copy.  Content
 * runs up to the next CR go to the data callback in one call.
 *
 * A part's header block is collected byte by byte into the fixed hdr
 * buffer (bounded size and line count), then parsed in place.
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "multipart.h"

enum {
    M_PREAMBLE,     /* before the first delimiter: ignored */
    M_AFTER,        /* just after a delimiter: "--", padding or CR */
    M_DASH,         /* after one '-' of a close delimiter */
    M_PAD,          /* transport padding (SP, HTAB) before CR LF */
    M_CR,           /* CR seen, LF expected */
    M_HEADERS,      /* a part's header block */
    M_BODY,         /* a part's content */
    M_EPILOGUE      /* after the close delimiter: ignored */
};

/* RFC 2046's bchars (the last one may not be a space). */
static bool
bchar(int c)
{
    return isalnum(c) || (c && strchr("'()+_,-./:=? ", c));
}

int
evf_mp_boundary(const char *ct, char *out, size_t outsz)
{
    static const char type[] = "multipart/form-data";
    if (!ct || strncasecmp(ct, type, sizeof(type) - 1))
        return -1;
    const char *p = ct + sizeof(type) - 1;
    while (*p) {
        p += strspn(p, " \t");
        if (*p != ';')
            return -1;
        p++;
        p += strspn(p, " \t");
        size_t klen = strcspn(p, "= \t;");
        const char *key = p;
        p += klen;
        p += strspn(p, " \t");
        if (*p != '=')
            return -1;
        p++;
        p += strspn(p, " \t");
        char val[EVF_MP_BOUNDARY_MAX + 2];
        size_t vlen = 0;
        bool too_long = false;
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++) {
                if (*p == '\\' && p[1])
                    p++;
                if (vlen <= EVF_MP_BOUNDARY_MAX)
                    val[vlen++] = *p;
                else
                    too_long = true;
            }
            if (*p != '"')
                return -1;
            p++;
        } else {
            for (; *p && *p != ';' && *p != ' ' && *p != '\t'; p++) {
                if (vlen <= EVF_MP_BOUNDARY_MAX)
                    val[vlen++] = *p;
                else
                    too_long = true;
            }
        }
        if (klen != 8 || strncasecmp(key, "boundary", 8))
            continue;
        if (too_long || vlen == 0 || vlen > EVF_MP_BOUNDARY_MAX ||
            vlen + 1 > outsz || val[vlen - 1] == ' ')
            return -1;
        for (size_t i = 0; i < vlen; i++)
            if (!bchar((unsigned char)val[i]))
                return -1;
        memcpy(out, val, vlen);
        out[vlen] = '\0';
        return 0;
    }
    return -1;
}

void
evf_mp_init(evf_mp_t *mp, const char *boundary, const evf_mp_cbs_t *cbs,
            void *ud)
{
    size_t n = strlen(boundary);
    if (n > EVF_MP_BOUNDARY_MAX)
        n = EVF_MP_BOUNDARY_MAX;
    mp->cbs = cbs;
    mp->ud = ud;
    memcpy(mp->delim, "\r\n--", 4);
    memcpy(mp->delim + 4, boundary, n);
    mp->dlen = 4 + n;
    mp->state = M_PREAMBLE;
    mp->match = 2;          /* the body may open with "--boundary" */
    mp->hlen = mp->line = 0;
    mp->hlines = 0;
    mp->err = 0;
    mp->msg = "";
    mp->parts = 0;
}

static int
fail(evf_mp_t *mp, int err, const char *msg)
{
    mp->err = err;
    mp->msg = msg;
    return err;
}

/* A callback's answer: negative stops the parse for good. */
static int
cb(evf_mp_t *mp, int rc)
{
    if (rc < 0)
        mp->err = rc;
    return rc < 0 ? rc : 0;
}

/* ---- the part's headers ------------------------------------------------ */

/*
 * Read a parameter value at *pp (token or quoted-string), decoding it in
 * place and NUL-terminating it; *pp moves past it.  NULL if malformed.
 */
static char *
param_value(char **pp, bool *sep)
{
    char *p = *pp, *start, *o;
    *sep = false;
    if (*p == '"') {
        start = o = ++p;
        for (; *p && *p != '"'; p++) {
            if (*p == '\\' && p[1])
                p++;
            *o++ = *p;
        }
        if (*p != '"')
            return NULL;
        *pp = p + 1;
        *o = '\0';         /* o <= p: at most the closing quote */
        return start;
    }
    start = p;
    p += strcspn(p, ";");
    char *end = p;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (*p == ';' && end == p) {
        *sep = true;        /* the ';' itself becomes the terminator */
        p++;
    }
    *end = '\0';
    *pp = p;
    return start;
}

static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/*
 * RFC 8187's ext-value (charset'language'pct-encoded), decoded in place;
 * NULL when malformed.
 */
static char *
ext_value(char *v)
{
    char *q1 = strchr(v, '\'');
    char *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    if (!q2)
        return NULL;
    char *s = q2 + 1, *o = s;
    for (; *s; s++) {
        if (*s == '%') {
            int h = hexval((unsigned char)s[1]);
            int l = h < 0 ? -1 : hexval((unsigned char)s[2]);
            if (l < 0)
                return NULL;
            int c = h * 16 + l;
            if (c == 0)
                return NULL;
            *o++ = (char)c;
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
    return q2 + 1;
}

/* Content-Disposition: form-data; name=...; filename=...; filename*=... */
static int
disposition(char *v, evf_mp_part_t *part)
{
    size_t tlen = strcspn(v, "; \t");
    if (tlen != 9 || strncasecmp(v, "form-data", 9))
        return -1;
    char *p = v + tlen;
    char *fname = NULL, *fname_ext = NULL;
    bool has_name = false, sep = false;
    for (;;) {
        if (!sep) {
            p += strspn(p, " \t");
            if (!*p)
                break;
            if (*p != ';')
                return -1;
            p++;
        }
        p += strspn(p, " \t");
        if (!*p)
            break;          /* a trailing ';' */
        char *key = p;
        size_t klen = strcspn(p, "= \t;");
        p += klen;
        p += strspn(p, " \t");
        if (*p != '=')
            return -1;
        key[klen] = '\0';   /* at or before the '=' */
        p++;
        p += strspn(p, " \t");
        char *val = param_value(&p, &sep);
        if (!val)
            return -1;
        if (!strcasecmp(key, "name")) {
            part->name = val;
            has_name = true;
        } else if (!strcasecmp(key, "filename")) {
            fname = val;
        } else if (!strcasecmp(key, "filename*")) {
            fname_ext = ext_value(val);
            if (!fname_ext)
                return -1;
        }
    }
    if (!has_name)
        return -1;
    part->filename = fname_ext ? fname_ext : fname;
    return 0;
}

static void
trim(char **s)
{
    char *p = *s;
    p += strspn(p, " \t");
    char *e = p + strlen(p);
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    *s = p;
}

/* The header block is complete (hdr[0..hlen), its lines CR LF ended). */
static int
headers_done(evf_mp_t *mp)
{
    char *h = mp->hdr;
    size_t n = mp->hlen;
    h[n] = '\0';
    if (memchr(h, '\0', n))
        return fail(mp, EVF_MP_EMALFORMED,
                    "Malformed multipart body: NUL byte in part headers");
    /* Unfold continuation lines (obsolete, but harmless). */
    for (size_t i = 0; i + 2 < n; i++)
        if (h[i] == '\r' && h[i + 1] == '\n' &&
            (h[i + 2] == ' ' || h[i + 2] == '\t'))
            h[i] = h[i + 1] = ' ';
    evf_mp_part_t part = { 0 };
    bool has_disp = false;
    char *line = h;
    while (*line) {
        char *eol = strstr(line, "\r\n");
        char *next = eol ? eol + 2 : line + strlen(line);
        if (eol)
            *eol = '\0';
        char *colon = strchr(line, ':');
        if (!colon || colon == line)
            return fail(mp, EVF_MP_EMALFORMED,
                        "Malformed multipart body: bad part header line");
        *colon = '\0';
        char *name = line, *val = colon + 1;
        trim(&name);
        trim(&val);
        if (!strcasecmp(name, "Content-Disposition")) {
            if (has_disp || disposition(val, &part) < 0)
                return fail(mp, EVF_MP_EMALFORMED,
                            "Malformed multipart body: bad "
                            "Content-Disposition in a part");
            has_disp = true;
        } else if (!strcasecmp(name, "Content-Type")) {
            part.content_type = val;
        }
        line = next;
    }
    if (!has_disp)
        return fail(mp, EVF_MP_EMALFORMED,
                    "Malformed multipart body: part without "
                    "Content-Disposition: form-data");
    mp->parts++;
    return cb(mp, mp->cbs->begin(mp->ud, &part));
}

/* One byte of a header block. */
static int
header_byte(evf_mp_t *mp, char c)
{
    if (mp->hlen == EVF_MP_HEADER_MAX)
        return fail(mp, EVF_MP_EHEADERS,
                    "Multipart part headers too large");
    mp->hdr[mp->hlen++] = c;
    if (c != '\n')
        return 0;
    if (mp->hlen < 2 || mp->hdr[mp->hlen - 2] != '\r')
        return fail(mp, EVF_MP_EMALFORMED,
                    "Malformed multipart body: part header line not ended "
                    "by CR LF");
    if (mp->hlen - mp->line == 2) {     /* the empty line */
        mp->hlen = mp->line;
        mp->state = M_BODY;
        mp->match = 0;
        return headers_done(mp);
    }
    if (++mp->hlines > EVF_MP_HEADERS_MAX)
        return fail(mp, EVF_MP_EHEADERS, "Too many multipart part headers");
    mp->line = mp->hlen;
    return 0;
}

/* ---- the body ----------------------------------------------------------- */

/* Content bytes: a part's go to the callback, others are dropped. */
static int
emit(evf_mp_t *mp, const char *p, size_t n)
{
    if (n == 0 || mp->state != M_BODY)
        return 0;
    return cb(mp, mp->cbs->data(mp->ud, p, n));
}

int
evf_mp_feed(evf_mp_t *mp, const void *data, size_t len)
{
    const char *p = data;
    size_t i = 0;
    int rc;

    if (mp->err)
        return mp->err;
    while (i < len) {
        char c = p[i];
        switch (mp->state) {
        case M_PREAMBLE:
        case M_BODY:
            if (mp->match == 0) {
                const char *cr = memchr(p + i, '\r', len - i);
                size_t run = cr ? (size_t)(cr - (p + i)) : len - i;
                if ((rc = emit(mp, p + i, run)) < 0)
                    return rc;
                i += run;
                if (cr) {
                    mp->match = 1;
                    i++;
                }
                break;
            }
            if (c == mp->delim[mp->match]) {
                i++;
                if (++mp->match < mp->dlen)
                    break;
                mp->match = 0;
                if (mp->state == M_BODY &&
                    (rc = cb(mp, mp->cbs->end(mp->ud))) < 0)
                    return rc;
                mp->state = M_AFTER;
                break;
            }
            /* Not the delimiter: what matched was content; look at c
             * again from the start of the delimiter. */
            rc = emit(mp, mp->delim, mp->match);
            mp->match = 0;
            if (rc < 0)
                return rc;
            break;
        case M_AFTER:
            i++;
            if (c == '-')
                mp->state = M_DASH;
            else if (c == ' ' || c == '\t')
                mp->state = M_PAD;
            else if (c == '\r')
                mp->state = M_CR;
            else
                return fail(mp, EVF_MP_EMALFORMED,
                            "Malformed multipart body: bad delimiter line");
            break;
        case M_DASH:
            i++;
            if (c != '-')
                return fail(mp, EVF_MP_EMALFORMED,
                            "Malformed multipart body: bad delimiter line");
            mp->state = M_EPILOGUE;
            break;
        case M_PAD:
            i++;
            if (c == '\r')
                mp->state = M_CR;
            else if (c != ' ' && c != '\t')
                return fail(mp, EVF_MP_EMALFORMED,
                            "Malformed multipart body: bad delimiter line");
            break;
        case M_CR:
            i++;
            if (c != '\n')
                return fail(mp, EVF_MP_EMALFORMED,
                            "Malformed multipart body: bad delimiter line");
            mp->state = M_HEADERS;
            mp->hlen = mp->line = 0;
            mp->hlines = 0;
            break;
        case M_HEADERS:
            i++;
            if ((rc = header_byte(mp, c)) < 0)
                return rc;
            break;
        case M_EPILOGUE:
            return 0;
        }
    }
    return 0;
}

int
evf_mp_finish(evf_mp_t *mp)
{
    if (mp->err)
        return mp->err;
    switch (mp->state) {
    case M_EPILOGUE:
        return 0;
    case M_PREAMBLE:
        return fail(mp, EVF_MP_EMALFORMED,
                    "Malformed multipart body: no boundary delimiter found");
    case M_HEADERS:
    case M_BODY:
        return fail(mp, EVF_MP_EMALFORMED,
                    "Malformed multipart body: truncated part");
    default:
        return fail(mp, EVF_MP_EMALFORMED,
                    "Malformed multipart body: missing final boundary");
    }
}

const char *
evf_mp_error(const evf_mp_t *mp)
{
    return mp->msg ? mp->msg : "";
}
