/*
 * access: access log (see access.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "mem.h"
#include "stats.h"

#define DEFAULT_FORMAT \
    "$time $remote_addr \"$method $uri\" $status $bytes $duration_ms $route"

static int fd = -1;
static char *path;
static char *format;

bool
evf_access_enabled(void)
{
    return fd >= 0;
}

int
evf_access_open(const char *p, const char *f)
{
    evf_access_close();
    if (!p || strcmp(p, "off") == 0)
        return 0;
    int nfd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (nfd < 0)
        return -errno;
    fd = nfd;
    path = evf_mem_strdup(p);
    format = evf_mem_strdup(f ? f : DEFAULT_FORMAT);
    return 0;
}

int
evf_access_reopen(void)
{
    if (fd < 0)
        return 0;
    int nfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (nfd < 0)
        return -errno;
    dup2(nfd, fd);
    close(nfd);
    return 0;
}

void
evf_access_close(void)
{
    if (fd >= 0)
        close(fd);
    fd = -1;
    evf_free(path);
    evf_free(format);
    path = format = NULL;
}

/* Append s to buf at *len, replacing spaces and quotes in values that
 * come from the client so a line always splits the same way. */
static void
put(char *buf, size_t cap, size_t *len, const char *s, bool client)
{
    for (; s && *s && *len + 1 < cap; s++) {
        char c = *s;
        if (client && (c == '"' || c == '\n' || c == '\r' ||
                       (unsigned char)c < 0x20))
            c = '?';
        buf[(*len)++] = c;
    }
}

void
evf_access_write(const evf_access_entry_t *e)
{
    if (fd < 0)
        return;
    char buf[4096], tmp[64];
    size_t len = 0;
    for (const char *f = format; *f && len + 2 < sizeof(buf); f++) {
        if (*f != '$') {
            buf[len++] = *f;
            continue;
        }
        const char *v = f + 1;
        size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyz_");
        const char *val = NULL;
        bool client = false;
#define IS(name) (n == sizeof(name) - 1 && memcmp(v, name, n) == 0)
        if (IS("time")) {
            struct timespec ts;
            struct tm tm;
            clock_gettime(CLOCK_REALTIME, &ts);
            gmtime_r(&ts.tv_sec, &tm);
            strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%SZ", &tm);
            val = tmp;
        } else if (IS("remote_addr")) {
            val = e->remote_addr ? e->remote_addr : "-";
        } else if (IS("method")) {
            val = e->method, client = true;
        } else if (IS("uri")) {
            val = e->uri, client = true;
        } else if (IS("status")) {
            snprintf(tmp, sizeof(tmp), "%d", e->status), val = tmp;
        } else if (IS("bytes")) {
            snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)e->bytes);
            val = tmp;
        } else if (IS("duration_ms")) {
            snprintf(tmp, sizeof(tmp), "%.3f", e->duration * 1000);
            val = tmp;
        } else if (IS("route")) {
            val = e->route ? e->route : "-";
        } else if (IS("request_id")) {
            snprintf(tmp, sizeof(tmp), "%u", e->request_id), val = tmp;
        } else if (IS("x_request_id")) {
            val = e->x_request_id ? e->x_request_id : "-", client = true;
        } else if (IS("pid")) {
            snprintf(tmp, sizeof(tmp), "%d", (int)getpid()), val = tmp;
        }
#undef IS
        if (!val) {
            buf[len++] = '$';
            continue;
        }
        put(buf, sizeof(buf) - 1, &len, val, client);
        f += n;
    }
    buf[len++] = '\n';
    ssize_t w = write(fd, buf, len);
    if (w != (ssize_t)len)
        evf_log_write_failed(EVF_LOG_FILE_ACCESS,
                             &evf_stats.access_log_errors,
                             w < 0 ? errno : ENOSPC);
}
