/*
 * process: detach, pid file, limits, privileges, -t checks (see
 * process.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access.h"
#include "log.h"
#include "process.h"
#include "server.h"
#include "settings.h"

int
evf_process_detach(int *fds, size_t nfds)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    setsid();
    if (chdir("/") < 0)
        return -1;
    int null = open("/dev/null", O_RDWR);
    if (null < 0)
        return -1;
    /* fd 0 may be the inherited listener: move it out of the way. */
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] <= 2) {
            int nfd = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
            if (nfd < 0)
                return -1;
            fds[i] = nfd;
        }
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    if (null > 2)
        close(null);
    return 0;
}

/* The pid file written, for the workers of a master that died. */
static char pidfile[4096];

/* The pid path names, or 0 (no file, or not a pid). */
static long
pid_in(const char *path)
{
    long v = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%ld", &v) != 1 || v <= 0)
        v = 0;
    fclose(f);
    return v;
}

int
evf_process_write_pidfile(const char *path)
{
    long old = pid_in(path);
    if (old && old != (long)getpid() && kill((pid_t)old, 0) < 0 &&
        errno == ESRCH)
        evf_log_notice("pid file %s named pid %ld, which is not running "
                       "(stale): replacing it", path, old);
    FILE *f = fopen(path, "w");
    if (!f) {
        evf_log_error("cannot write pid file %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%d\n", (int)getpid());
    if (fclose(f) != 0) {
        evf_log_error("cannot write pid file %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(pidfile, sizeof(pidfile), "%s", path);
    return 0;
}

/*
 * Descriptors a worker keeps out of max_conns: 16 of its own (listeners,
 * logs, the loop, the pool) and a quarter of the limit (at most 4096) for
 * the apps' clients (HTTP, Redis, PostgreSQL), so that a worker full of
 * connections can still open the ones its requests need.
 */
static unsigned long long
fd_reserve(unsigned long long limit)
{
    unsigned long long apps = limit / 4;
    return 16 + (apps > 4096 ? 4096 : apps);
}

void
evf_process_limit_conns(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    unsigned long long limit = rl.rlim_cur, reserve = fd_reserve(limit);
    unsigned long long cap = limit > reserve + 1 ? limit - reserve : 1;
    if (evf_settings.max_conns <= cap)
        return;
    evf_log_notice("open files limit is %llu: serving at most %llu "
                   "connections per worker, keeping %llu descriptors for "
                   "the worker itself and the apps' own connections (raise "
                   "rlimit_files for more)", limit, cap, limit - cap);
    evf_settings.max_conns = (unsigned)cap;
}

void
evf_process_set_nofile(unsigned long want)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return;
    if (want) {
        rl.rlim_cur = want;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want)
            rl.rlim_max = want;     /* works as root */
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            evf_log_warn("rlimit_files %lu: %s", want, strerror(errno));
    } else if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    evf_process_limit_conns();
}

/* The identity the serving processes take (evf_process_prepare_user). */
static struct {
    bool set;
    uid_t uid;
    gid_t gid;
    char name[256];
} who;

int
evf_process_prepare_user(const evf_config_t *c)
{
    who.set = false;
    if (c->listen_owner || c->listen_group) {
        struct passwd *pw = c->listen_owner ? getpwnam(c->listen_owner)
                                            : NULL;
        struct group *gr = c->listen_group ? getgrnam(c->listen_group)
                                           : NULL;
        if ((c->listen_owner && !pw) || (c->listen_group && !gr)) {
            evf_log_error("listen.owner/listen.group: no such user or "
                          "group");
            return -1;
        }
        for (size_t i = 0; i < c->nlisten; i++)
            if (strncmp(c->listen[i], "unix:", 5) == 0 &&
                chown(c->listen[i] + 5, pw ? pw->pw_uid : (uid_t)-1,
                      gr ? gr->gr_gid : (gid_t)-1) < 0) {
                evf_log_error("chown %s: %s", c->listen[i] + 5,
                              strerror(errno));
                return -1;
            }
    }
    if (c->group && !c->user) {
        evf_log_error("group %s is set without user: set user too (a "
                      "process that keeps its user keeps its privileges)",
                      c->group);
        return -1;
    }
    if (!c->user)
        return 0;
    if (geteuid() != 0) {
        evf_log_warn("user %s: not started as root; running as uid %d",
                     c->user, (int)geteuid());
        return 0;
    }
    struct passwd *pw = getpwnam(c->user);
    if (!pw) {
        evf_log_error("user %s: no such user", c->user);
        return -1;
    }
    who.uid = pw->pw_uid;
    who.gid = pw->pw_gid;
    if (c->group) {
        struct group *gr = getgrnam(c->group);
        if (!gr) {
            evf_log_error("group %s: no such group", c->group);
            return -1;
        }
        who.gid = gr->gr_gid;
    }
    snprintf(who.name, sizeof(who.name), "%s", c->user);
    who.set = true;
    evf_process_give_logs(c);
    return 0;
}

int
evf_process_become_user(void)
{
    if (!who.set)
        return 0;
    if (initgroups(who.name, who.gid) < 0 || setgid(who.gid) < 0 ||
        setuid(who.uid) < 0) {
        evf_log_error("cannot become %s: %s", who.name, strerror(errno));
        return -1;
    }
    return 0;
}

void
evf_process_give_logs(const evf_config_t *c)
{
    const char *files[] = { c->log, c->access_log };
    if (!who.set || geteuid() != 0)
        return;
    for (size_t i = 0; i < 2; i++) {
        const char *f = files[i];
        if (!f || !strcmp(f, "off") || !strcmp(f, "stderr") ||
            !strcmp(f, "syslog"))
            continue;
        if (chown(f, who.uid, who.gid) < 0)
            evf_log_warn("chown %s to %s: %s (after the next USR1 the "
                         "workers may not reopen it)", f, who.name,
                         strerror(errno));
    }
}

void
evf_process_reopen_logs(void)
{
    int erc = evf_log_reopen();
    if (erc < 0)
        evf_log_error("USR1: cannot reopen the error log: %s; still "
                      "writing to the file it had", strerror(-erc));
    int arc = evf_access_reopen();
    if (arc < 0)
        evf_log_error("USR1: cannot reopen the access log: %s; still "
                      "writing to the file it had", strerror(-arc));
    if (erc == 0 && arc == 0)
        evf_log_notice("USR1: log files reopened");
}

void
evf_process_master_gone(pid_t master)
{
    if (!pidfile[0] || pid_in(pidfile) != (long)master)
        return;
    if (unlink(pidfile) == 0)
        evf_log_notice("the master (pid %d) is gone: removed its pid file "
                       "%s", (int)master, pidfile);
    else if (errno != ENOENT)
        evf_log_warn("the master (pid %d) is gone; cannot remove its pid "
                     "file %s: %s (the next start replaces it)",
                     (int)master, pidfile, strerror(errno));
}

/* Can we create the file path (write in its directory)?  0 or -1. */
static int
check_dir_of(const char *what, const char *path)
{
    char dir[1024];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    const char *d = slash ? dir : ".";
    struct stat st;
    if (stat(d, &st) < 0) {
        evf_log_error("%s %s: cannot write in %s: %s%s", what, path, d,
                      strerror(errno),
                      errno == ENOENT ? " (create the directory first; "
                                        "see evfcgid(8), FILES)" : "");
        return -1;
    }
    if (access(d, W_OK) < 0) {
        evf_log_error("%s %s: cannot write in %s: %s", what, path, d,
                      strerror(errno));
        return -1;
    }
    return 0;
}

int
evf_process_check(const evf_config_t *c)
{
    char err[256];
    for (size_t i = 0; i < c->nlisten; i++) {
        if (evf_listen_check(c->listen[i], err, sizeof(err)) < 0) {
            evf_log_error("listen: %s", err);
            return -1;
        }
        if (strncmp(c->listen[i], "unix:", 5) == 0 &&
            check_dir_of("listen", c->listen[i] + 5) < 0)
            return -1;
    }
    const char *users[] = { c->user, c->listen_owner };
    for (size_t i = 0; i < 2; i++)
        if (users[i] && !getpwnam(users[i])) {
            evf_log_error("user %s: no such user", users[i]);
            return -1;
        }
    if (c->group && !c->user) {
        evf_log_error("group %s is set without user: set user too",
                      c->group);
        return -1;
    }
    const char *groups[] = { c->group, c->listen_group };
    for (size_t i = 0; i < 2; i++)
        if (groups[i] && !getgrnam(groups[i])) {
            evf_log_error("group %s: no such group", groups[i]);
            return -1;
        }
    const char *files[] = { c->log, c->access_log };
    for (size_t i = 0; i < 2; i++) {
        const char *f = files[i];
        if (!f || !strcmp(f, "off") || !strcmp(f, "stderr") ||
            !strcmp(f, "syslog"))
            continue;
        if (check_dir_of(i ? "access_log" : "log", f) < 0)
            return -1;
    }
    if (c->pid_file) {
        /* An existing file we cannot replace is as bad as no directory. */
        if (access(c->pid_file, F_OK) == 0 &&
            access(c->pid_file, W_OK) < 0) {
            evf_log_error("pid_file %s: cannot write: %s", c->pid_file,
                          strerror(errno));
            return -1;
        }
        if (check_dir_of("pid_file", c->pid_file) < 0)
            return -1;
    }
    return 0;
}

void
evf_process_unlink_sockets(const evf_config_t *c, size_t n)
{
    for (size_t i = 0; i < n && i < c->nlisten; i++)
        if (strncmp(c->listen[i], "unix:", 5) == 0 &&
            evf_listen_unix_ours(c->listen[i] + 5))
            unlink(c->listen[i] + 5);
}
