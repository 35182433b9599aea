/*
 * conf: directive table and INI reader (see conf.h).
 */
#include "config.h"

#include <errno.h>
#include <ini.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "app.h"
#include "conf.h"
#include "coro.h"
#include "log.h"
#include "mem.h"
#include "settings.h"

enum type {
    T_LISTEN, T_STR, T_UINT, T_ULONG, T_SIZE, T_SECONDS, T_MS, T_MODE,
    T_LEVEL, T_STACK
};

/* Where a value goes: the config, or the runtime settings. */
enum dest { D_CONF, D_SET };

typedef struct directive {
    const char *name;
    enum type type;
    enum dest dest;
    size_t off;
    double min, max;
    const char *def;        /* as documented */
    const char *help;
} directive_t;

#define C(f) D_CONF, offsetof(evf_config_t, f)
#define S(f) D_SET, offsetof(evf_settings_t, f)

static const directive_t table[] = {
    { "listen", T_LISTEN, C(listen), 0, 0, "(fd 0)",
      "HOST:PORT, [V6]:PORT or unix:/path; repeatable" },
    { "listen.mode", T_MODE, C(listen_mode), 0, 07777, "0660",
      "mode of unix sockets" },
    { "listen.owner", T_STR, C(listen_owner), 0, 0, "(unchanged)",
      "owner of unix sockets" },
    { "listen.group", T_STR, C(listen_group), 0, 0, "(unchanged)",
      "group of unix sockets" },
    { "backlog", T_UINT, S(backlog), 0, 1 << 20, "0",
      "listen backlog; 0: the system maximum (net.core.somaxconn)" },
    { "allowed_clients", T_STR, C(allowed_clients), 0, 0, "(any)",
      "addresses allowed to connect, as FCGI_WEB_SERVER_ADDRS" },
    { "workers", T_UINT, C(workers), 0, 256, "1",
      "worker processes; 0: a single process without a master" },
    { "threads", T_UINT, S(pool_threads), 1, 4096, "40",
      "threads of the blocking pool, per worker" },
    { "queue", T_UINT, S(pool_queue), 0, 1000000, "1024",
      "blocking jobs waiting for a thread, at most (then 503)" },
    { "max_conns", T_UINT, S(max_conns), 1, 1000000, "10000",
      "connections per worker" },
    { "max_requests_per_conn", T_UINT, S(max_reqs_per_conn), 1, 65535,
      "16384", "requests open at once on one connection" },
    { "max_requests", T_UINT, C(max_requests), 0, 4000000000.0, "0",
      "recycle a worker after this many requests; 0: never" },
    { "max_params", T_SIZE, S(max_params), 1024, 1 << 30, "256k",
      "bytes of FastCGI params per request (then 431)" },
    { "max_body", T_SIZE, S(max_body), 0, 1099511627776.0, "64m",
      "bytes of request body (then 413)" },
    { "request_deadline", T_SECONDS, S(request_deadline), 0, 1e7, "0",
      "seconds; deadline of every request's awaits; 0: none" },
    { "grace", T_SECONDS, C(grace), 0, 1e7, "30",
      "seconds a graceful stop or reload lets requests finish" },
    { "slow_callback_ms", T_MS, S(slow_callback), 0, 3600000, "100",
      "warn when a handler runs this long without awaiting" },
    { "stack_size", T_STACK, S(max_conns) /* unused: sets the coro pool */, 16384, 1 << 26, "64k",
      "coroutine stack size" },
    { "log", T_STR, C(log), 0, 0, "stderr",
      "error log: stderr, syslog, or a file" },
    { "log_level", T_LEVEL, C(log), 0, 0, "notice",
      "error, warn, notice, info or debug" },
    { "access_log", T_STR, C(access_log), 0, 0, "off",
      "access log file, or off" },
    { "access_log_format", T_STR, C(access_log_format), 0, 0,
      "(see evfcgid.conf(5))", "access log line, with $variables" },
    { "pid_file", T_STR, C(pid_file), 0, 0, "(none)",
      "file to write the master's pid to" },
    { "user", T_STR, C(user), 0, 0, "(unchanged)",
      "user to run as after binding (when started as root)" },
    { "group", T_STR, C(group), 0, 0, "(the user's)",
      "group to run as after binding" },
    { "rlimit_files", T_ULONG, C(rlimit_files), 0, 1e9, "(the hard limit)",
      "open files limit to set" },
    { "status_path", T_STR, C(status_path), 0, 0, "(off)",
      "path answering the status page (JSON; ?text for text)" },
    { "ping_path", T_STR, C(ping_path), 0, 0, "(off)",
      "path answering the ping response" },
    { "ping_response", T_STR, C(ping_response), 0, 0, "pong",
      "what the ping path answers" },
};

#define DEFAULT_ACCESS_FORMAT \
    "$time $remote_addr \"$method $uri\" $status $bytes $duration_ms " \
    "$route"

void
evf_config_init(evf_config_t *c)
{
    memset(c, 0, sizeof(*c));
    c->listen_mode = 0660;
    c->workers = 1;
    c->grace = 30;
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
    char **strs[] = { &c->listen_owner, &c->listen_group,
                      &c->allowed_clients, &c->log, &c->access_log,
                      &c->access_log_format, &c->pid_file, &c->user,
                      &c->group, &c->status_path, &c->ping_path,
                      &c->ping_response };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        evf_free(*strs[i]);
    memset(c, 0, sizeof(*c));
}

static int
parse_num(const char *v, double *out, const char *suffixes)
{
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || errno || !(x >= 0))
        return -1;
    if (*end && suffixes && strchr(suffixes, *end) && end[1] == '\0') {
        switch (*end | 0x20) {
        case 'k': x *= 1024; break;
        case 'm': x *= 1024 * 1024; break;
        case 'g': x *= 1024.0 * 1024 * 1024; break;
        }
        end++;
    }
    if (*end)
        return -1;
    *out = x;
    return 0;
}

int
evf_config_set(evf_config_t *c, const char *name, const char *value,
               char *err, size_t errlen)
{
    const directive_t *d = NULL;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (strcmp(table[i].name, name) == 0)
            d = &table[i];
    if (!d) {
        snprintf(err, errlen, "unknown directive '%s' (evfcgid --directives "
                 "lists them)", name);
        return -1;
    }
    char *base = d->dest == D_CONF ? (char *)c : (char *)&evf_settings;
    void *p = base + d->off;
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
        c->listen[c->nlisten++] = evf_mem_strdup(value);
        return 0;
    case T_STR:
        evf_free(*(char **)p);
        *(char **)p = evf_mem_strdup(value);
        return 0;
    case T_LEVEL: {
        int l = evf_log_parse_level(value);
        if (l < 0) {
            snprintf(err, errlen, "log_level: '%s' is not one of error, "
                     "warn, notice, info, debug", value);
            return -1;
        }
        evf_log_set_level(l);
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
    const char *suffixes = d->type == T_SIZE || d->type == T_STACK ? "kKmMgG"
                                                                   : NULL;
    if (parse_num(value, &x, suffixes) < 0 || x < d->min || x > d->max ||
        ((d->type == T_UINT || d->type == T_ULONG) && x != (double)(long)x)) {
        snprintf(err, errlen, "%s: '%s' is not a %s between %.0f and %.0f",
                 name, value,
                 d->type == T_SIZE ? "size" : d->type == T_SECONDS ? "number"
                                                                  : "number",
                 d->min, d->max);
        return -1;
    }
    switch (d->type) {
    case T_UINT:
        *(unsigned *)p = (unsigned)x;
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
    case T_STACK:
        evf_coro_set_stack_size((size_t)x);
        break;
    default:
        break;
    }
    return 0;
}

typedef struct reader {
    evf_config_t *c;
    char err[512];
    bool failed;
    bool in_app;
    evf_conf_app_t *app;
} reader_t;

static int
on_entry(void *user, const char *section, const char *name,
         const char *value)
{
    reader_t *rd = user;
    char err[400];
    if (rd->failed)
        return 1;   /* report the first error only */
    if (strcmp(section, "evfcgid") == 0) {
        if (evf_config_set(rd->c, name, value, err, sizeof(err)) < 0)
            goto bad;
        return 1;
    }
    if (strncmp(section, "app ", 4) == 0 && section[4]) {
        const char *app = section + 4;
        evf_config_t *c = rd->c;
        evf_conf_app_t *a = NULL;
        for (size_t i = 0; i < c->napps; i++)
            if (c->apps[i].name && strcmp(c->apps[i].name, app) == 0)
                a = &c->apps[i];
        if (!a) {
            if (c->napps == EVF_CONF_MAX_APPS) {
                snprintf(err, sizeof(err), "at most %d apps",
                         EVF_CONF_MAX_APPS);
                goto bad;
            }
            a = &c->apps[c->napps++];
            a->name = evf_mem_strdup(app);
        }
        if (strcmp(name, "path") == 0) {
            evf_free(a->path);
            a->path = evf_mem_strdup(value);
            return 1;
        }
        /* Anything else is an option the app reads. */
        evf_app_set_option(app, name, value);
        return 1;
    }
    snprintf(err, sizeof(err), "unknown section [%s] (want [evfcgid] or "
             "[app NAME])", section);
bad:
    snprintf(rd->err, sizeof(rd->err), "%s", err);
    rd->failed = true;
    return 0;
}

int
evf_config_load(evf_config_t *c, const char *path)
{
    reader_t rd = { .c = c };
    int line = ini_parse(path, on_entry, &rd);
    if (line == -1) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        return -1;
    }
    if (line == -2) {
        fprintf(stderr, "%s: out of memory\n", path);
        return -1;
    }
    if (line > 0) {
        fprintf(stderr, "%s:%d: %s\n", path, line,
                rd.failed ? rd.err : "syntax error (want name = value, "
                                     "or [section])");
        return -1;
    }
    for (size_t i = 0; i < c->napps; i++)
        if (!c->apps[i].path) {
            fprintf(stderr, "%s: [app %s] has no path\n", path,
                    c->apps[i].name);
            return -1;
        }
    return 0;
}

void
evf_config_list(FILE *f)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        fprintf(f, "%-22s %-16s %s\n", table[i].name, table[i].def,
                table[i].help);
}

const char *
evf_config_default_access_format(void)
{
    return DEFAULT_ACCESS_FORMAT;
}
