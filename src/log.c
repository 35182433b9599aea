/*
 * log: error log (see log.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int level = EVF_LOG_LVL_NOTICE;
static int fd = STDERR_FILENO;
static int use_syslog;
static char path[1024];
static uint64_t *fail_counter;  /* failed writes, or NULL */

static const char *const names[] = {
    [EVF_LOG_LVL_ERROR] = "error", [EVF_LOG_LVL_WARN] = "warn",
    [EVF_LOG_LVL_NOTICE] = "notice", [EVF_LOG_LVL_INFO] = "info",
    [EVF_LOG_LVL_DEBUG] = "debug",
};

void
evf_log_set_level(int l)
{
    level = l;
}

int
evf_log_level(void)
{
    return level;
}

const char *
evf_log_level_name(int l)
{
    return l >= EVF_LOG_LVL_ERROR && l <= EVF_LOG_LVL_DEBUG ? names[l] : "?";
}

int
evf_log_parse_level(const char *name)
{
    for (int i = EVF_LOG_LVL_ERROR; i <= EVF_LOG_LVL_DEBUG; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int
evf_log_open(const char *target)
{
    if (strcmp(target, "stderr") == 0) {
        use_syslog = 0;
        path[0] = '\0';
        fd = STDERR_FILENO;
        return 0;
    }
    if (strcmp(target, "syslog") == 0) {
        openlog("evfcgid", LOG_PID | LOG_NDELAY, LOG_DAEMON);
        use_syslog = 1;
        return 0;
    }
    if (strlen(target) >= sizeof(path))
        return -ENAMETOOLONG;
    int nfd = open(target, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (nfd < 0)
        return -errno;
    if (fd != STDERR_FILENO) {
        /*
         * Pool threads may be writing to fd right now: replace the file
         * under the same descriptor (dup3 is atomic), never close it
         * first, so a line goes to the old file or the new one, never to
         * a descriptor that was closed or reused meanwhile.
         */
        if (dup3(nfd, fd, O_CLOEXEC) < 0) {
            int e = errno;
            close(nfd);
            return -e;
        }
        close(nfd);
    } else {
        fd = nfd;
    }
    use_syslog = 0;
    snprintf(path, sizeof(path), "%s", target);
    return 0;
}

int
evf_log_reopen(void)
{
    if (!path[0])
        return 0;
    char p[sizeof(path)];
    memcpy(p, path, sizeof(p));
    return evf_log_open(p);
}

void
evf_log_vmsg(int l, const char *fmt, va_list ap)
{
    if (l > level)
        return;
    if (use_syslog) {
        vsyslog(l, fmt, ap);
        return;
    }
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof(line),
                     "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ evfcgid[%d] %s: ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                     (int)getpid(), names[l]);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    ssize_t w = write(fd, line, len);
    if (w != (ssize_t)len)
        evf_log_write_failed(EVF_LOG_FILE_ERROR, fail_counter,
                             w < 0 ? errno : ENOSPC);
}

/* ---- failed writes --------------------------------------------------------- */

void
evf_log_count_failures(uint64_t *counter)
{
    fail_counter = counter;
}

void
evf_log_write_failed(int which, uint64_t *counter, int err)
{
    static int64_t next_reports[2];     /* monotonic seconds */
    static uint64_t unreporteds[2];
    static const char *const whats[2] = { "error log", "access log" };
    struct timespec ts;
    char line[256];

    which = which == EVF_LOG_FILE_ACCESS;
    int64_t *next_report = &next_reports[which];
    uint64_t *unreported = &unreporteds[which];
    const char *what = whats[which];
    if (counter)
        __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(unreported, 1, __ATOMIC_RELAXED);
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t due = __atomic_load_n(next_report, __ATOMIC_RELAXED);
    if ((int64_t)ts.tv_sec < due ||
        !__atomic_compare_exchange_n(next_report, &due,
                                     (int64_t)ts.tv_sec + 10, false,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;     /* reported less than 10 s ago, or by another thread */
    uint64_t n = __atomic_exchange_n(unreported, 0, __ATOMIC_RELAXED);
    int len = snprintf(line, sizeof(line), "evfcgid[%d]: error: cannot "
                       "write to the %s: %s (%llu failed log writes since "
                       "the last report; at most one report per 10 s)\n",
                       (int)getpid(), what, strerror(err),
                       (unsigned long long)n);
    if (len > 0 && (fd != STDERR_FILENO || use_syslog)) {
        ssize_t w = write(STDERR_FILENO, line,
                          len < (int)sizeof(line) ? (size_t)len
                                                  : sizeof(line) - 1);
        (void)w;
    }
}

void
evf_log_msg(int l, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    evf_log_vmsg(l, fmt, ap);
    va_end(ap);
}
