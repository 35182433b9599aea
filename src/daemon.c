/*
 * daemon: evfcgid's command line, process model and signals.
 *
 * evf_main() is both evfcgid's main and the entry point of programs that
 * link libevfcgi with an app of their own.  It loads apps, binds the
 * listeners (or takes fd 0 from spawn-fcgi), then runs one worker in this
 * process, or with -w N a master that forks N workers sharing the
 * listeners and replaces any that die.
 *
 * Signals (libev ev_signal watchers, never raw handlers doing work):
 * TERM/INT stop at once, cancelling requests; QUIT stops accepting, lets
 * requests finish within the grace period, then stops.  The master passes
 * them on to its workers.
 */
#include "config.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "app.h"
#include "conn.h"
#include "coro.h"
#include "http_client.h"
#include "evfcgi.h"
#include "log.h"
#include "loop.h"
#include "pool.h"
#include "request.h"
#include "server.h"
#include "settings.h"
#include "stats.h"

#define MAX_LISTEN 8
#define MAX_WORKERS 256

evf_settings_t evf_settings = {
    .max_conns = 10000,
    .max_reqs_per_conn = 16384,
    .max_params = 256 * 1024,
    .max_body = 64 * 1024 * 1024,
    .out_high_water = 256 * 1024,
    .out_low_water = 64 * 1024,
    .backlog = 4096,
    .request_deadline = 0,
    /* FastAPI's thread pool (AnyIO's) also defaults to 40 threads: ported
     * apps keep the same blocking capacity.  The queue holds what a burst
     * of a thousand blocking requests needs before 503s start. */
    .pool_threads = 40,
    .pool_queue = 1024,
    .slow_callback = 0.100,
};

typedef struct opts {
    const char *listen[MAX_LISTEN];
    size_t nlisten;
    unsigned workers;
    unsigned mode;
    double grace;
    bool test;
    bool detach;
    const char *pidfile;
} opts_t;

static void
usage(FILE *f)
{
    fprintf(f,
"Usage: evfcgid [options]\n"
"FastCGI application server: serves the routes of evfcgi apps.\n"
"\n"
"  -l, --listen ADDR      listen on HOST:PORT, [V6]:PORT or unix:/path\n"
"                         (repeatable; default: the socket on fd 0, as\n"
"                         spawn-fcgi passes it)\n"
"  -a, --app FILE.so      load an app (repeatable)\n"
"  -o, --app-option APP:KEY=VALUE\n"
"                         set an option an app reads (repeatable)\n"
"  -w, --workers N        worker processes (default 1: no master)\n"
"  -T, --threads N        threads of the blocking pool (default 40)\n"
"      --queue N          blocking jobs waiting for a thread, at most\n"
"                         (default 1024; beyond: 503)\n"
"      --slow-callback-ms N  warn when a handler runs N ms without\n"
"                         awaiting (default 100)\n"
"  -c, --config FILE      read a configuration file\n"
"  -m, --socket-mode MODE mode of unix sockets (octal, default 0660)\n"
"  -b, --backlog N        listen backlog (default: the system maximum)\n"
"      --max-conns N      connections per worker (default 10000)\n"
"      --max-reqs N       concurrent requests per connection (default 16384)\n"
"      --max-body BYTES   largest request body (default 64 MiB)\n"
"      --max-params BYTES largest FastCGI params block (default 256 KiB)\n"
"      --deadline SECONDS default deadline of every request (default none)\n"
"      --grace SECONDS    graceful stop: time to finish requests (default 30)\n"
"      --stack-size KIB   coroutine stack size (default 64)\n"
"      --log-level LEVEL  error, warn, notice, info, debug (default notice)\n"
"      --log FILE         log to FILE, 'stderr' or 'syslog' (default stderr)\n"
"  -p, --pid-file FILE    write the (master) pid to FILE once listening\n"
"  -t, --test             check the configuration and apps, then exit\n"
"  -d, --daemonize        detach from the terminal (default: foreground)\n"
"  -V, --version          print the version and exit\n"
"  -h, --help             print this help and exit\n"
"\n"
"Signals: TERM/INT stop now; QUIT stops gracefully.\n");
}

static int
parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || end == s || *end || v > max || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int
parse_seconds(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0) || v > 1e7)
        return -1;
    *out = v;
    return 0;
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

/* Raise the soft open-files limit to the hard one, as servers do. */
static void
raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        evf_settings.max_conns > rl.rlim_cur - 32 && rl.rlim_cur > 64) {
        evf_log_notice("open files limit is %llu: serving at most %llu "
                       "connections per worker",
                       (unsigned long long)rl.rlim_cur,
                       (unsigned long long)rl.rlim_cur - 32);
        evf_settings.max_conns = (unsigned)(rl.rlim_cur - 32);
    }
}

/* ---- worker ------------------------------------------------------------ */

static struct {
    ev_signal sig_term, sig_int, sig_quit;
    ev_timer drain;
    ev_tstamp drain_until;
    double grace;
    int exit_code;
} w;

static void
stop_now(struct ev_loop *loop)
{
    evf_server_pause();
    ev_break(loop, EVBREAK_ALL);
}

static void
drain_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)t, (void)revents;
    if (evf_stats.in_flight == 0 || ev_now(loop) >= w.drain_until) {
        if (evf_stats.in_flight)
            evf_log_warn("grace period over: cancelling %llu requests",
                         (unsigned long long)evf_stats.in_flight);
        stop_now(loop);
    }
}

static void
signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    if (s->signum == SIGQUIT) {
        if (ev_is_active(&w.drain))
            return;
        evf_log_notice("graceful stop: finishing %llu requests (up to "
                       "%.0f s)", (unsigned long long)evf_stats.in_flight,
                       w.grace);
        evf_server_pause();
        evf_conn_drain_all();
        w.drain_until = ev_now(loop) + w.grace;
        ev_timer_init(&w.drain, drain_cb, 0., 0.05);
        ev_timer_again(loop, &w.drain);
        return;
    }
    evf_log_notice("stopping (signal %d)", s->signum);
    stop_now(loop);
}

/* Serve on fds until stopped.  Returns the exit status. */
static int
worker_run(const int *fds, size_t nfds, double grace)
{
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) {
        evf_log_error("cannot initialise libev");
        return 1;
    }
    evf__loop_set(loop);
    w.grace = grace;
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
    ev_signal_init(&w.sig_term, signal_cb, SIGTERM);
    ev_signal_init(&w.sig_int, signal_cb, SIGINT);
    ev_signal_init(&w.sig_quit, signal_cb, SIGQUIT);
    ev_signal_start(loop, &w.sig_term);
    ev_signal_start(loop, &w.sig_int);
    ev_signal_start(loop, &w.sig_quit);
    ev_unref(loop);     /* signal watchers alone do not keep it running */
    ev_unref(loop);
    ev_unref(loop);

    ev_run(loop, 0);

    evf_server_stop(false);
    evf_conn_close_all();
    evf__req_cancel_detached();
    /* Blocking handlers cannot be interrupted: wait for them. */
    evf_pool_stop();
    evf_http_shutdown();
    evf_stats_unwatch_loop(loop);
    ev_timer_stop(loop, &w.drain);
    ev_ref(loop);
    ev_ref(loop);
    ev_ref(loop);
    ev_signal_stop(loop, &w.sig_term);
    ev_signal_stop(loop, &w.sig_int);
    ev_signal_stop(loop, &w.sig_quit);
    evf_apps_shutdown();
    return w.exit_code;
}

/* ---- master ------------------------------------------------------------ */

static struct {
    pid_t pids[MAX_WORKERS];
    ev_tstamp started[MAX_WORKERS];
    unsigned n;
    unsigned quick_deaths;
    bool stopping;
    int stop_signal;
    ev_child child;
    ev_signal sig_term, sig_int, sig_quit;
    ev_timer respawn;
    const int *fds;
    size_t nfds;
    double grace;
} m;

static pid_t
spawn_worker(unsigned slot)
{
    pid_t pid = fork();
    if (pid < 0) {
        evf_log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        ev_loop_fork(EV_DEFAULT);
        /* The child starts its own loop state from scratch. */
        ev_signal_stop(EV_DEFAULT, &m.sig_term);
        ev_signal_stop(EV_DEFAULT, &m.sig_int);
        ev_signal_stop(EV_DEFAULT, &m.sig_quit);
        ev_child_stop(EV_DEFAULT, &m.child);
        ev_timer_stop(EV_DEFAULT, &m.respawn);
        exit(worker_run(m.fds, m.nfds, m.grace));
    }
    m.pids[slot] = pid;
    m.started[slot] = ev_now(EV_DEFAULT);
    return pid;
}

static void
respawn_cb(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)t, (void)revents;
    if (m.stopping)
        return;
    for (unsigned i = 0; i < m.n; i++)
        if (!m.pids[i])
            spawn_worker(i);
}

static void
child_cb(struct ev_loop *loop, ev_child *c, int revents)
{
    (void)revents;
    unsigned i;
    for (i = 0; i < m.n; i++)
        if (m.pids[i] == c->rpid)
            break;
    if (i == m.n)
        return;
    m.pids[i] = 0;
    bool alive = false;
    for (unsigned k = 0; k < m.n; k++)
        alive |= m.pids[k] != 0;
    if (m.stopping) {
        if (!alive)
            ev_break(loop, EVBREAK_ALL);
        return;
    }
    int st = c->rstatus;
    if (WIFSIGNALED(st))
        evf_log_error("worker %d killed by signal %d; starting a new one",
                      c->rpid, WTERMSIG(st));
    else
        evf_log_error("worker %d exited with status %d; starting a new one",
                      c->rpid, WEXITSTATUS(st));
    /* Back off when workers keep dying right after they start. */
    if (ev_now(loop) - m.started[i] < 1.0)
        m.quick_deaths++;
    else
        m.quick_deaths = 0;
    double delay = m.quick_deaths ? 0.1 * (1 << (m.quick_deaths < 6
                                                     ? m.quick_deaths : 6))
                                  : 0;
    if (delay > 0)
        evf_log_warn("workers are dying quickly: next start in %.1f s",
                     delay);
    ev_timer_stop(loop, &m.respawn);
    ev_timer_set(&m.respawn, delay, 0.);
    ev_timer_start(loop, &m.respawn);
}

static void
master_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)loop, (void)revents;
    m.stopping = true;
    bool alive = false;
    for (unsigned i = 0; i < m.n; i++)
        if (m.pids[i]) {
            kill(m.pids[i], s->signum == SIGINT ? SIGTERM : s->signum);
            alive = true;
        }
    if (!alive)
        ev_break(loop, EVBREAK_ALL);
}

static int
master_run(const int *fds, size_t nfds, unsigned workers, double grace)
{
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    m.fds = fds;
    m.nfds = nfds;
    m.n = workers;
    m.grace = grace;
    ev_signal_init(&m.sig_term, master_signal_cb, SIGTERM);
    ev_signal_init(&m.sig_int, master_signal_cb, SIGINT);
    ev_signal_init(&m.sig_quit, master_signal_cb, SIGQUIT);
    ev_signal_start(loop, &m.sig_term);
    ev_signal_start(loop, &m.sig_int);
    ev_signal_start(loop, &m.sig_quit);
    ev_child_init(&m.child, child_cb, 0, 0);
    ev_child_start(loop, &m.child);
    ev_init(&m.respawn, respawn_cb);
    for (unsigned i = 0; i < workers; i++)
        if (spawn_worker(i) < 0)
            return 1;
    evf_log_notice("master %d running %u workers", (int)getpid(), workers);
    ev_run(loop, 0);
    return 0;
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
    if (evf_log_level() >= 0)
        dup2(null, 2);
    if (null > 2)
        close(null);
    return 0;
}

enum {
    OPT_MAX_CONNS = 256, OPT_MAX_REQS, OPT_MAX_BODY, OPT_MAX_PARAMS,
    OPT_DEADLINE, OPT_GRACE, OPT_STACK, OPT_LOG_LEVEL, OPT_LOG, OPT_QUEUE,
    OPT_SLOW
};

int
evf_main(int argc, char **argv, const evf_app *builtin)
{
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "app", required_argument, NULL, 'a' },
        { "app-option", required_argument, NULL, 'o' },
        { "workers", required_argument, NULL, 'w' },
        { "threads", required_argument, NULL, 'T' },
        { "config", required_argument, NULL, 'c' },
        { "socket-mode", required_argument, NULL, 'm' },
        { "backlog", required_argument, NULL, 'b' },
        { "pid-file", required_argument, NULL, 'p' },
        { "test", no_argument, NULL, 't' },
        { "daemonize", no_argument, NULL, 'd' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { "max-conns", required_argument, NULL, OPT_MAX_CONNS },
        { "max-reqs", required_argument, NULL, OPT_MAX_REQS },
        { "max-body", required_argument, NULL, OPT_MAX_BODY },
        { "max-params", required_argument, NULL, OPT_MAX_PARAMS },
        { "deadline", required_argument, NULL, OPT_DEADLINE },
        { "grace", required_argument, NULL, OPT_GRACE },
        { "stack-size", required_argument, NULL, OPT_STACK },
        { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
        { "log", required_argument, NULL, OPT_LOG },
        { "queue", required_argument, NULL, OPT_QUEUE },
        { "slow-callback-ms", required_argument, NULL, OPT_SLOW },
        { NULL, 0, NULL, 0 },
    };
    opts_t o = { .workers = 1, .mode = 0660, .grace = 30 };
    const char *apps[64];
    size_t napps = 0;
    int backlog = -1;
    unsigned long v;
    int c;

    signal(SIGPIPE, SIG_IGN);
    while ((c = getopt_long(argc, argv, "l:a:o:w:T:c:m:b:p:tdVh", longopts,
                            NULL)) != -1) {
        switch (c) {
        case 'l':
            if (o.nlisten == MAX_LISTEN) {
                fprintf(stderr, "evfcgid: at most %d listen addresses\n",
                        MAX_LISTEN);
                return 2;
            }
            o.listen[o.nlisten++] = optarg;
            break;
        case 'a':
            if (napps == sizeof(apps) / sizeof(apps[0])) {
                fprintf(stderr, "evfcgid: too many apps\n");
                return 2;
            }
            apps[napps++] = optarg;
            break;
        case 'o': {
            char *colon = strchr(optarg, ':');
            char *eq = colon ? strchr(colon, '=') : NULL;
            if (!colon || !eq || colon == optarg || eq == colon + 1) {
                fprintf(stderr, "evfcgid: -o wants APP:KEY=VALUE, got '%s'\n",
                        optarg);
                return 2;
            }
            *colon = *eq = '\0';
            evf_app_set_option(optarg, colon + 1, eq + 1);
            break;
        }
        case 'w':
            if (parse_uint(optarg, MAX_WORKERS, &v) || v == 0) {
                fprintf(stderr, "evfcgid: -w wants 1..%d\n", MAX_WORKERS);
                return 2;
            }
            o.workers = (unsigned)v;
            break;
        case 'T':
            if (parse_uint(optarg, 4096, &v) || v == 0) {
                fprintf(stderr, "evfcgid: -T wants 1..4096\n");
                return 2;
            }
            evf_settings.pool_threads = (unsigned)v;
            break;
        case 'c':
            fprintf(stderr, "evfcgid: configuration files are not supported "
                    "yet; use the command-line options (evfcgid -h)\n");
            return 2;
        case 'm':
            if (parse_uint(optarg, 07777, &v)) {
                fprintf(stderr, "evfcgid: -m wants an octal mode\n");
                return 2;
            }
            o.mode = (unsigned)v;
            break;
        case 'b':
            if (parse_uint(optarg, 1 << 20, &v) || v == 0) {
                fprintf(stderr, "evfcgid: -b wants a positive number\n");
                return 2;
            }
            backlog = (int)v;
            break;
        case 'p':
            o.pidfile = optarg;
            break;
        case 't':
            o.test = true;
            break;
        case 'd':
            o.detach = true;
            break;
        case 'V':
            printf("evfcgid %s\n", PACKAGE_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_MAX_CONNS:
        case OPT_MAX_REQS:
            if (parse_uint(optarg, c == OPT_MAX_REQS ? 65535 : 1000000, &v) ||
                v == 0) {
                fprintf(stderr, "evfcgid: bad number '%s'\n", optarg);
                return 2;
            }
            if (c == OPT_MAX_CONNS)
                evf_settings.max_conns = (unsigned)v;
            else
                evf_settings.max_reqs_per_conn = (unsigned)v;
            break;
        case OPT_MAX_BODY:
        case OPT_MAX_PARAMS:
            if (parse_uint(optarg, (unsigned long)1 << 40, &v)) {
                fprintf(stderr, "evfcgid: bad size '%s'\n", optarg);
                return 2;
            }
            if (c == OPT_MAX_BODY)
                evf_settings.max_body = v;
            else
                evf_settings.max_params = v;
            break;
        case OPT_DEADLINE:
        case OPT_GRACE: {
            double d;
            if (parse_seconds(optarg, &d)) {
                fprintf(stderr, "evfcgid: bad number of seconds '%s'\n",
                        optarg);
                return 2;
            }
            if (c == OPT_DEADLINE)
                evf_settings.request_deadline = d;
            else
                o.grace = d;
            break;
        }
        case OPT_QUEUE:
            if (parse_uint(optarg, 1000000, &v)) {
                fprintf(stderr, "evfcgid: --queue wants 0..1000000\n");
                return 2;
            }
            evf_settings.pool_queue = (unsigned)v;
            break;
        case OPT_SLOW:
            if (parse_uint(optarg, 3600000, &v)) {
                fprintf(stderr, "evfcgid: --slow-callback-ms wants a "
                        "number of milliseconds\n");
                return 2;
            }
            evf_settings.slow_callback = (double)v / 1000;
            break;
        case OPT_STACK:
            if (parse_uint(optarg, 65536, &v) || v < 16) {
                fprintf(stderr, "evfcgid: --stack-size wants 16..65536 "
                        "(KiB)\n");
                return 2;
            }
            evf_coro_set_stack_size(v * 1024);
            break;
        case OPT_LOG_LEVEL: {
            int l = evf_log_parse_level(optarg);
            if (l < 0) {
                fprintf(stderr, "evfcgid: unknown log level '%s'\n", optarg);
                return 2;
            }
            evf_log_set_level(l);
            break;
        }
        case OPT_LOG: {
            int rc = evf_log_open(optarg);
            if (rc < 0) {
                fprintf(stderr, "evfcgid: cannot open log %s: %s\n", optarg,
                        strerror(-rc));
                return 2;
            }
            break;
        }
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "evfcgid: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    evf_settings.backlog = backlog > 0 ? backlog : system_backlog();

    int rc = 0;
    if (builtin && evf_app_register(builtin, "built-in") < 0)
        rc = 1;
    for (size_t i = 0; i < napps && !rc; i++)
        if (evf_app_load(apps[i]) < 0)
            rc = 1;
    if (!rc && !evf_apps_router()) {
        evf_log_error("no app to serve: load one with -a APP.so");
        rc = 1;
    }
    if (rc || o.test) {
        if (!rc)
            printf("evfcgid: configuration and apps are valid\n");
        evf_apps_free();
        return rc;
    }

    int fds[MAX_LISTEN];
    size_t nfds = 0;
    char err[256];
    for (size_t i = 0; i < o.nlisten; i++) {
        int fd = evf_listen(o.listen[i], evf_settings.backlog, o.mode, err,
                            sizeof(err));
        if (fd < 0) {
            evf_log_error("%s", err);
            evf_apps_free();
            return 1;
        }
        fds[nfds++] = fd;
    }
    if (!nfds) {
        if (!evf_listen_inherited()) {
            evf_log_error("nothing to listen on: give -l ADDR, or start "
                          "evfcgid under spawn-fcgi (listening socket on "
                          "fd 0)");
            evf_apps_free();
            return 1;
        }
        fds[nfds++] = 0;
    }
    raise_nofile();
    if (evf_http_global_init() < 0) {
        evf_log_error("cannot initialise libcurl");
        return 1;
    }
    if (o.detach && detach(fds, nfds) < 0) {
        evf_log_error("cannot detach: %s", strerror(errno));
        return 1;
    }
    if (o.pidfile && write_pidfile(o.pidfile) < 0)
        return 1;
    for (size_t i = 0; i < o.nlisten; i++)
        evf_log_notice("listening on %s", o.listen[i]);
    if (!o.nlisten)
        evf_log_notice("listening on the socket inherited on fd 0");

    if (o.workers > 1)
        rc = master_run(fds, nfds, o.workers, o.grace);
    else
        rc = worker_run(fds, nfds, o.grace);

    for (size_t i = 0; i < o.nlisten; i++)
        if (strncmp(o.listen[i], "unix:", 5) == 0)
            unlink(o.listen[i] + 5);
    if (o.pidfile)
        unlink(o.pidfile);
    evf_apps_free();
    evf_coro_pool_destroy();
    return rc;
}
