/*
 * daemon: evfcgid's command line, process model and signals.
 *
 * evf_main() is both evfcgid's main and the entry point of programs that
 * link libevfcgi with an app of their own.  It reads the configuration
 * (file, then command line), loads the apps, binds the listeners (or takes
 * fd 0 from spawn-fcgi), drops privileges, then runs a master that forks
 * the workers (workers = 0: one process serves alone).
 *
 * Workers share the listening sockets; each runs its own loop and thread
 * pool.  The master replaces a worker that dies (with backoff when they
 * keep dying early) or that retires after max_requests.  Signals, as
 * nginx: TERM/INT stop at once; QUIT stops gracefully (no new connections,
 * requests finish within the grace period); HUP reloads (configuration and
 * apps are read again, new workers start, and once they are ready the old
 * ones stop gracefully: the listening sockets never close, so no request
 * is refused); USR1 reopens the log files.  Signals are ev_signal
 * watchers; nothing but libev's own handler runs in signal context.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access.h"
#include "app.h"
#include "conf.h"
#include "conn.h"
#include "coro.h"
#include "evfcgi.h"
#include "http_client.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "pool.h"
#include "builtin.h"
#include "exchange.h"
#include "server.h"
#include "settings.h"
#include "stats.h"

#define MAX_WORKERS 256

enum { RUN, EXIT_OK, EXIT_USAGE };

evf_settings_t evf_settings = {
    .max_conns = 10000,
    .max_reqs_per_conn = 16384,
    .max_params = 256 * 1024,
    .max_body = 64 * 1024 * 1024,
    .out_high_water = 256 * 1024,
    .out_low_water = 64 * 1024,
    .backlog = 0,
    .request_deadline = 0,
    /* FastAPI's thread pool (AnyIO's) also defaults to 40 threads: ported
     * apps keep the same blocking capacity.  The queue holds what a burst
     * of a thousand blocking requests needs before 503s start. */
    .pool_threads = 40,
    .pool_queue = 1024,
    .slow_callback = 0.100,
};

static void
usage(FILE *f)
{
    fprintf(f,
"Usage: evfcgid [options]\n"
"FastCGI application server: serves the routes of evfcgi apps.\n"
"\n"
"  -c, --config FILE      read FILE (INI; see evfcgid.conf(5)); options\n"
"                         given on the command line win over it\n"
"  -l, --listen ADDR      listen on HOST:PORT, [V6]:PORT or unix:/path\n"
"                         (repeatable; default: the socket on fd 0, as\n"
"                         spawn-fcgi passes it)\n"
"  -a, --app FILE.so      load an app (repeatable)\n"
"  -o, --app-option APP:KEY=VALUE\n"
"                         set an option an app reads (repeatable)\n"
"  -w, --workers N        worker processes (default 1; 0: a single process\n"
"                         without a master)\n"
"  -T, --threads N        threads of the blocking pool (default 40)\n"
"  -m, --socket-mode MODE mode of unix sockets (octal, default 0660)\n"
"  -b, --backlog N        listen backlog (default: the system maximum)\n"
"  -p, --pid-file FILE    write the master's pid to FILE once listening\n"
"  -t, --test             check the configuration and apps, then exit\n"
"  -d, --daemonize        detach from the terminal (default: foreground)\n"
"  -V, --version          print the version and exit\n"
"  -h, --help             print this help and exit\n"
"      --directives       list the configuration directives\n"
"  --NAME VALUE           most directives of evfcgid.conf(5), e.g.\n"
"                         --max-body 10m, --queue 100, --deadline 5,\n"
"                         --slow-callback-ms 50, --log-level info\n"
"\n"
"Signals: TERM/INT stop now; QUIT stops gracefully; HUP reloads;\n"
"USR1 reopens the log files.\n");
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

/* Set the open-files limit (rlimit_files), or raise it to the hard one. */
static void
set_nofile(unsigned long want)
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
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur > 64 && evf_settings.max_conns > rl.rlim_cur - 32) {
        evf_log_notice("open files limit is %llu: serving at most %llu "
                       "connections per worker (raise rlimit_files)",
                       (unsigned long long)rl.rlim_cur,
                       (unsigned long long)rl.rlim_cur - 32);
        evf_settings.max_conns = (unsigned)(rl.rlim_cur - 32);
    }
}

/* ---- worker ------------------------------------------------------------ */

static struct {
    ev_signal sig[5];
    ev_timer drain;
    ev_tstamp drain_until;
    double grace;
} w;

static void
drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t, (void)revents;
    if (evf_stats.in_flight == 0 || ev_now(loop) >= w.drain_until) {
        if (evf_stats.in_flight)
            evf_log_warn("grace period over: cancelling %llu requests",
                         (unsigned long long)evf_stats.in_flight);
        evf_server_pause();
        ev_break(loop, EVBREAK_ALL);
    }
}

/* Stop accepting, let requests finish (up to the grace period), exit. */
static void
begin_drain(struct ev_loop *loop, const char *why)
{
    if (ev_is_active(&w.drain))
        return;
    evf_log_notice("%s: finishing %llu requests (up to %.0f s)", why,
                   (unsigned long long)evf_stats.in_flight, w.grace);
    evf_server_pause();
    evf_conn_drain_all();
    w.drain_until = ev_now(loop) + w.grace;
    ev_timer_init(&w.drain, drain_cb, 0., 0.05);
    ev_timer_again(loop, &w.drain);
}

static void
recycle(void)
{
    begin_drain(evf__loop(), "served max_requests: recycling this worker");
}

/* A finished request: the worker recycles after max_requests. */
static void
recycle_hook(const evf_access_entry_t *e, void *ud)
{
    (void)e, (void)ud;
    if (evf_settings.max_requests &&
        evf_stats.requests == evf_settings.max_requests)
        recycle();
}

static void
access_hook(const evf_access_entry_t *e, void *ud)
{
    (void)ud;
    if (evf_access_enabled())
        evf_access_write(e);
}

static void
worker_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    switch (s->signum) {
    case SIGQUIT:
        begin_drain(loop, "graceful stop");
        return;
    case SIGUSR1:
        evf_log_reopen();
        evf_access_reopen();
        return;
    case SIGHUP:
        evf_log_warn("SIGHUP: reloading needs the master (workers >= 1); "
                     "ignored");
        return;
    default:
        evf_log_notice("stopping (signal %d)", s->signum);
        evf_server_pause();
        ev_break(loop, EVBREAK_ALL);
    }
}

/*
 * Serve on fds until stopped.  ready_fd (>= 0) gets our pid once we
 * accept.  Returns the exit status.
 */
static int
worker_run(const int *fds, size_t nfds, double grace, int ready_fd)
{
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGHUP };
    if (!loop) {
        evf_log_error("cannot initialise libev");
        return 1;
    }
    evf__loop_set(loop);
    w.grace = grace;
    ev_init(&w.drain, drain_cb);
    if (evf_apps_startup() < 0) {
        evf_apps_shutdown();
        return 1;
    }
    if (evf_pool_start(loop, evf_settings.pool_threads,
                       evf_settings.pool_queue) < 0) {
        evf_apps_shutdown();
        return 1;
    }
    evf_stats_watch_loop(loop);
    for (size_t i = 0; i < nfds; i++)
        if (evf_server_add(fds[i]) < 0) {
            evf_log_error("cannot watch listener %d", fds[i]);
            return 1;
        }
    for (int i = 0; i < 5; i++) {
        ev_signal_init(&w.sig[i], worker_signal_cb, sigs[i]);
        ev_signal_start(loop, &w.sig[i]);
        ev_unref(loop);     /* signal watchers alone keep nothing alive */
    }
    evf__exchange_clear_hooks();
    evf__exchange_on_finished(access_hook, NULL);
    evf__exchange_on_finished(recycle_hook, NULL);
    if (ready_fd >= 0) {
        int32_t pid = (int32_t)getpid();
        ssize_t n = write(ready_fd, &pid, sizeof(pid));
        (void)n;
        close(ready_fd);
    }

    ev_run(loop, 0);

    evf_server_stop(false);
    evf_conn_close_all();
    evf__exchange_cancel_detached();
    /* Blocking handlers cannot be interrupted: wait for them. */
    evf_pool_stop();
    evf_http_shutdown();
    evf_stats_unwatch_loop(loop);
    ev_timer_stop(loop, &w.drain);
    for (int i = 0; i < 5; i++) {
        ev_ref(loop);
        ev_signal_stop(loop, &w.sig[i]);
    }
    evf_apps_shutdown();
    return 0;
}

/* ---- master ------------------------------------------------------------ */

typedef struct kid {
    pid_t pid;              /* 0: slot free */
    unsigned gen;
    bool ready;
    bool retiring;
    ev_tstamp started;
} kid_t;

typedef struct reload_ctx {
    int argc;
    char **argv;
    const evf_app *builtin;
} reload_ctx_t;

static struct {
    kid_t kids[2 * MAX_WORKERS + 1];    /* index = stats slot; 0 unused */
    unsigned nslots;
    unsigned workers;
    unsigned gen;
    bool booting;           /* first generation not ready yet */
    bool reloading;
    bool stopping;
    int exit_code;
    unsigned quick_deaths;
    int ready_pipe[2];
    ev_io ready_io;
    ev_child child;
    ev_signal sig[5];
    ev_timer respawn;
    const int *fds;
    size_t nfds;
    double grace;
    reload_ctx_t reload;
} m;

static int load_everything(int argc, char **argv, const evf_app *builtin,
                           evf_config_t *conf, bool *test);
static void apply_conf(const evf_config_t *conf);
static evf_config_t live_conf;

static void
master_close_watchers(void)
{
    struct ev_loop *loop = EV_DEFAULT;
    for (int i = 0; i < 5; i++)
        ev_signal_stop(loop, &m.sig[i]);
    ev_child_stop(loop, &m.child);
    ev_timer_stop(loop, &m.respawn);
    ev_io_stop(loop, &m.ready_io);
}

static int
spawn_worker(unsigned slot)
{
    pid_t pid = fork();
    if (pid < 0) {
        evf_log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        ev_loop_fork(EV_DEFAULT);
        master_close_watchers();
        close(m.ready_pipe[0]);
        evf_stats_use_slot(slot, m.gen);
        _exit(worker_run(m.fds, m.nfds, m.grace, m.ready_pipe[1]));
    }
    m.kids[slot] = (kid_t){ .pid = pid, .gen = m.gen,
                            .started = ev_now(EV_DEFAULT) };
    return 0;
}

static unsigned
free_slot(void)
{
    for (unsigned i = 1; i < m.nslots; i++)
        if (!m.kids[i].pid)
            return i;
    return 0;
}

/* Keep the current generation at m.workers live workers. */
static void
fill(void)
{
    unsigned live = 0;
    for (unsigned i = 1; i < m.nslots; i++)
        live += m.kids[i].pid && m.kids[i].gen == m.gen &&
                !m.kids[i].retiring;
    while (live < m.workers) {
        unsigned s = free_slot();
        if (!s || spawn_worker(s) < 0)
            return;
        live++;
    }
}

static void
signal_kids(int sig, bool old_only)
{
    for (unsigned i = 1; i < m.nslots; i++)
        if (m.kids[i].pid && (!old_only || m.kids[i].gen != m.gen)) {
            if (old_only)
                m.kids[i].retiring = true;
            kill(m.kids[i].pid, sig);
        }
}

static bool
any_kid(void)
{
    for (unsigned i = 1; i < m.nslots; i++)
        if (m.kids[i].pid)
            return true;
    return false;
}

static void
ready_cb(struct ev_loop *loop, ev_io *io, int revents)
{
    int32_t pids[64];
    (void)loop, (void)revents;
    ssize_t n = read(io->fd, pids, sizeof(pids));
    for (ssize_t k = 0; k < n / (ssize_t)sizeof(pids[0]); k++)
        for (unsigned i = 1; i < m.nslots; i++)
            if (m.kids[i].pid == pids[k])
                m.kids[i].ready = true;
    unsigned ready = 0;
    for (unsigned i = 1; i < m.nslots; i++)
        ready += m.kids[i].pid && m.kids[i].gen == m.gen && m.kids[i].ready;
    if (ready < m.workers)
        return;
    if (m.booting) {
        m.booting = false;
        evf_log_notice("master %d: %u workers ready", (int)getpid(),
                       m.workers);
    }
    if (m.reloading) {
        m.reloading = false;
        /* The new generation accepts: the old one finishes and goes. */
        signal_kids(SIGQUIT, true);
        evf_log_notice("reload: %u new workers ready; old workers stop "
                       "gracefully", m.workers);
    }
}

static void
respawn_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)t, (void)revents;
    if (!m.stopping)
        fill();
}

static void
child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
    (void)revents;
    unsigned i;
    for (i = 1; i < m.nslots; i++)
        if (m.kids[i].pid == c->rpid)
            break;
    if (i == m.nslots)
        return;
    kid_t k = m.kids[i];
    m.kids[i].pid = 0;
    evf_stats_retire_slot(i);
    int st = c->rstatus;
    bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0;

    if (m.stopping) {
        if (!any_kid())
            ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (k.retiring || k.gen != m.gen)
        return;     /* an old worker, done after a reload */
    if (!k.ready) {
        if (m.booting) {
            evf_log_error("worker %d failed to start (%s %d); stopping",
                          c->rpid, WIFSIGNALED(st) ? "signal" : "status",
                          WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
            m.stopping = true;
            m.exit_code = 1;
            signal_kids(SIGTERM, false);
            if (!any_kid())
                ev_break(loop, EVBREAK_ALL);
            return;
        }
        if (m.reloading) {
            /* Keep serving with the old generation. */
            evf_log_error("reload failed: a new worker exited before it was "
                          "ready; the old workers keep serving");
            m.reloading = false;
            m.gen--;
            for (unsigned j = 1; j < m.nslots; j++)
                if (m.kids[j].pid && m.kids[j].gen == m.gen + 1) {
                    m.kids[j].retiring = true;
                    kill(m.kids[j].pid, SIGTERM);
                }
            return;
        }
    }
    double delay = 0;
    if (clean) {
        evf_log_notice("worker %d retired; starting a new one", c->rpid);
        m.quick_deaths = 0;
    } else {
        if (WIFSIGNALED(st))
            evf_log_error("worker %d killed by signal %d; starting a new "
                          "one", c->rpid, WTERMSIG(st));
        else
            evf_log_error("worker %d exited with status %d; starting a new "
                          "one", c->rpid, WEXITSTATUS(st));
        /* Back off when workers keep dying right after they start. */
        if (ev_now(loop) - k.started < 2.0)
            m.quick_deaths++;
        else
            m.quick_deaths = 0;
        if (m.quick_deaths >= 2) {
            delay = 0.1 * (1 << (m.quick_deaths < 8 ? m.quick_deaths : 8));
            evf_log_warn("workers keep dying: next start in %.1f s (see the "
                         "errors above)", delay);
        }
    }
    ev_timer_stop(loop, &m.respawn);
    ev_timer_set(&m.respawn, delay, 0.);
    ev_timer_start(loop, &m.respawn);
}

static void
reload(void)
{
    evf_config_t conf;
    evf_settings_t before = evf_settings;
    bool test;
    evf_log_notice("reload: reading the configuration and apps again");
    evf_apps_free();
    if (load_everything(m.reload.argc, m.reload.argv, m.reload.builtin,
                        &conf, &test) != RUN) {
        evf_log_error("reload failed: the configuration or an app is "
                      "refused (see above); the running workers keep "
                      "serving the previous version");
        /* Workers started later (after a crash) need the apps again. */
        evf_apps_free();
        if (load_everything(m.reload.argc, m.reload.argv, m.reload.builtin,
                            &conf, &test) != RUN)
            evf_log_error("reload: the apps cannot be loaded; crashed "
                          "workers will not be replaced");
        else
            evf_config_free(&conf);
        evf_settings = before;
        return;
    }
    evf_config_free(&live_conf);
    live_conf = conf;
    apply_conf(&live_conf);
    if (conf.workers && conf.workers <= (m.nslots - 1) / 2)
        m.workers = conf.workers;
    else if (conf.workers)
        evf_log_warn("reload: workers can grow to %u without a restart",
                     (m.nslots - 1) / 2);
    m.grace = conf.grace;
    m.gen++;
    m.reloading = true;
    fill();
}

static void
master_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    switch (s->signum) {
    case SIGHUP:
        if (m.reloading || m.booting) {
            evf_log_warn("SIGHUP: a start or reload is under way; ignored");
            return;
        }
        reload();
        return;
    case SIGUSR1:
        evf_log_reopen();
        evf_access_reopen();
        signal_kids(SIGUSR1, false);
        return;
    default:
        m.stopping = true;
        signal_kids(s->signum == SIGQUIT ? SIGQUIT : SIGTERM, false);
        if (!any_kid())
            ev_break(loop, EVBREAK_ALL);
    }
}

static int
master_run(const int *fds, size_t nfds, unsigned workers, double grace,
           reload_ctx_t rc)
{
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    static const int sigs[] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1 };
    m.fds = fds;
    m.nfds = nfds;
    m.workers = workers;
    m.grace = grace;
    m.reload = rc;
    m.booting = true;
    m.gen = 1;
    m.nslots = 2 * workers + 1;
    if (evf_stats_shared_init(2 * workers) < 0)
        evf_log_warn("no shared memory for statistics: the status page "
                     "shows one worker");
    if (pipe2(m.ready_pipe, O_CLOEXEC) < 0) {
        evf_log_error("pipe: %s", strerror(errno));
        return 1;
    }
    for (int i = 0; i < 5; i++) {
        ev_signal_init(&m.sig[i], master_signal_cb, sigs[i]);
        ev_signal_start(loop, &m.sig[i]);
    }
    ev_child_init(&m.child, child_cb, 0, 0);
    ev_child_start(loop, &m.child);
    ev_init(&m.respawn, respawn_cb);
    ev_io_init(&m.ready_io, ready_cb, m.ready_pipe[0], EV_READ);
    ev_io_start(loop, &m.ready_io);
    fill();
    ev_run(loop, 0);
    master_close_watchers();
    return m.exit_code;
}

/* ---- main -------------------------------------------------------------- */

static int
write_pidfile(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        evf_log_error("cannot write pid file %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "%d\n", (int)getpid());
    fclose(f);
    return 0;
}

static int
detach(int *fds, size_t nfds)
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

/* After binding: hand unix sockets over, then become the configured user. */
static int
drop_privileges(const evf_config_t *c)
{
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;
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
    uid = pw->pw_uid;
    gid = pw->pw_gid;
    if (c->group) {
        struct group *gr = getgrnam(c->group);
        if (!gr) {
            evf_log_error("group %s: no such group", c->group);
            return -1;
        }
        gid = gr->gr_gid;
    }
    if (initgroups(c->user, gid) < 0 || setgid(gid) < 0 || setuid(uid) < 0) {
        evf_log_error("cannot become %s: %s", c->user, strerror(errno));
        return -1;
    }
    return 0;
}

static const struct option longopts[] = {
    { "config", required_argument, NULL, 'c' },
    { "listen", required_argument, NULL, 'l' },
    { "app", required_argument, NULL, 'a' },
    { "app-option", required_argument, NULL, 'o' },
    { "workers", required_argument, NULL, 'w' },
    { "threads", required_argument, NULL, 'T' },
    { "socket-mode", required_argument, NULL, 'm' },
    { "backlog", required_argument, NULL, 'b' },
    { "pid-file", required_argument, NULL, 'p' },
    { "test", no_argument, NULL, 't' },
    { "daemonize", no_argument, NULL, 'd' },
    { "version", no_argument, NULL, 'V' },
    { "help", no_argument, NULL, 'h' },
    { "directives", no_argument, NULL, 'D' },
    /* Directives under command-line names; the rest take --NAME too. */
    { "max-conns", required_argument, NULL, 1000 },
    { "max-reqs", required_argument, NULL, 1001 },
    { "max-body", required_argument, NULL, 1002 },
    { "max-params", required_argument, NULL, 1003 },
    { "deadline", required_argument, NULL, 1004 },
    { "grace", required_argument, NULL, 1005 },
    { "stack-size", required_argument, NULL, 1006 },
    { "log-level", required_argument, NULL, 1007 },
    { "log", required_argument, NULL, 1008 },
    { "queue", required_argument, NULL, 1009 },
    { "slow-callback-ms", required_argument, NULL, 1010 },
    { "access-log", required_argument, NULL, 1011 },
    { "status-path", required_argument, NULL, 1012 },
    { "ping-path", required_argument, NULL, 1013 },
    { "max-requests", required_argument, NULL, 1014 },
    { "allowed-clients", required_argument, NULL, 1015 },
    { "user", required_argument, NULL, 1016 },
    { "group", required_argument, NULL, 1017 },
    { "rlimit-files", required_argument, NULL, 1018 },
    { NULL, 0, NULL, 0 },
};

static const char *const long_directive[] = {
    "max_conns", "max_requests_per_conn", "max_body", "max_params",
    "request_deadline", "grace", "stack_size", "log_level", "log", "queue",
    "slow_callback_ms", "access_log", "status_path", "ping_path",
    "max_requests", "allowed_clients", "user", "group", "rlimit_files",
};


/*
 * Read the configuration: the file named by -c, then the command line on
 * top.  Fills conf (and evf_settings).  Returns RUN, or what to exit with.
 */
static int
read_config(int argc, char **argv, evf_config_t *conf, bool *test)
{
    char err[512];
    const char *path = NULL;
    int c;

    evf_config_init(conf);
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:l:a:o:w:T:m:b:p:tdVh", longopts,
                            NULL)) != -1)
        if (c == 'c')
            path = optarg;
    if (path && evf_config_load(conf, path) < 0)
        return EXIT_USAGE;

    optind = 0;
    opterr = 1;
    bool cli_listen = false;
    while ((c = getopt_long(argc, argv, "c:l:a:o:w:T:m:b:p:tdVh", longopts,
                            NULL)) != -1) {
        const char *dname = NULL;
        switch (c) {
        case 'c':
            continue;
        case 'l':
            /* The command line's addresses replace the file's. */
            if (!cli_listen) {
                for (size_t i = 0; i < conf->nlisten; i++)
                    evf_free(conf->listen[i]);
                conf->nlisten = 0;
                cli_listen = true;
            }
            dname = "listen";
            break;
        case 'a':
            if (conf->napps == EVF_CONF_MAX_APPS) {
                fprintf(stderr, "evfcgid: too many apps\n");
                return EXIT_USAGE;
            }
            conf->apps[conf->napps++].path = evf_mem_strdup(optarg);
            continue;
        case 'o': {
            char *colon = strchr(optarg, ':');
            char *eq = colon ? strchr(colon, '=') : NULL;
            if (!colon || !eq || colon == optarg || eq == colon + 1) {
                fprintf(stderr, "evfcgid: -o wants APP:KEY=VALUE, got '%s'\n",
                        optarg);
                return EXIT_USAGE;
            }
            char app[128], key[128];
            snprintf(app, sizeof(app), "%.*s", (int)(colon - optarg), optarg);
            snprintf(key, sizeof(key), "%.*s", (int)(eq - colon - 1),
                     colon + 1);
            evf_app_set_option(app, key, eq + 1);
            continue;
        }
        case 'w':
            dname = "workers";
            break;
        case 'T':
            dname = "threads";
            break;
        case 'm':
            dname = "listen.mode";
            break;
        case 'b':
            dname = "backlog";
            break;
        case 'p':
            dname = "pid_file";
            break;
        case 't':
            *test = true;
            continue;
        case 'd':
            conf->daemonize = true;
            continue;
        case 'V':
            printf("evfcgid %s\n", PACKAGE_VERSION);
            return EXIT_OK;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        case 'D':
            evf_config_list(stdout);
            return EXIT_OK;
        default:
            if (c >= 1000 && c < 1000 + (int)(sizeof(long_directive) /
                                              sizeof(long_directive[0]))) {
                dname = long_directive[c - 1000];
                break;
            }
            usage(stderr);
            return EXIT_USAGE;
        }
        if (evf_config_set(conf, dname, optarg, err, sizeof(err)) < 0) {
            fprintf(stderr, "evfcgid: %s\n", err);
            return EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "evfcgid: unexpected argument '%s'\n", argv[optind]);
        return EXIT_USAGE;
    }
    return RUN;
}

/*
 * Configuration and apps, from scratch (at start and on reload).  Returns
 * 0, or -1 after saying why.
 */
static evf_settings_t defaults;

static int
load_everything(int argc, char **argv, const evf_app *builtin,
                evf_config_t *conf, bool *test)
{
    evf_settings = defaults;
    int rc = read_config(argc, argv, conf, test);
    if (rc != RUN) {
        evf_config_free(conf);
        return rc;
    }
    if (evf_builtin_register(conf->ping_path, conf->ping_response,
                             conf->status_path) < 0)
        goto fail;
    if (builtin && evf_app_register(builtin, "built-in") < 0)
        goto fail;
    for (size_t i = 0; i < conf->napps; i++)
        if (evf_app_load(conf->apps[i].path, conf->apps[i].name) < 0)
            goto fail;
    if (!builtin && !conf->napps) {
        evf_log_error("no app to serve: load one with -a APP.so or an "
                      "[app NAME] section");
        goto fail;
    }
    return RUN;
fail:
    evf_config_free(conf);
    return -1;
}

/* Settings that point into the configuration's strings. */
static void
apply_conf(const evf_config_t *conf)
{
    if (!evf_settings.backlog)
        evf_settings.backlog = system_backlog();
    evf_settings.status_path = conf->status_path;
    evf_settings.ping_path = conf->ping_path;
    evf_settings.ping_response = conf->ping_response;
    evf_settings.workers = conf->workers;
    evf_settings.max_requests = conf->max_requests;
}

int
evf_main(int argc, char **argv, const evf_app *builtin)
{
    evf_config_t conf;
    bool test = false;
    char err[256];

    signal(SIGPIPE, SIG_IGN);
    evf_settings.started = ev_time();
    defaults = evf_settings;
    int rc = load_everything(argc, argv, builtin, &conf, &test);
    if (rc != RUN) {
        evf_apps_free();
        return rc == EXIT_OK ? 0 : rc == EXIT_USAGE ? 2 : 1;
    }
    if (conf.allowed_clients &&
        evf_server_allow(conf.allowed_clients, err, sizeof(err)) < 0) {
        evf_log_error("allowed_clients: %s", err);
        goto fail;
    }
    /* libfcgi's convention, honoured the same way. */
    const char *env = getenv("FCGI_WEB_SERVER_ADDRS");
    if (env && *env && evf_server_allow(env, err, sizeof(err)) < 0) {
        evf_log_error("FCGI_WEB_SERVER_ADDRS: %s", err);
        goto fail;
    }
    if (test) {
        /* What can be checked without binding or changing anything. */
        for (size_t i = 0; i < conf.nlisten; i++)
            if (evf_listen_check(conf.listen[i], err, sizeof(err)) < 0) {
                evf_log_error("listen: %s", err);
                goto fail;
            }
        const char *users[] = { conf.user, conf.listen_owner };
        for (size_t i = 0; i < 2; i++)
            if (users[i] && !getpwnam(users[i])) {
                evf_log_error("user %s: no such user", users[i]);
                goto fail;
            }
        const char *groups[] = { conf.group, conf.listen_group };
        for (size_t i = 0; i < 2; i++)
            if (groups[i] && !getgrnam(groups[i])) {
                evf_log_error("group %s: no such group", groups[i]);
                goto fail;
            }
        const char *files[] = { conf.log, conf.access_log };
        for (size_t i = 0; i < 2; i++) {
            const char *f = files[i];
            if (!f || !strcmp(f, "off") || !strcmp(f, "stderr") ||
                !strcmp(f, "syslog"))
                continue;
            char dir[1024];
            snprintf(dir, sizeof(dir), "%s", f);
            char *slash = strrchr(dir, '/');
            if (slash)
                *(slash == dir ? slash + 1 : slash) = '\0';
            if (access(slash ? dir : ".", W_OK) < 0) {
                evf_log_error("%s: cannot write in %s: %s", f,
                              slash ? dir : ".", strerror(errno));
                goto fail;
            }
        }
        printf("evfcgid: configuration and apps are valid\n");
        evf_config_free(&conf);
        evf_apps_free();
        return 0;
    }
    if (conf.log) {
        int lrc = evf_log_open(conf.log);
        if (lrc < 0) {
            evf_log_error("log %s: %s", conf.log, strerror(-lrc));
            goto fail;
        }
    }
    int arc = evf_access_open(conf.access_log, conf.access_log_format);
    if (arc < 0) {
        evf_log_error("access_log %s: %s", conf.access_log, strerror(-arc));
        goto fail;
    }
    apply_conf(&conf);

    int fds[EVF_CONF_MAX_LISTEN];
    size_t nfds = 0;
    for (size_t i = 0; i < conf.nlisten; i++) {
        int fd = evf_listen(conf.listen[i], evf_settings.backlog,
                            conf.listen_mode, err, sizeof(err));
        if (fd < 0) {
            evf_log_error("%s", err);
            goto fail;
        }
        fds[nfds++] = fd;
    }
    if (!nfds) {
        if (!evf_listen_inherited()) {
            evf_log_error("nothing to listen on: give -l ADDR (or listen "
                          "in the configuration), or start evfcgid under "
                          "spawn-fcgi (listening socket on fd 0)");
            goto fail;
        }
        fds[nfds++] = 0;
    }
    set_nofile(conf.rlimit_files);
    if (drop_privileges(&conf) < 0)
        goto fail;
    if (evf_http_global_init() < 0) {
        evf_log_error("cannot initialise libcurl");
        goto fail;
    }
    if (conf.daemonize && detach(fds, nfds) < 0) {
        evf_log_error("cannot detach: %s", strerror(errno));
        goto fail;
    }
    if (conf.pid_file && write_pidfile(conf.pid_file) < 0)
        goto fail;
    for (size_t i = 0; i < conf.nlisten; i++)
        evf_log_notice("listening on %s", conf.listen[i]);
    if (!conf.nlisten)
        evf_log_notice("listening on the socket inherited on fd 0");

    if (conf.workers > 0) {
        live_conf = conf;   /* the master's, replaced on reload */
        memset(&conf, 0, sizeof(conf));
        rc = master_run(fds, nfds, live_conf.workers, live_conf.grace,
                        (reload_ctx_t){ argc, argv, builtin });
        conf = live_conf;
    } else {
        rc = worker_run(fds, nfds, conf.grace, -1);
    }

    for (size_t i = 0; i < conf.nlisten; i++)
        if (strncmp(conf.listen[i], "unix:", 5) == 0)
            unlink(conf.listen[i] + 5);
    if (conf.pid_file)
        unlink(conf.pid_file);
    evf_config_free(&conf);
    evf_apps_free();
    evf_access_close();
    evf_coro_pool_destroy();
    return rc;
fail:
    evf_config_free(&conf);
    evf_apps_free();
    return 1;
}
