/*
 * conf: the directive table, the INI reader and the apply step (see
 * conf.h).  Owns evf_settings and its defaults: they are the rows'.
 *
 * A row, as redis's config.c keeps them: name, command-line option, type,
 * where the value goes in an evf_config_t, bounds, the typed default and
 * the step that makes the value live.  Parsing writes the config only;
 * evf_config_apply() runs the steps.
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf.h"
#include "coro.h"
#include "log.h"
#include "mem.h"
#include "settings.h"

enum type {
    T_LISTEN, T_STR, T_UINT, T_INT, T_ULONG, T_SIZE, T_SECONDS, T_MS,
    T_MODE, T_LEVEL
};

typedef union defval {
    double n;               /* numbers, in the unit the user writes */
    const char *s;          /* strings; NULL: unset (see doc) */
} defval_t;

typedef struct directive directive_t;
typedef void apply_fn(const evf_config_t *c, const directive_t *d);

struct directive {
    const char *name;
    const char *opt;        /* long option */
    const char *alias;      /* older long option, or NULL */
    int shortopt;
    enum type type;
    size_t off;             /* in evf_config_t */
    size_t soff;            /* in evf_settings_t, or NO_SET */
    apply_fn *apply;        /* NULL: read by the daemon at start */
    double min, max;
    defval_t def;
    const char *doc;        /* what an unset (NULL) default means */
    const char *help;
};

#define NO_SET SIZE_MAX
/* A runtime setting: kept in c->set, copied to evf_settings. */
#define SET(f) offsetof(evf_config_t, set.f), offsetof(evf_settings_t, f), \
               apply_copy
/* A string setting: kept in c, pointed to by evf_settings. */
#define SSET(f, sf) offsetof(evf_config_t, f), offsetof(evf_settings_t, sf), \
                    apply_copy
/* Read by the daemon at start (listeners, files, process setup). */
#define START(f) offsetof(evf_config_t, f), NO_SET, NULL
#define N(x) { .n = (x) }
#define S(x) { .s = (x) }

static apply_fn apply_copy, apply_backlog, apply_level, apply_stack;

static const directive_t table[] = {
    { "listen", "listen", NULL, 'l', T_LISTEN, START(listen), 0, 0, S(NULL),
      "(fd 0)", "HOST:PORT, [V6]:PORT or unix:/path; repeatable" },
    { "listen.mode", "listen-mode", "socket-mode", 'm', T_MODE,
      START(listen_mode), 0, 07777, N(0660), NULL, "mode of unix sockets" },
    { "listen.owner", "listen-owner", NULL, 0, T_STR, START(listen_owner),
      0, 0, S(NULL), "(unchanged)", "owner of unix sockets" },
    { "listen.group", "listen-group", NULL, 0, T_STR, START(listen_group),
      0, 0, S(NULL), "(unchanged)", "group of unix sockets" },
    { "backlog", "backlog", NULL, 'b', T_INT,
      offsetof(evf_config_t, set.backlog), offsetof(evf_settings_t, backlog),
      apply_backlog, 0, 1 << 20, N(0), NULL,
      "listen backlog; 0: the system maximum (net.core.somaxconn)" },
    { "allowed_clients", "allowed-clients", NULL, 0, T_STR,
      START(allowed_clients), 0, 0, S(NULL), "(any)",
      "addresses allowed to connect, as FCGI_WEB_SERVER_ADDRS" },
    { "workers", "workers", NULL, 'w', T_UINT, SET(workers), 0, 256, N(1),
      NULL, "worker processes; 0: a single process without a master" },
    /* FastAPI's thread pool (AnyIO's) also has 40 threads: ported apps
     * keep the same blocking capacity.  The queue holds what a burst of a
     * thousand blocking requests needs before 503s start. */
    { "threads", "threads", NULL, 'T', T_UINT, SET(pool_threads), 1, 4096,
      N(40), NULL, "threads of the blocking pool, per worker" },
    { "queue", "queue", NULL, 0, T_UINT, SET(pool_queue), 0, 1000000,
      N(1024), NULL, "blocking jobs waiting for a thread, at most (then 503)" },
    { "max_conns", "max-conns", NULL, 0, T_UINT, SET(max_conns), 1, 1000000,
      N(10000), NULL, "connections per worker" },
    { "max_requests_per_conn", "max-requests-per-conn", "max-reqs", 0,
      T_UINT, SET(max_reqs_per_conn), 1, 65535, N(16384), NULL,
      "requests open at once on one connection" },
    { "max_requests", "max-requests", NULL, 0, T_UINT, SET(max_requests), 0,
      4000000000.0, N(0), NULL,
      "recycle a worker after this many requests; 0: never" },
    { "max_params", "max-params", NULL, 0, T_SIZE, SET(max_params), 1024,
      1 << 30, N(256 * 1024), NULL,
      "bytes of FastCGI params per request (then 431)" },
    { "max_body", "max-body", NULL, 0, T_SIZE, SET(max_body), 0,
      1099511627776.0, N(64 * 1024 * 1024), NULL,
      "bytes of request body (then 413)" },
    { "request_deadline", "request-deadline", "deadline", 0, T_SECONDS,
      SET(request_deadline), 0, 1e7, N(0), NULL,
      "seconds; deadline of every request's awaits; 0: none" },
    { "grace", "grace", NULL, 0, T_SECONDS, START(grace), 0, 1e7, N(30),
      NULL, "seconds a graceful stop or reload lets requests finish" },
    { "slow_callback_ms", "slow-callback-ms", NULL, 0, T_MS,
      SET(slow_callback), 0, 3600000, N(100), NULL,
      "warn when a handler runs this long without awaiting" },
    { "stack_size", "stack-size", NULL, 0, T_SIZE,
      offsetof(evf_config_t, stack_size), NO_SET, apply_stack, 16384,
      1 << 26, N(64 * 1024), NULL, "coroutine stack size" },
    { "log", "log", NULL, 0, T_STR, START(log), 0, 0, S("stderr"), NULL,
      "error log: stderr, syslog, or a file" },
    { "log_level", "log-level", NULL, 0, T_LEVEL,
      offsetof(evf_config_t, log_level), NO_SET, apply_level, 0, 0,
      N(EVF_LOG_LVL_NOTICE), NULL, "error, warn, notice, info or debug" },
    { "access_log", "access-log", NULL, 0, T_STR, START(access_log), 0, 0,
      S("off"), NULL, "access log file, or off" },
    { "access_log_format", "access-log-format", NULL, 0, T_STR,
      START(access_log_format), 0, 0, S(NULL), "(see evfcgid.conf(5))",
      "access log line, with $variables" },
    { "pid_file", "pid-file", NULL, 'p', T_STR, START(pid_file), 0, 0,
      S(NULL), "(none)", "file to write the master's pid to" },
    { "user", "user", NULL, 0, T_STR, START(user), 0, 0, S(NULL),
      "(unchanged)", "user to run as after binding (when started as root)" },
    { "group", "group", NULL, 0, T_STR, START(group), 0, 0, S(NULL),
      "(the user's)", "group to run as after binding" },
    { "rlimit_files", "rlimit-files", NULL, 0, T_ULONG, START(rlimit_files),
      0, 1e9, N(0), NULL,
      "open files limit to set; 0: the hard limit" },
    { "status_path", "status-path", NULL, 0, T_STR,
      SSET(status_path, status_path), 0, 0, S(NULL), "(off)",
      "path answering the status page (JSON; ?text for text)" },
    { "ping_path", "ping-path", NULL, 0, T_STR, SSET(ping_path, ping_path),
      0, 0, S(NULL), "(off)", "path answering the ping response" },
    { "ping_response", "ping-response", NULL, 0, T_STR,
      SSET(ping_response, ping_response), 0, 0, S("pong"), NULL,
      "what the ping path answers" },
    /* Forms and uploads. */
    { "upload_dir", "upload-dir", NULL, 0, T_STR,
      SSET(upload_dir, upload_dir), 0, 0, S(NULL), "($TMPDIR, else /tmp)",
      "directory of uploaded files while their request runs" },
    { "max_upload_size", "max-upload-size", NULL, 0, T_SIZE,
      SET(max_upload_size), 0, 1099511627776.0, N(50 * 1024 * 1024), NULL,
      "bytes of one uploaded file (then 413)" },
    { "max_upload_total", "max-upload-total", NULL, 0, T_SIZE,
      SET(max_upload_total), 0, 1099511627776.0, N(1024.0 * 1024 * 1024),
      NULL, "bytes of all files uploaded in one request (then 413)" },
    { "max_upload_files", "max-upload-files", NULL, 0, T_UINT,
      SET(max_upload_files), 0, 1000000, N(100), NULL,
      "files uploaded in one request (then 413)" },
    /* Timeouts and caps against stalled peers (issue 14, item 4). */
    { "idle_timeout", "idle-timeout", NULL, 0, T_SECONDS,
      SET(idle_timeout), 0, 1e7, N(60), NULL,
      "seconds a connection with no request and no bytes is kept; 0: ever" },
    { "request_timeout", "request-timeout", NULL, 0, T_SECONDS,
      SET(request_timeout), 0, 1e7, N(60), NULL,
      "seconds a request's params and body (or a record) may take; 0: any" },
    { "max_requests_in_flight", "max-requests-in-flight", NULL, 0, T_UINT,
      SET(max_in_flight), 1, 10000000, N(10000), NULL,
      "requests open at once per worker (then FCGI_OVERLOADED)" },
    /* ---- the OpenAPI document and its pages (docs.c) ---- */
    { "openapi_url", "openapi-url", NULL, 0, T_STR, START(openapi_url), 0,
      0, S("/openapi.json"), NULL,
      "path of the apps' OpenAPI document; off: none (and no pages)" },
    { "docs_url", "docs-url", NULL, 0, T_STR, START(docs_url), 0, 0,
      S("/docs"), NULL, "path of the Swagger UI page; off: none" },
    { "redoc_url", "redoc-url", NULL, 0, T_STR, START(redoc_url), 0, 0,
      S("/redoc"), NULL, "path of the ReDoc page; off: none" },
    { "docs_assets_url", "docs-assets-url", NULL, 0, T_STR,
      START(docs_assets_url), 0, 0, S(NULL), "(jsDelivr)",
      "where the pages load Swagger UI and ReDoc from" },
    { "root_path", "root-path", NULL, 0, T_STR, START(root_path), 0, 0,
      S(NULL), "(SCRIPT_NAME)", "prefix the front-end mounts the apps under" },
};

#define NROWS (sizeof(table) / sizeof(table[0]))

#define DEFAULT_ACCESS_FORMAT \
    "$time $remote_addr \"$method $uri\" $status $bytes $duration_ms " \
    "$route"

/* Not directives: the stream watermarks.  The rest comes from the rows. */
evf_settings_t evf_settings = {
    .out_high_water = 256 * 1024,
    .out_low_water = 64 * 1024,
};

/* Store number x (checked against d's bounds) at p, as d's type. */
static void
put_num(void *p, const directive_t *d, double x)
{
    switch (d->type) {
    case T_UINT:
    case T_MODE:
        *(unsigned *)p = (unsigned)x;
        break;
    case T_INT:
    case T_LEVEL:
        *(int *)p = (int)x;
        break;
    case T_ULONG:
        *(unsigned long *)p = (unsigned long)x;
        break;
    case T_SIZE:
        *(size_t *)p = (size_t)x;
        break;
    case T_SECONDS:
        *(double *)p = x;
        break;
    case T_MS:
        *(double *)p = x / 1000;
        break;
    default:
        break;
    }
}

static bool
is_number(enum type t)
{
    return t != T_LISTEN && t != T_STR;
}

/*
 * evf_settings starts at the rows' defaults, before main() runs: programs
 * and tests that use the modules without a configuration see the same
 * values as the daemon.
 */
__attribute__((constructor)) static void
settings_defaults(void)
{
    for (size_t i = 0; i < NROWS; i++) {
        const directive_t *d = &table[i];
        if (d->soff != NO_SET && is_number(d->type))
            put_num((char *)&evf_settings + d->soff, d, d->def.n);
    }
}

int
evf_config_init(evf_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->set = evf_settings;
    c->set.status_path = c->set.ping_path = c->set.ping_response = NULL;
    for (size_t i = 0; i < NROWS; i++) {
        const directive_t *d = &table[i];
        void *p = (char *)c + d->off;
        if (is_number(d->type)) {
            put_num(p, d, d->def.n);
        } else if (d->type == T_STR && d->def.s) {
            if (!(*(char **)p = evf_mem_strdup(d->def.s))) {
                evf_config_free(c);
                return -1;
            }
        }
    }
    return 0;
}

void
evf_config_free(evf_config_t *c)
{
    for (size_t i = 0; i < c->nlisten; i++)
        evf_free(c->listen[i]);
    for (size_t i = 0; i < c->napps; i++) {
        evf_free(c->apps[i].name);
        evf_free(c->apps[i].path);
    }
    for (size_t i = 0; i < c->nopts; i++) {
        evf_free(c->opts[i].app);
        evf_free(c->opts[i].key);
        evf_free(c->opts[i].value);
    }
    evf_free(c->opts);
    for (size_t i = 0; i < NROWS; i++)
        if (table[i].type == T_STR)
            evf_free(*(char **)((char *)c + table[i].off));
    evf_free(c->path);
    memset(c, 0, sizeof(*c));
}

static int
parse_num(const char *v, double *out, bool suffixes)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || errno || !(x >= 0))
        return -1;
    if (suffixes && *end && end[1] == '\0') {
        switch (*end | 0x20) {
        case 'k': x *= 1024; end++; break;
        case 'm': x *= 1024 * 1024; end++; break;
        case 'g': x *= 1024.0 * 1024 * 1024; end++; break;
        }
    }
    if (*end)
        return -1;
    *out = x;
    return 0;
}

static const directive_t *
find(const char *name)
{
    for (size_t i = 0; i < NROWS; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

int
evf_config_set(evf_config_t *c, const char *name, const char *value,
               char *err, size_t errlen)
{
    const directive_t *d = find(name);
    if (!d) {
        snprintf(err, errlen, "unknown directive '%s' (evfcgid --directives "
                 "lists them)", name);
        return -1;
    }
    void *p = (char *)c + d->off;
    double x;
    switch (d->type) {
    case T_LISTEN:
        if (c->nlisten == EVF_CONF_MAX_LISTEN) {
            snprintf(err, errlen, "at most %d listen addresses",
                     EVF_CONF_MAX_LISTEN);
            return -1;
        }
        if (!*value) {
            snprintf(err, errlen, "listen wants an address");
            return -1;
        }
        if (!(c->listen[c->nlisten] = evf_mem_strdup(value)))
            goto oom;
        c->nlisten++;
        return 0;
    case T_STR: {
        char *s = evf_mem_strdup(value);
        if (!s)
            goto oom;
        evf_free(*(char **)p);
        *(char **)p = s;
        return 0;
    }
    case T_LEVEL: {
        int l = evf_log_parse_level(value);
        if (l < 0) {
            snprintf(err, errlen, "log_level: '%s' is not one of error, "
                     "warn, notice, info, debug", value);
            return -1;
        }
        *(int *)p = l;
        return 0;
    }
    case T_MODE: {
        char *end;
        unsigned long m = strtoul(value, &end, 8);
        if (end == value || *end || m > 07777) {
            snprintf(err, errlen, "%s: '%s' is not an octal mode", name,
                     value);
            return -1;
        }
        *(unsigned *)p = (unsigned)m;
        return 0;
    }
    default:
        break;
    }
    bool whole = d->type == T_UINT || d->type == T_INT ||
                 d->type == T_ULONG || d->type == T_SIZE;
    if (parse_num(value, &x, d->type == T_SIZE) < 0 || x < d->min ||
        x > d->max || (whole && x != (double)(unsigned long long)x)) {
        snprintf(err, errlen, "%s: '%s' is not a %s between %.0f and %.0f",
                 name, value, whole ? "number" : "number", d->min, d->max);
        return -1;
    }
    put_num(p, d, x);
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    return -1;
}

int
evf_config_add_app(evf_config_t *c, const char *name, const char *path,
                   int line, char *err, size_t errlen)
{
    if (c->napps == EVF_CONF_MAX_APPS) {
        snprintf(err, errlen, "at most %d apps", EVF_CONF_MAX_APPS);
        return -1;
    }
    evf_conf_app_t *a = &c->apps[c->napps];
    a->name = name ? evf_mem_strdup(name) : NULL;
    a->path = path ? evf_mem_strdup(path) : NULL;
    a->line = line;
    if ((name && !a->name) || (path && !a->path)) {
        evf_free(a->name);
        evf_free(a->path);
        memset(a, 0, sizeof(*a));
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->napps++;
    return 0;
}

int
evf_config_add_option(evf_config_t *c, const char *app, const char *key,
                      const char *value)
{
    evf_conf_option_t *v = evf_realloc(c->opts, (c->nopts + 1) * sizeof(*v));
    if (!v)
        return -1;
    c->opts = v;
    v += c->nopts;
    v->app = evf_mem_strdup(app);
    v->key = evf_mem_strdup(key);
    v->value = evf_mem_strdup(value);
    if (!v->app || !v->key || !v->value) {
        evf_free(v->app);
        evf_free(v->key);
        evf_free(v->value);
        return -1;
    }
    c->nopts++;
    return 0;
}

/* ---- the INI reader ----------------------------------------------------- */

typedef struct reader {
    evf_config_t *c;
    char err[400];
    bool failed;
} reader_t;

static int
on_entry(void *user, const char *section, const char *name,
         const char *value)
{
    reader_t *rd = user;
    evf_config_t *c = rd->c;
    if (rd->failed)
        return 1;   /* report the first error only */
    if (strcmp(section, "evfcgid") == 0) {
        if (evf_config_set(c, name, value, rd->err, sizeof(rd->err)) < 0)
            goto bad;
        return 1;
    }
    if (strncmp(section, "app ", 4) == 0 && section[4]) {
        const char *app = section + 4;
        evf_conf_app_t *a = NULL;
        for (size_t i = 0; i < c->napps; i++)
            if (c->apps[i].name && strcmp(c->apps[i].name, app) == 0)
                a = &c->apps[i];
        if (!a) {
            if (evf_config_add_app(c, app, NULL, 0, rd->err,
                                   sizeof(rd->err)) < 0)
                goto bad;
            a = &c->apps[c->napps - 1];
        }
        if (strcmp(name, "path") == 0) {
            char *p = evf_mem_strdup(value);
            if (!p)
                goto oom;
            evf_free(a->path);
            a->path = p;
            return 1;
        }
        /* Anything else is an option the app reads. */
        if (evf_config_add_option(c, app, name, value) < 0)
            goto oom;
        return 1;
    }
    snprintf(rd->err, sizeof(rd->err), "unknown section [%s] (want "
             "[evfcgid] or [app NAME])", section);
    goto bad;
oom:
    snprintf(rd->err, sizeof(rd->err), "out of memory");
bad:
    rd->failed = true;
    return 0;
}

/*
 * inih does not tell a handler its line: find each app's `path` line with
 * a second, plain reading, for the messages of a load that fails later.
 */
static void
find_app_lines(evf_config_t *c, const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[1024], app[256] = "";
    if (!f)
        return;
    for (int line = 1; fgets(buf, sizeof(buf), f); line++) {
        char *s = buf + strspn(buf, " \t");
        if (sscanf(s, "[app %255[^]]]", app) == 1)
            continue;
        if (*s == '[')
            app[0] = '\0';
        else if (app[0] && strncmp(s, "path", 4) == 0 &&
                 strchr(" \t=", s[4]))
            for (size_t i = 0; i < c->napps; i++)
                if (c->apps[i].name && strcmp(c->apps[i].name, app) == 0)
                    c->apps[i].line = line;
    }
    fclose(f);
}

int
evf_config_load(evf_config_t *c, const char *path, char *err,
                size_t errlen)
{
    reader_t rd = { .c = c };
    size_t napps = c->napps;
    int line = ini_parse(path, on_entry, &rd);
    if (line == -1) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    if (line == -2) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    if (line > 0) {
        snprintf(err, errlen, "%s:%d: %s", path, line,
                 rd.failed ? rd.err : "syntax error (want name = value, "
                                      "or [section])");
        return -1;
    }
    for (size_t i = napps; i < c->napps; i++)
        if (!c->apps[i].path) {
            snprintf(err, errlen, "%s: [app %s] has no path", path,
                     c->apps[i].name);
            return -1;
        }
    find_app_lines(c, path);
    evf_free(c->path);
    if (!(c->path = evf_mem_strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    return 0;
}

/* ---- apply steps ---------------------------------------------------------- */

static size_t
width(enum type t)
{
    switch (t) {
    case T_UINT: case T_MODE: return sizeof(unsigned);
    case T_INT: case T_LEVEL: return sizeof(int);
    case T_ULONG: return sizeof(unsigned long);
    case T_SIZE: return sizeof(size_t);
    case T_SECONDS: case T_MS: return sizeof(double);
    default: return sizeof(char *);
    }
}

static void
apply_copy(const evf_config_t *c, const directive_t *d)
{
    memcpy((char *)&evf_settings + d->soff, (const char *)c + d->off,
           width(d->type));
}

static int
system_backlog(void)
{
    int v = 4096;
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    if (f) {
        if (fscanf(f, "%d", &v) != 1 || v <= 0)
            v = 4096;
        fclose(f);
    }
    return v;
}

static void
apply_backlog(const evf_config_t *c, const directive_t *d)
{
    (void)d;
    evf_settings.backlog = c->set.backlog ? c->set.backlog
                                          : system_backlog();
}

static void
apply_level(const evf_config_t *c, const directive_t *d)
{
    (void)d;
    evf_log_set_level(c->log_level);
}

static void
apply_stack(const evf_config_t *c, const directive_t *d)
{
    (void)d;
    evf_coro_set_stack_size(c->stack_size);
}

void
evf_config_apply(const evf_config_t *c)
{
    for (size_t i = 0; i < NROWS; i++)
        if (table[i].apply)
            table[i].apply(c, &table[i]);
}

/* ---- listing ---------------------------------------------------------------- */

/* d's default as the file would write it. */
static void
format_default(const directive_t *d, char *out, size_t len)
{
    double x = d->def.n;
    switch (d->type) {
    case T_LISTEN:
    case T_STR:
        snprintf(out, len, "%s", d->def.s ? d->def.s : d->doc);
        return;
    case T_MODE:
        snprintf(out, len, "%04o", (unsigned)x);
        return;
    case T_LEVEL:
        snprintf(out, len, "%s", evf_log_level_name((int)x));
        return;
    case T_SIZE: {
        unsigned long long v = (unsigned long long)x;
        static const char units[] = "gmk";
        for (int k = 0; k < 3; k++) {
            unsigned long long u = 1ULL << (10 * (3 - k));
            if (v && v % u == 0) {
                snprintf(out, len, "%llu%c", v / u, units[k]);
                return;
            }
        }
        snprintf(out, len, "%llu", v);
        return;
    }
    default:
        snprintf(out, len, "%.15g", x);
        return;
    }
}

void
evf_config_list(FILE *f)
{
    char def[64];
    for (size_t i = 0; i < NROWS; i++) {
        format_default(&table[i], def, sizeof(def));
        fprintf(f, "%-22s %-16s %s\n", table[i].name, def, table[i].help);
    }
}

const char *
evf_config_default_access_format(void)
{
    return DEFAULT_ACCESS_FORMAT;
}

size_t
evf_config_count(void)
{
    return NROWS;
}

void
evf_config_option(size_t i, const char **name, const char **longopt,
                  const char **alias, int *shortopt)
{
    *name = table[i].name;
    *longopt = table[i].opt;
    *alias = table[i].alias;
    *shortopt = table[i].shortopt;
}
