/*
 * test_conf: the directive rows, the INI reader, the command line, and
 * that reading has no side effects (only evf_config_apply() changes what
 * runs).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "conf.h"
#include "coro.h"
#include "log.h"
#include "settings.h"
#include "unit.h"

static char dir[] = "/tmp/evf-test-conf.XXXXXX";
static char path[256];

/* Write text to the test file; returns its path. */
static const char *
file(const char *text)
{
    FILE *f = fopen(path, "w");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void
test_defaults(void)
{
    evf_config_t c;
    CU_ASSERT_EQUAL_FATAL(evf_config_init(&c), 0);
    CU_ASSERT_EQUAL(c.set.workers, 1);
    CU_ASSERT_EQUAL(c.set.pool_threads, 40);
    CU_ASSERT_EQUAL(c.set.pool_queue, 1024);
    CU_ASSERT_EQUAL(c.set.max_conns, 10000);
    CU_ASSERT_EQUAL(c.set.max_reqs_per_conn, 16384);
    CU_ASSERT_EQUAL(c.set.max_params, 256 * 1024);
    CU_ASSERT_EQUAL(c.set.max_body, 64 * 1024 * 1024);
    CU_ASSERT_EQUAL(c.set.max_requests, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.set.slow_callback, 0.100, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(c.set.request_deadline, 0, 0);
    CU_ASSERT_DOUBLE_EQUAL(c.grace, 30, 0);
    CU_ASSERT_EQUAL(c.listen_mode, 0660);
    CU_ASSERT_EQUAL(c.stack_size, 64 * 1024);
    CU_ASSERT_EQUAL(c.log_level, EVF_LOG_LVL_NOTICE);
    CU_ASSERT_STRING_EQUAL(c.log, "stderr");
    CU_ASSERT_STRING_EQUAL(c.access_log, "off");
    CU_ASSERT_STRING_EQUAL(c.ping_response, "pong");
    CU_ASSERT_PTR_NULL(c.status_path);
    CU_ASSERT_PTR_NULL(c.pid_file);
    CU_ASSERT_EQUAL(c.nlisten, 0);
    evf_config_free(&c);
    /* The process's settings start at the same defaults (the rows'). */
    CU_ASSERT_EQUAL(evf_settings.pool_threads, 40);
    CU_ASSERT_EQUAL(evf_settings.max_params, 256 * 1024);
    CU_ASSERT_EQUAL(evf_settings.max_body, 64 * 1024 * 1024);
    CU_ASSERT_EQUAL(evf_settings.max_conns, 10000);
    CU_ASSERT_DOUBLE_EQUAL(evf_settings.slow_callback, 0.100, 1e-9);
}

/* The listing shows the rows' real defaults, as the file writes them. */
static void
test_listing(void)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    evf_config_list(f);
    fclose(f);
    const char *want[] = { "\nmax_params             256k ",
                           "\nmax_body               64m ",
                           "\nstack_size             64k ",
                           "\nthreads                40 ",
                           "\nslow_callback_ms       100 ",
                           "\nlisten.mode            0660 ",
                           "\nlog_level              notice ",
                           "\ngrace                  30 ",
                           "\nping_response          pong " };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        if (!strstr(buf, want[i])) {
            printf("\nmissing in --directives: '%s'\n", want[i] + 1);
            CU_FAIL("a default is not listed as the row gives it");
        }
    CU_ASSERT_EQUAL(evf_config_count() >= 29, true);
    free(buf);
}

/* set NAME VALUE: expect 0 (err NULL) or -1 with err as a prefix. */
static void
expect_set(evf_config_t *c, const char *name, const char *value,
           const char *want_err)
{
    char err[256] = "";
    int rc = evf_config_set(c, name, value, err, sizeof(err));
    if (!want_err) {
        if (rc != 0)
            printf("\n%s = %s refused: %s\n", name, value, err);
        CU_ASSERT_EQUAL(rc, 0);
        return;
    }
    CU_ASSERT_EQUAL(rc, -1);
    if (strncmp(err, want_err, strlen(want_err)) != 0) {
        printf("\n%s = %s: got '%s', want '%s...'\n", name, value, err,
               want_err);
        CU_FAIL("error message");
    }
}

static void
test_bounds_and_types(void)
{
    evf_config_t c;
    CU_ASSERT_EQUAL_FATAL(evf_config_init(&c), 0);
    expect_set(&c, "workers", "256", NULL);
    CU_ASSERT_EQUAL(c.set.workers, 256);
    expect_set(&c, "workers", "257",
               "workers: '257' is not a number between 0 and 256");
    expect_set(&c, "workers", "two", "workers: 'two' is not a number");
    expect_set(&c, "workers", "1.5", "workers: '1.5' is not a number");
    expect_set(&c, "workers", "-1", "workers: '-1' is not a number");
    expect_set(&c, "threads", "0", "threads: '0' is not a number between 1");
    expect_set(&c, "max_params", "1k", NULL);
    CU_ASSERT_EQUAL(c.set.max_params, 1024);
    expect_set(&c, "max_params", "1023", "max_params: '1023' is not");
    expect_set(&c, "max_body", "2g", NULL);
    CU_ASSERT_EQUAL(c.set.max_body, 2ULL << 30);
    expect_set(&c, "max_body", "10x", "max_body: '10x' is not");
    expect_set(&c, "slow_callback_ms", "50", NULL);
    CU_ASSERT_DOUBLE_EQUAL(c.set.slow_callback, 0.050, 1e-9);
    expect_set(&c, "request_deadline", "0.25", NULL);
    CU_ASSERT_DOUBLE_EQUAL(c.set.request_deadline, 0.25, 1e-12);
    expect_set(&c, "request_deadline", "soon", "request_deadline: 'soon'");
    expect_set(&c, "stack_size", "1m", NULL);
    CU_ASSERT_EQUAL(c.stack_size, 1 << 20);
    expect_set(&c, "stack_size", "2", "stack_size: '2' is not");
    expect_set(&c, "log_level", "debug", NULL);
    CU_ASSERT_EQUAL(c.log_level, EVF_LOG_LVL_DEBUG);
    expect_set(&c, "log_level", "loud", "log_level: 'loud' is not one of");
    expect_set(&c, "listen.mode", "0600", NULL);
    CU_ASSERT_EQUAL(c.listen_mode, 0600);
    expect_set(&c, "listen.mode", "999", "listen.mode: '999' is not an octal");
    expect_set(&c, "listen", "", "listen wants an address");
    expect_set(&c, "listen", "127.0.0.1:9000", NULL);
    CU_ASSERT_EQUAL(c.nlisten, 1);
    expect_set(&c, "ping_response", "ok", NULL);
    CU_ASSERT_STRING_EQUAL(c.ping_response, "ok");
    expect_set(&c, "no_such", "1", "unknown directive 'no_such'");
    evf_config_free(&c);
}

/* load TEXT: expect 0 (want NULL) or -1 with "path" + want as err. */
static void
expect_load(const char *text, const char *want)
{
    evf_config_t c;
    char err[512] = "", full[512];
    CU_ASSERT_EQUAL_FATAL(evf_config_init(&c), 0);
    int rc = evf_config_load(&c, file(text), err, sizeof(err));
    if (!want) {
        if (rc)
            printf("\nrefused: %s\n", err);
        CU_ASSERT_EQUAL(rc, 0);
    } else {
        snprintf(full, sizeof(full), "%s%s", path, want);
        CU_ASSERT_EQUAL(rc, -1);
        if (strncmp(err, full, strlen(full)) != 0) {
            printf("\ngot '%s', want '%s...'\n", err, full);
            CU_FAIL("file:line: message");
        }
    }
    evf_config_free(&c);
}

static void
test_file_errors(void)
{
    expect_load("[evfcgid]\nworkers = 2\n", NULL);
    expect_load("[evfcgid]\n; a comment\nworkers = two\n",
                ":3: workers: 'two' is not a number");
    expect_load("[evfcgid]\nworkers = 2\n\nno_such_directive = 1\n",
                ":4: unknown directive 'no_such_directive'");
    expect_load("[evfcgid]\nlog_level = loud\n",
                ":2: log_level: 'loud' is not one of");
    expect_load("[other]\nx = 1\n", ":2: unknown section [other]");
    expect_load("[evfcgid]\nthis is not a directive\n", ":2: syntax error");
    expect_load("[app demo]\ncolor = blue\n", ": [app demo] has no path");
    evf_config_t c;
    char err[256];
    evf_config_init(&c);
    CU_ASSERT_EQUAL(evf_config_load(&c, "/nonexistent/evfcgid.conf", err,
                                    sizeof(err)), -1);
    CU_ASSERT_STRING_EQUAL(err, "/nonexistent/evfcgid.conf: cannot open: "
                                "No such file or directory");
    evf_config_free(&c);
}

static void
test_apps_and_options(void)
{
    evf_config_t c;
    char err[256];
    evf_config_init(&c);
    int rc = evf_config_load(&c, file("[evfcgid]\nworkers = 1\n\n"
                                      "[app demo]\ncolor = blue\n"
                                      "path = /x/demo.so\n"
                                      "[app other]\n  path = other.so\n"),
                             err, sizeof(err));
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL_FATAL(c.napps, 2);
    CU_ASSERT_STRING_EQUAL(c.apps[0].name, "demo");
    CU_ASSERT_STRING_EQUAL(c.apps[0].path, "/x/demo.so");
    CU_ASSERT_EQUAL(c.apps[0].line, 6);
    CU_ASSERT_STRING_EQUAL(c.apps[1].path, "other.so");
    CU_ASSERT_EQUAL(c.apps[1].line, 8);
    CU_ASSERT_EQUAL_FATAL(c.nopts, 1);
    CU_ASSERT_STRING_EQUAL(c.opts[0].app, "demo");
    CU_ASSERT_STRING_EQUAL(c.opts[0].key, "color");
    CU_ASSERT_STRING_EQUAL(c.opts[0].value, "blue");
    CU_ASSERT_STRING_EQUAL(c.path, path);
    evf_config_free(&c);
}

/*
 * Reading, even a file that parses, changes nothing that runs: not the
 * log level, the stack size or evf_settings.  Only evf_config_apply()
 * does; and a file that fails half-way leaves everything as it was.
 */
static void
test_no_side_effects(void)
{
    evf_settings_t before = evf_settings;
    int level = evf_log_level();
    size_t stack = evf_coro_stack_size();
    const char *good = "[evfcgid]\nlog_level = debug\nstack_size = 1m\n"
                       "threads = 7\nmax_body = 1k\nstatus_path = /s\n"
                       "[app demo]\npath = /x/demo.so\nk = v\n";
    const char *bad = "[evfcgid]\nlog_level = debug\nstack_size = 1m\n"
                      "threads = 7\nworkers = two\n";
    evf_config_t c;
    char err[256];

    evf_config_init(&c);
    CU_ASSERT_EQUAL(evf_config_load(&c, file(bad), err, sizeof(err)), -1);
    evf_config_free(&c);
    CU_ASSERT_EQUAL(evf_log_level(), level);
    CU_ASSERT_EQUAL(evf_coro_stack_size(), stack);
    CU_ASSERT_EQUAL(memcmp(&evf_settings, &before, sizeof(before)), 0);

    evf_config_init(&c);
    CU_ASSERT_EQUAL(evf_config_load(&c, file(good), err, sizeof(err)), 0);
    CU_ASSERT_EQUAL(evf_log_level(), level);
    CU_ASSERT_EQUAL(evf_coro_stack_size(), stack);
    CU_ASSERT_EQUAL(memcmp(&evf_settings, &before, sizeof(before)), 0);

    /* The apply step makes it live. */
    evf_config_apply(&c);
    CU_ASSERT_EQUAL(evf_log_level(), EVF_LOG_LVL_DEBUG);
    CU_ASSERT_EQUAL(evf_coro_stack_size(), 1 << 20);
    CU_ASSERT_EQUAL(evf_settings.pool_threads, 7);
    CU_ASSERT_EQUAL(evf_settings.max_body, 1024);
    CU_ASSERT_STRING_EQUAL(evf_settings.status_path, "/s");
    CU_ASSERT_TRUE(evf_settings.backlog > 0);   /* 0: the system's */
    evf_config_free(&c);
    evf_settings = before;
    evf_log_set_level(level);
    evf_coro_set_stack_size(stack);
}

static void
test_command_line(void)
{
    evf_config_t c;
    char err[256];
    bool test = false;
    char *argv[] = { "evfcgid", "-c", path, "-w", "3", "--max-reqs", "5",
                     "--deadline", "2", "--max-requests-per-conn", "6",
                     "-l", "127.0.0.1:1", "--listen", "unix:/x.sock",
                     "-a", "a.so", "-o", "demo:k=v", "-t", "--log-level",
                     "info", NULL };
    int argc = (int)(sizeof(argv) / sizeof(argv[0])) - 1;
    file("[evfcgid]\nlisten = 127.0.0.1:2\nworkers = 2\nthreads = 9\n");
    CU_ASSERT_EQUAL_FATAL(evf_cli_read(argc, argv, &c, &test, err,
                                       sizeof(err)), EVF_CLI_RUN);
    CU_ASSERT_TRUE(test);
    CU_ASSERT_EQUAL(c.set.workers, 3);          /* the command line wins */
    CU_ASSERT_EQUAL(c.set.pool_threads, 9);     /* the file's */
    CU_ASSERT_EQUAL(c.set.max_reqs_per_conn, 6);
    CU_ASSERT_DOUBLE_EQUAL(c.set.request_deadline, 2, 0);
    CU_ASSERT_EQUAL(c.log_level, EVF_LOG_LVL_INFO);
    /* The command line's addresses replace the file's. */
    CU_ASSERT_EQUAL_FATAL(c.nlisten, 2);
    CU_ASSERT_STRING_EQUAL(c.listen[0], "127.0.0.1:1");
    CU_ASSERT_STRING_EQUAL(c.listen[1], "unix:/x.sock");
    CU_ASSERT_EQUAL_FATAL(c.napps, 1);
    CU_ASSERT_STRING_EQUAL(c.apps[0].path, "a.so");
    CU_ASSERT_EQUAL_FATAL(c.nopts, 1);
    CU_ASSERT_STRING_EQUAL(c.opts[0].key, "k");
    evf_config_free(&c);

    char *bad[] = { "evfcgid", "--workers", "lots", NULL };
    CU_ASSERT_EQUAL(evf_cli_read(3, bad, &c, &test, err, sizeof(err)),
                    EVF_CLI_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "workers: 'lots' is not a number"));
    char *unknown[] = { "evfcgid", "--no-such-option", "1", NULL };
    CU_ASSERT_EQUAL(evf_cli_read(3, unknown, &c, &test, err, sizeof(err)),
                    EVF_CLI_ERROR);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unrecognized option"));
    /* Every directive has its long option. */
    char *every[] = { "evfcgid", "--access-log-format", "$status",
                      "--ping-response", "ok", "--listen-owner", "x", NULL };
    CU_ASSERT_EQUAL_FATAL(evf_cli_read(7, every, &c, &test, err,
                                       sizeof(err)), EVF_CLI_RUN);
    CU_ASSERT_STRING_EQUAL(c.access_log_format, "$status");
    CU_ASSERT_STRING_EQUAL(c.ping_response, "ok");
    CU_ASSERT_STRING_EQUAL(c.listen_owner, "x");
    evf_config_free(&c);
}

static int
setup(void)
{
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof(path), "%s/evfcgid.conf", dir);
    return 0;
}

static int
teardown(void)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static CU_TestInfo tests[] = {
    { "defaults come from the rows", test_defaults },
    { "--directives lists the real defaults", test_listing },
    { "bounds and types", test_bounds_and_types },
    { "file errors read file:line: message", test_file_errors },
    { "apps, their options and lines", test_apps_and_options },
    { "reading has no side effects", test_no_side_effects },
    { "the command line", test_command_line },
    CU_TEST_INFO_NULL,
};

int
main(void)
{
    CU_SuiteInfo suites[] = {
        { "conf", setup, teardown, NULL, NULL, tests },
        CU_SUITE_INFO_NULL,
    };
    return unit_run(suites);
}
