/*
 * master: generations, the master process and reloads (see master.h).
 *
 * DESIGN.  The app registry (app.c) holds one set of apps.  A generation
 * therefore keeps its own dlopen handle and evf_app pointer for each of
 * its apps: while a next generation is built in the registry, the live
 * one's code stays mapped, and putting the live one back registers the
 * same evf_app structures again, without reading any file (a file
 * replaced on disk by a broken one cannot take the running version down).
 * Settings work the same way: a generation's configuration is parsed into
 * a staging evf_config_t, applied only when the generation is complete,
 * and the settings as applied are kept to be restored.
 *
 * Workers: slots 1..2N of the shared statistics table (old and new
 * generation side by side during a reload).  A worker tells the master it
 * accepts by writing its pid to the ready pipe.
 */
#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "access.h"
#include "app.h"
#include "builtin.h"
#include "docs.h"
#include "cli.h"
#include "conf.h"
#include "coro.h"
#include "log.h"
#include "master.h"
#include "mem.h"
#include "process.h"
#include "server.h"
#include "settings.h"
#include "stats.h"
#include "worker.h"

/* ---- generations ---------------------------------------------------------- */

typedef struct held_app {
    const evf_app *app;     /* NULL: could not be held */
    void *dl;
} held_app_t;

struct evf_gen {
    evf_config_t conf;
    evf_settings_t settings;
    const evf_app *builtin;
    held_app_t held[EVF_CONF_MAX_APPS];
};

const evf_config_t *
evf_gen_conf(const evf_gen_t *g)
{
    return &g->conf;
}

/* The path as app.c opens it: a bare file name means the file here. */
static const char *
app_path(const char *path, char *buf, size_t len)
{
    if (!strchr(path, '/') && access(path, F_OK) == 0) {
        snprintf(buf, len, "./%s", path);
        return buf;
    }
    return path;
}

/* Take our own reference on each app the registry loaded for g. */
static void
hold_apps(evf_gen_t *g)
{
    char buf[4096];
    for (size_t i = 0; i < g->conf.napps; i++) {
        const char *p = app_path(g->conf.apps[i].path, buf, sizeof(buf));
        void *dl = dlopen(p, RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
        const evf_app *app = dl ? dlsym(dl, EVF_APP_SYMBOL) : NULL;
        if (!app) {
            evf_log_warn("app %s: cannot hold it for a failed reload to "
                         "fall back on", p);
            if (dl)
                dlclose(dl);
            continue;
        }
        g->held[i] = (held_app_t){ app, dl };
    }
}

/* Fill the (empty) registry with g's apps.  0, or -1 with err. */
static int
register_apps(evf_gen_t *g, bool from_memory, char *err, size_t errlen)
{
    const evf_config_t *c = &g->conf;
    for (size_t i = 0; i < c->nopts; i++)
        if (evf_app_set_option(c->opts[i].app, c->opts[i].key,
                               c->opts[i].value) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
    if (evf_builtin_register(c->ping_path, c->ping_response,
                             c->status_path) < 0) {
        snprintf(err, errlen, "the ping or status page is refused (see "
                 "above)");
        return -1;
    }
    if (g->builtin && evf_app_register(g->builtin, "built-in") < 0) {
        snprintf(err, errlen, "the built-in app is refused (see above)");
        return -1;
    }
    for (size_t i = 0; i < c->napps; i++) {
        const evf_conf_app_t *a = &c->apps[i];
        int rc;
        if (from_memory && g->held[i].app)
            rc = evf_app_register(g->held[i].app, a->path);
        else
            rc = evf_app_load(a->path, a->name);
        if (rc == 0)
            continue;
        if (a->line)
            snprintf(err, errlen, "%s:%d: [app %s]: cannot load %s (see "
                     "above)", c->path, a->line, a->name, a->path);
        else
            snprintf(err, errlen, "-a %s: cannot load the app (see above)",
                     a->path);
        return -1;
    }
    evf_docs_conf_t docs = {
        .openapi_url = c->openapi_url, .docs_url = c->docs_url,
        .redoc_url = c->redoc_url, .assets_url = c->docs_assets_url,
        .root_path = c->root_path,
    };
    if (evf_docs_register(&docs) < 0) {
        snprintf(err, errlen, "the OpenAPI pages are refused (see above)");
        return -1;
    }
    if (!g->builtin && !c->napps) {
        snprintf(err, errlen, "no app to serve: load one with -a APP.so or "
                 "an [app NAME] section");
        return -1;
    }
    return 0;
}

/*
 * The TCP clients allowed: the configuration's allowed_clients when it
 * sets one (even empty: any), else libfcgi's FCGI_WEB_SERVER_ADDRS.
 */
static const char *
allowed_of(const evf_config_t *c, const char **what)
{
    const char *env = getenv("FCGI_WEB_SERVER_ADDRS");
    *what = c->allowed_clients ? "allowed_clients" : "FCGI_WEB_SERVER_ADDRS";
    return c->allowed_clients ? c->allowed_clients : env;
}

evf_gen_t *
evf_gen_build(evf_config_t *conf, const evf_app *builtin, char *err,
              size_t errlen)
{
    evf_gen_t *g = evf_calloc(1, sizeof(*g));
    evf_apps_free();
    if (!g) {
        evf_config_free(conf);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->conf = *conf;
    memset(conf, 0, sizeof(*conf));
    g->builtin = builtin;
    const char *what, *list = allowed_of(&g->conf, &what);
    char aerr[256];
    if (evf_server_allow_check(list, aerr, sizeof(aerr)) < 0) {
        snprintf(err, errlen, "%s: %s", what, aerr);
        evf_gen_free(g);
        return NULL;
    }
    if (register_apps(g, false, err, errlen) < 0) {
        evf_apps_free();
        evf_gen_free(g);
        return NULL;
    }
    hold_apps(g);
    return g;
}

void
evf_gen_apply(evf_gen_t *g)
{
    const char *what;
    evf_config_apply(&g->conf);
    evf_process_limit_conns();
    g->settings = evf_settings;
    /* Checked by evf_gen_build: cannot fail. */
    evf_server_allow(allowed_of(&g->conf, &what), NULL, 0);
}

int
evf_gen_restore(evf_gen_t *g)
{
    char err[512];
    evf_apps_free();
    int rc = register_apps(g, true, err, sizeof(err));
    if (rc < 0)
        evf_log_error("cannot restore the running apps: %s", err);
    evf_settings = g->settings;
    const char *what;
    evf_server_allow(allowed_of(&g->conf, &what), NULL, 0);
    evf_log_set_level(g->conf.log_level);
    evf_coro_set_stack_size(g->conf.stack_size);
    return rc;
}

void
evf_gen_free(evf_gen_t *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < EVF_CONF_MAX_APPS; i++)
        if (g->held[i].dl)
            dlclose(g->held[i].dl);
    evf_config_free(&g->conf);
    evf_free(g);
}

/* ---- the master ------------------------------------------------------------ */

#define MAX_WORKERS 256
#define NSIGS 5

typedef struct kid {
    pid_t pid;              /* 0: slot free */
    unsigned gen;
    bool ready;
    bool retiring;
    ev_tstamp started;
} kid_t;

static struct {
    kid_t kids[2 * MAX_WORKERS + 1];    /* index = stats slot; 0 unused */
    unsigned nslots;
    unsigned workers;
    unsigned gen;
    bool booting;           /* first generation not ready yet */
    bool stopping;
    int exit_code;
    unsigned quick_deaths;
    int ready_pipe[2];
    ev_io ready_io;
    ev_child child;
    ev_signal sig[NSIGS];
    ev_timer respawn;
    const int *fds;
    size_t nfds;
    evf_gen_t **live;       /* what workers are forked from */
    evf_gen_t *next;        /* a reload's, until its workers are ready */
    unsigned live_workers;  /* the live generation's, to fall back to */
    int argc;
    char **argv;
    const evf_app *builtin;
} m;

static void
master_close_watchers(void)
{
    struct ev_loop *loop = EV_DEFAULT;
    for (int i = 0; i < NSIGS; i++)
        ev_signal_stop(loop, &m.sig[i]);
    ev_child_stop(loop, &m.child);
    ev_timer_stop(loop, &m.respawn);
    ev_io_stop(loop, &m.ready_io);
}

static int
spawn_worker(unsigned slot)
{
    pid_t master = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        evf_log_error("fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /*
         * A worker left behind by a master killed outright would keep the
         * listeners (a restart fails with "Address already in use"): the
         * master's death is a graceful stop.  The check after catches a
         * master that died before the request took effect.
         */
        if (prctl(PR_SET_PDEATHSIG, SIGQUIT) < 0 || getppid() != master)
            _exit(0);
        ev_loop_fork(EV_DEFAULT);
        master_close_watchers();
        close(m.ready_pipe[0]);
        evf_stats_use_slot(slot, m.gen);
        if (evf_process_become_user() < 0)
            _exit(1);
        const evf_config_t *c = evf_gen_conf(m.next ? m.next : *m.live);
        _exit(evf_worker_run(m.fds, m.nfds, c->grace, m.ready_pipe[1]));
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

/* The workers a configuration asks for, within the slots we have. */
static unsigned
workers_of(const evf_config_t *c)
{
    unsigned max = (m.nslots - 1) / 2;
    if (c->set.workers > max) {
        evf_log_warn("reload: workers can grow to %u without a restart",
                     max);
        return max;
    }
    return c->set.workers ? c->set.workers : m.workers;
}

static void
reload_failed(const char *why)
{
    evf_log_error("reload failed: %s; the running configuration and apps "
                  "keep serving", why);
    evf_stats_set_reload(ev_time(), false, why);
}

/* A reload's new workers are all ready: the next generation goes live. */
static void
reload_done(void)
{
    evf_gen_free(*m.live);
    *m.live = m.next;
    m.next = NULL;
    m.live_workers = m.workers;
    evf_stats_set_reload(ev_time(), true, NULL);
    /* The new generation accepts: the old one finishes and goes. */
    signal_kids(SIGQUIT, true);
    evf_log_notice("reload: %u new workers ready; old workers stop "
                   "gracefully", m.workers);
}

/* A reload's new worker died before it was ready: put the live one back. */
static void
reload_abandon(void)
{
    evf_gen_restore(*m.live);
    evf_gen_free(m.next);
    m.next = NULL;
    unsigned gen = m.gen--;
    m.workers = m.live_workers;
    for (unsigned j = 1; j < m.nslots; j++)
        if (m.kids[j].pid && m.kids[j].gen == gen) {
            m.kids[j].retiring = true;
            kill(m.kids[j].pid, SIGTERM);
        }
    reload_failed("a new worker exited before it was ready (see above)");
    fill();
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
    if (m.next)
        reload_done();
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
        if (m.next) {
            reload_abandon();
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

/*
 * SIGHUP: build the next generation beside the live one.  Nothing the
 * live one uses changes unless the whole file parsed and every app
 * loaded; then its workers start, and reload_done() switches once they
 * are all ready.
 */
static void
reload(void)
{
    evf_config_t conf;
    char err[512];
    bool test = false;
    evf_log_notice("reload: reading the configuration and apps again");
    int rc = evf_cli_read(m.argc, m.argv, &conf, &test, err, sizeof(err));
    if (rc != EVF_CLI_RUN) {
        reload_failed(rc == EVF_CLI_ERROR ? err : "the command line asks "
                      "for no server");
        return;
    }
    evf_gen_t *g = evf_gen_build(&conf, m.builtin, err, sizeof(err));
    if (!g) {
        evf_gen_restore(*m.live);
        reload_failed(err);
        return;
    }
    evf_gen_apply(g);
    m.next = g;
    m.workers = workers_of(evf_gen_conf(g));
    m.gen++;
    fill();
}

static void
master_signal_cb(struct ev_loop *loop, ev_signal *s, int revents)
{
    (void)revents;
    switch (s->signum) {
    case SIGHUP:
        if (m.next || m.booting) {
            evf_log_warn("SIGHUP: a start or reload is under way; ignored");
            return;
        }
        reload();
        return;
    case SIGUSR1:
        /* As root: new files are created here, given to the workers'
         * user, then the workers reopen them. */
        evf_process_reopen_logs();
        evf_process_give_logs(evf_gen_conf(*m.live));
        signal_kids(SIGUSR1, false);
        return;
    default:
        m.stopping = true;
        signal_kids(s->signum == SIGQUIT ? SIGQUIT : SIGTERM, false);
        if (!any_kid())
            ev_break(loop, EVBREAK_ALL);
    }
}

int
evf_master_run(evf_gen_t **live, const int *fds, size_t nfds, int argc,
               char **argv, const evf_app *builtin)
{
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    static const int sigs[NSIGS] = { SIGTERM, SIGINT, SIGQUIT, SIGHUP,
                                     SIGUSR1 };
    unsigned workers = evf_gen_conf(*live)->set.workers;
    if (!loop) {
        evf_log_error("cannot initialise libev");
        return 1;
    }
    m.fds = fds;
    m.nfds = nfds;
    m.live = live;
    m.argc = argc;
    m.argv = argv;
    m.builtin = builtin;
    m.workers = m.live_workers = workers;
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
    for (int i = 0; i < NSIGS; i++) {
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
    if (m.next) {
        /* Stopped during a reload: the live generation is the one to
         * clean up after. */
        evf_gen_restore(*m.live);
        evf_gen_free(m.next);
        m.next = NULL;
    }
    return m.exit_code;
}
