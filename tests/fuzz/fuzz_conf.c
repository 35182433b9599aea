/*
 * fuzz_conf: libFuzzer harness for the configuration parser (src/conf.c).
 *
 * Each input is an evfcgid.conf file.  It is written to an anonymous
 * in-memory file (memfd) and read with evf_config_load() through its
 * /proc/self/fd path, the way the daemon reads -c FILE, into a fresh
 * evf_config_t at its defaults.  Then, whether the load succeeded or not:
 *
 *  - the error message is a NUL-terminated string naming the file;
 *  - the live settings (evf_settings, the log level) are untouched:
 *    reading has no side effects;
 *  - on success, every directive is within its documented bounds (the
 *    rows' min and max, restated here from evfcgid.conf(5)), at most
 *    EVF_CONF_MAX_LISTEN listen addresses and EVF_CONF_MAX_APPS apps, each
 *    app with a path, each option naming an app of the file;
 *  - on success, evf_config_apply() is run and must copy the numbers to
 *    evf_settings and point the string settings into the config; the
 *    live settings are then restored;
 *  - the same file is loaded a second time on top (as a reload reads
 *    beside the running one), and the config freed: LeakSanitizer checks
 *    every string it took.
 *
 * Lines of the form "name=value" in the input's first line starting with
 * "#!set " are also given to evf_config_set(), as the command line's long
 * options are (the rest of that line after "#!set ").
 *
 * Built with -fsanitize=fuzzer for fuzzing; tests/fuzz/replay.c supplies a
 * main() that replays corpus-conf/ without libFuzzer (make check).
 */
#define _GNU_SOURCE
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "conf.h"
#include "log.h"
#include "settings.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) \
    do { \
        if (!(cond)) \
            fail(__FILE__, __LINE__, #cond); \
    } while (0)

static void fail(const char *file, int line, const char *what)
    __attribute__((noreturn));

static void
fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
    abort();
}

static int memfd = -1;
static char path[64];

/* Put the input in the in-memory file, as it is. */
static void
write_file(const uint8_t *data, size_t size)
{
    if (memfd < 0) {
        memfd = memfd_create("fuzz_conf", 0);
        if (memfd < 0) {
            perror("fuzz_conf: memfd_create");
            abort();
        }
        snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
    }
    if (ftruncate(memfd, 0) < 0)
        abort();
    size_t off = 0;
    while (off < size) {
        ssize_t n = pwrite(memfd, data + off, size - off, (off_t)off);
        if (n <= 0)
            abort();
        off += (size_t)n;
    }
}

/* The error is a terminated string within its buffer. */
static void
check_err(const char *err, size_t len)
{
    CHECK(memchr(err, '\0', len) != NULL);
}

#define IN(x, lo, hi) ((x) >= (lo) && (x) <= (hi))

/* A config that loaded: every value within its row's bounds. */
static void
check_bounds(const evf_config_t *c)
{
    const evf_settings_t *s = &c->set;

    CHECK(c->nlisten <= EVF_CONF_MAX_LISTEN);
    for (size_t i = 0; i < c->nlisten; i++)
        CHECK(c->listen[i] && c->listen[i][0]);
    CHECK(c->listen_mode <= 07777);
    CHECK(IN(s->backlog, 0, 1 << 20));
    CHECK(s->workers <= 256);
    CHECK(IN(s->pool_threads, 1, 4096));
    CHECK(s->pool_queue <= 1000000);
    CHECK(IN(s->max_conns, 1, 1000000));
    CHECK(IN(s->max_reqs_per_conn, 1, 65535));
    CHECK(IN(s->max_params, 1024, (size_t)1 << 30));
    CHECK(s->max_body <= (size_t)1 << 40);
    CHECK(IN(s->request_deadline, 0, 1e7));
    CHECK(IN(c->grace, 0, 1e7));
    CHECK(IN(s->slow_callback, 0, 3600));
    CHECK(IN(c->stack_size, 16384, (size_t)1 << 26));
    CHECK(evf_log_level_name(c->log_level) != NULL);
    CHECK(c->rlimit_files <= 1000000000UL);
    CHECK(c->log && c->access_log && c->ping_response);
    CHECK(c->napps <= EVF_CONF_MAX_APPS);
    for (size_t i = 0; i < c->napps; i++)
        CHECK(c->apps[i].name && c->apps[i].path);
    for (size_t i = 0; i < c->nopts; i++) {
        bool found = false;
        CHECK(c->opts[i].app && c->opts[i].key && c->opts[i].value);
        for (size_t j = 0; j < c->napps; j++)
            if (strcmp(c->apps[j].name, c->opts[i].app) == 0)
                found = true;
        CHECK(found);
        CHECK(strcmp(c->opts[i].key, "path") != 0);
    }
    CHECK(c->path && strcmp(c->path, path) == 0);
}

/* Make c live, check what went live, put the live settings back. */
static void
check_apply(const evf_config_t *c)
{
    evf_settings_t saved = evf_settings;
    int level = evf_log_level();

    evf_config_apply(c);
    CHECK(evf_settings.workers == c->set.workers);
    CHECK(evf_settings.pool_threads == c->set.pool_threads);
    CHECK(evf_settings.max_conns == c->set.max_conns);
    CHECK(evf_settings.max_reqs_per_conn == c->set.max_reqs_per_conn);
    CHECK(evf_settings.max_params == c->set.max_params);
    CHECK(evf_settings.max_body == c->set.max_body);
    CHECK(evf_settings.backlog > 0);
    CHECK(!c->set.backlog || evf_settings.backlog == c->set.backlog);
    CHECK(evf_settings.status_path == c->status_path);
    CHECK(evf_settings.ping_path == c->ping_path);
    CHECK(evf_settings.ping_response == c->ping_response);
    CHECK(evf_log_level() == c->log_level);
    evf_settings = saved;
    evf_log_set_level(level);
}

/* "#!set name=value" on the first line: the command line's way in. */
static void
set_line(evf_config_t *c, const uint8_t *data, size_t size)
{
    char line[512], err[256];
    size_t n = 0;

    if (size < 6 || memcmp(data, "#!set ", 6) != 0)
        return;
    for (size_t i = 6; i < size && data[i] != '\n' && n < sizeof(line) - 1;
         i++)
        line[n++] = (char)data[i];
    line[n] = '\0';
    char *eq = strchr(line, '=');
    if (!eq)
        return;
    *eq = '\0';
    memset(err, 0x55, sizeof(err));
    if (evf_config_set(c, line, eq + 1, err, sizeof(err)) < 0)
        check_err(err, sizeof(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    evf_settings_t live = evf_settings;
    int level = evf_log_level();
    evf_config_t c;
    char err[512];

    write_file(data, size);
    CHECK(evf_config_init(&c) == 0);
    CHECK(c.nlisten == 0 && c.napps == 0 && c.nopts == 0);

    set_line(&c, data, size);
    memset(err, 0x55, sizeof(err));
    int rc = evf_config_load(&c, path, err, sizeof(err));
    CHECK(rc == 0 || rc == -1);
    CHECK(memcmp(&live, &evf_settings, sizeof(live)) == 0);
    CHECK(evf_log_level() == level);
    if (rc == 0) {
        check_bounds(&c);
        check_apply(&c);
        /* Read again on top, as the command line and a file combine. */
        memset(err, 0x55, sizeof(err));
        rc = evf_config_load(&c, path, err, sizeof(err));
        if (rc == 0)
            check_bounds(&c);
    }
    if (rc < 0) {
        check_err(err, sizeof(err));
        CHECK(strncmp(err, path, strlen(path)) == 0);
    }
    CHECK(memcmp(&live, &evf_settings, sizeof(live)) == 0);
    evf_config_free(&c);
    return 0;
}
